Feature: Follow-up and re-audit of audits graded Requires Improvement or Inadequate
  From the Quality Assurance, Learning and Development Framework (approved by the Senior Leadership Team
  on 10 October 2023), Section 3.

  Flowchart: "HOS/SM/TM are notified of inadequate/ Requires  Improvement audits immediately - follow up conversations in supervision and actions tracked"

  Re-audit of Children’s Files with Inadequate Gradings: "Heads of Service are notified of audits with an Inadequate or Requires Improvement grading, by 12 noon the day following the audit submission date. Heads of Service will re-audit inadequate and (RI) audits in their service areas by 3 months after the initial audit. This ensures that the audit action plan has been completed and that the child’s file is no longer Inadequate or Requires Improvement. The re-audit will be shared with the responsible Service Managers to ensure any remaining actions will be monitored and evaluated."

  Deep Dive Audit Process and Feedback Loop: "Audits that have a ‘Requires Improvement’ judgement require Team Managers to follow up remedial actions within one week, Service Managers are required to respond and sign off actions within one month. Audits identified as being inadequate are subject to moderation and follow up."
  "For audits that have an ‘Inadequate’ judgement Service Managers are required to respond and follow up remedial actions within one week, Heads of Service are required to re-audit and review the actions have been completed within 3 months."

  Moderation: "Each month, CPP arranges a second, moderation audit of all files graded as inadequate and 20% of the remaining audits undertaken within Social Care."

  Choices where the framework is open (the policy owner can change each one in the follow-up process, where every
  deadline is written as a value such as "P1W", "P1M" or "P3M" on the task it applies to):
  "the day following" is read as the next working day in England, so weekends and bank holidays are skipped, and
  "12 noon" is 12:00 London time;
  "one week", "one month" and "3 months" are counted from the date and time the audit was submitted, in calendar
  weeks and months, to the same time of day;
  the flowchart and the moderation paragraph speak of re-auditing Inadequate files, the re-audit paragraph of
  Inadequate and Requires Improvement files: both are re-audited;
  a re-audit that is still Inadequate or Requires Improvement is followed up as a new audit, with its deadlines
  counted from the re-audit;
  when a deadline passes the task is marked overdue and the next manager up is told, and the task stays open;
  a moderator's different grade is recorded for CPP's reports and does not change the audit's grade;
  the 20% sample of other grades for moderation is chosen by CPP outside this process.

  Rule: The managers are notified at once and the Head of Service acknowledges by 12 noon the next working day

    Scenario Outline: The Head of Service, Service Manager and Team Manager are notified immediately
      Given it is now Tuesday 4 November 2025 at 10:00
      And the Auditor has been asked to "Complete the audit tool"

      When the Auditor submits the audit tool with the overall judgement "<grade>"
      And the Practitioner agrees with the findings

      Then a notification is sent immediately to the Head of Service, Service Manager and Team Manager
      And the Head of Service must "Acknowledge the audit grading" by Wednesday 5 November 2025 at 12:00

      Examples:
        | grade                |
        | Requires Improvement |
        | Inadequate           |

    Scenario Outline: The Head of Service's deadline skips weekends and bank holidays
      Given it is now <submitted>
      And the Auditor has been asked to "Complete the audit tool"

      When the Auditor submits the audit tool with the overall judgement "Inadequate"
      And the Practitioner agrees with the findings

      Then the Head of Service must "Acknowledge the audit grading" by <deadline>

      Examples:
        | submitted                           | deadline                           |
        | Wednesday 24 December 2025 at 15:00 | Monday 29 December 2025 at 12:00   |
        | Friday 19 December 2025 at 16:00    | Monday 22 December 2025 at 12:00   |
        | Tuesday 4 November 2025 at 09:00    | Wednesday 5 November 2025 at 12:00 |

  Rule: Requires Improvement: the Team Manager follows up within one week and the Service Manager signs off within one month

    Scenario: The remedial actions of an audit graded Requires Improvement are followed up and signed off
      Given an audit graded "Requires Improvement" is submitted on Tuesday 4 November 2025 at 10:00

      When the Practitioner agrees with the findings

      Then the Team Manager must "Follow up remedial actions" by Tuesday 11 November 2025 at 10:00
      And CPP is not asked to "Moderate the audit"

      When the Team Manager completes "Follow up remedial actions"

      Then the Service Manager must "Respond to and sign off the actions" by Thursday 4 December 2025 at 10:00

  Rule: Inadequate: the Service Manager follows up within one week and CPP moderates the audit

    Scenario: An audit graded Inadequate is followed up and moderated
      Given an audit graded "Inadequate" is submitted on Tuesday 4 November 2025 at 10:00

      When the Practitioner agrees with the findings

      Then the Service Manager must "Respond to and follow up remedial actions" by Tuesday 11 November 2025 at 10:00
      And CPP is asked to "Moderate the audit"
      And the Team Manager is not asked to "Follow up remedial actions"

    Scenario: The moderator gives a different grade
      Given an audit graded "Inadequate" is submitted on Tuesday 4 November 2025 at 10:00
      And CPP has been asked to "Moderate the audit"

      When CPP moderates the audit and gives the grade "Requires Improvement" because "The plan is already reducing the risks"

      Then the moderation is recorded with the grade "Requires Improvement"
      And the audit grade is "Inadequate"

  Rule: The Head of Service re-audits within 3 months and shares the re-audit with the Service Manager

    Scenario Outline: The child's file is re-audited and is no longer Inadequate or Requires Improvement
      Given an audit graded "<grade>" is submitted on Tuesday 4 November 2025 at 10:00
      And the Head of Service has been asked to "Re-audit the child's file"

      Then the Head of Service must "Re-audit the child's file" by Wednesday 4 February 2026 at 10:00

      When the Head of Service re-audits the child's file and grades it "Good"

      Then a notification is sent immediately to the Service Manager
      And the follow-up of the audit is complete

      Examples:
        | grade                |
        | Requires Improvement |
        | Inadequate           |

  Rule: A file that is still Inadequate or Requires Improvement at re-audit is followed up again

    Scenario Outline: The re-audit starts a new follow-up
      Given an audit graded "Inadequate" is submitted on Tuesday 4 November 2025 at 10:00
      And the Head of Service has been asked to "Re-audit the child's file"
      And it is now Monday 2 February 2026 at 14:00

      When the Head of Service re-audits the child's file and grades it "<re-audit grade>"

      Then a notification is sent immediately to the Service Manager
      And a notification is sent immediately to the Head of Service, Service Manager and Team Manager
      And the Head of Service must "Acknowledge the audit grading" by Tuesday 3 February 2026 at 12:00
      And <who> must "<task>" by Monday 9 February 2026 at 14:00

      Examples:
        | re-audit grade       | who                 | task                                      |
        | Requires Improvement | the Team Manager    | Follow up remedial actions                |
        | Inadequate           | the Service Manager | Respond to and follow up remedial actions |

  Rule: An overdue follow-up is escalated to the next manager up, and the work stays open

    Scenario Outline: A follow-up task passes its deadline
      Given an audit graded "<grade>" is submitted on Tuesday 4 November 2025 at 10:00
      And <who> has been asked to "<task>"

      When it is now <a minute late>

      Then the "<task>" task is marked overdue
      And <manager> is told that "<task>" is overdue
      And <who> is asked to "<task>"

      Examples:
        | grade                | who                 | task                                      | a minute late                      | manager             |
        | Requires Improvement | the Team Manager    | Follow up remedial actions                | Tuesday 11 November 2025 at 10:01  | the Service Manager |
        | Requires Improvement | the Service Manager | Respond to and sign off the actions       | Thursday 4 December 2025 at 10:01  | the Head of Service |
        | Inadequate           | the Service Manager | Respond to and follow up remedial actions | Tuesday 11 November 2025 at 10:01  | the Head of Service |

  Rule: The policy owner can change a deadline, and the change applies to audits submitted after it
    The re-audit period is the "P3M" in the deadline on "Re-audit the child's file" in the follow-up process.
    The policy owner changes it in the process modeller and deploys a new version; no code changes.

    Scenario: The policy owner shortens the re-audit period for new audits
      Given the policy owner changes the re-audit period from "3 months" to "6 weeks"

      When an audit graded "Inadequate" is submitted on Tuesday 4 November 2025 at 10:00
      And the Practitioner agrees with the findings

      Then the Head of Service must "Re-audit the child's file" by Tuesday 16 December 2025 at 10:00

    Scenario: Audits already under way keep the re-audit period they started with
      Given an audit graded "Inadequate" is submitted on Monday 3 November 2025 at 10:00
      And the Practitioner agrees with the findings

      When the policy owner changes the re-audit period from "3 months" to "6 weeks"

      Then the Head of Service must "Re-audit the child's file" by Tuesday 3 February 2026 at 10:00
