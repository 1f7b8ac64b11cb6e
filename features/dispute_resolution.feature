Feature: A practitioner disagrees with the findings of an audit
  From the Quality Assurance, Learning and Development Framework (approved by the Senior Leadership Team
  on 10 October 2023), Section 3, Deep Dive Audit Process and Feedback Loop:

  "If any practitioner involved with the audit disagrees with the findings of the audit, they should first discuss this with the auditor. If the practitioner and auditor cannot find a resolution, the auditor will alert CPP to the dispute. The CPP team will allocate a worker to hold a Restorative Conversation with the practitioner and auditor. If the dispute remains, the HoS for Safeguarding, Practice and Quality Assurance will be alerted."

  Choices where the framework is open (the policy owner can change each one in the dispute resolution process):
  each stage records its outcome, and a stage may leave the grade as it is or change it;
  once alerted, the HoS for Safeguarding, Practice and Quality Assurance decides whether the grade stands, and that decision ends the dispute;
  the framework sets no time limit for any stage, so none is set;
  the Head of Service, Service Manager and Team Manager are told of a Requires Improvement or Inadequate grade as soon as
  the audit is submitted, whether or not the practitioner disputes it, and told again if the dispute changes the grade;
  the follow-up starts when the dispute is settled, using the grade as it then stands; the Head of Service's
  acknowledgement is due by 12 noon on the next working day after that, and the remedial-action and re-audit deadlines
  still count from the date the audit was submitted.

  Rule: The managers are told of the grading at once, even while the practitioner disputes it

    Scenario: An audit graded Inadequate is notified before the practitioner has responded
      Given it is now Tuesday 4 November 2025 at 10:00

      When an audit graded "Inadequate" is submitted on Tuesday 4 November 2025 at 10:00

      Then a notification is sent immediately to the Head of Service, Service Manager and Team Manager
      And the Practitioner is asked to "Respond to the findings of the audit"

    Scenario: A dispute settled days later gives the Head of Service until noon the next working day
      Given an audit graded "Requires Improvement" is submitted on Tuesday 4 November 2025 at 10:00
      And the Practitioner disagrees with the findings because "The family's views were not taken into account"

      When it is now Friday 7 November 2025 at 15:00
      And the Auditor records the outcome "Resolved: the grade stands"

      Then the Head of Service must "Acknowledge the audit grading" by Monday 10 November 2025 at 12:00

  Rule: The practitioner first discusses the findings with the auditor

    Scenario: The practitioner agrees with the findings and there is no dispute
      Given an audit graded "Requires Improvement" is submitted on Tuesday 4 November 2025 at 10:00

      When the Practitioner agrees with the findings

      Then the Auditor is not asked to "Discuss the findings with the practitioner"
      And the Team Manager is asked to "Discuss the audit in supervision with the practitioner"

    Scenario: The dispute is resolved with the auditor and the grade stands
      Given an audit graded "Requires Improvement" is submitted on Tuesday 4 November 2025 at 10:00

      When the Practitioner disagrees with the findings because "The family's views were not taken into account"

      Then the Auditor is asked to "Discuss the findings with the practitioner"

      When the Auditor records the outcome "Resolved: the grade stands"

      Then the dispute is recorded as settled at stage 1 with the outcome "grade stands"
      And the audit grade is "Requires Improvement"
      And CPP is not asked to "Allocate a worker to hold a Restorative Conversation"
      And the Head of Service is asked to "Acknowledge the audit grading"

    Scenario: The dispute is resolved with the auditor and the grade is changed
      Given an audit graded "Requires Improvement" is submitted on Tuesday 4 November 2025 at 10:00

      When the Practitioner disagrees with the findings because "Recent direct work with the child was not on the file at the meeting"
      And the Auditor records the outcome "Resolved: the grade is changed" and the new grade "Good"

      Then the dispute is recorded as settled at stage 1 with the outcome "grade changed"
      And the audit grade is "Good"
      And the Head of Service is not asked to "Acknowledge the audit grading"

  Rule: If they cannot find a resolution, CPP allocates a worker to hold a Restorative Conversation

    Scenario: The dispute is resolved by a Restorative Conversation
      Given an audit graded "Inadequate" is submitted on Tuesday 4 November 2025 at 10:00

      When the Practitioner disagrees with the findings because "The family's views were not taken into account"
      And the Auditor records the outcome "Unresolved"

      Then a notification is sent immediately to CPP
      And CPP is asked to "Allocate a worker to hold a Restorative Conversation"

      When CPP allocates "Sam Patel" to hold the Restorative Conversation

      Then "Sam Patel" is asked to "Hold the Restorative Conversation"

      When "Sam Patel" records the outcome "Resolved: the grade stands"

      Then the dispute is recorded as settled at stage 2 with the outcome "grade stands"
      And the audit grade is "Inadequate"
      And the HoS for Safeguarding, Practice and Quality Assurance is not asked to "Decide whether the grade stands"

  Rule: If the dispute remains, the HoS for Safeguarding, Practice and Quality Assurance is alerted and decides

    Scenario: The dispute goes through all three stages and the grade is changed
      Given an audit graded "Requires Improvement" is submitted on Tuesday 4 November 2025 at 10:00

      When the Practitioner disagrees with the findings because "The family's views were not taken into account"
      And the Auditor records the outcome "Unresolved"
      And CPP allocates "Sam Patel" to hold the Restorative Conversation
      And "Sam Patel" records the outcome "Unresolved"

      Then a notification is sent immediately to the HoS for Safeguarding, Practice and Quality Assurance
      And the HoS for Safeguarding, Practice and Quality Assurance is asked to "Decide whether the grade stands"

      When the HoS for Safeguarding, Practice and Quality Assurance records the outcome "The grade is changed" and the new grade "Good"

      Then the dispute is recorded as settled at stage 3 with the outcome "grade changed"
      And the audit grade is "Good"
      And the Head of Service is not asked to "Acknowledge the audit grading"
      And the Team Manager is asked to "Discuss the audit in supervision with the practitioner"

    Scenario: The HoS for Safeguarding, Practice and Quality Assurance decides that the grade stands
      Given an audit graded "Inadequate" is submitted on Tuesday 4 November 2025 at 10:00

      When the Practitioner disagrees with the findings because "The risks were overstated"
      And the Auditor records the outcome "Unresolved"
      And CPP allocates "Sam Patel" to hold the Restorative Conversation
      And "Sam Patel" records the outcome "Unresolved"
      And the HoS for Safeguarding, Practice and Quality Assurance records the outcome "The grade stands"

      Then the dispute is recorded as settled at stage 3 with the outcome "grade stands"
      And the audit grade is "Inadequate"
      And the Head of Service is asked to "Acknowledge the audit grading"
