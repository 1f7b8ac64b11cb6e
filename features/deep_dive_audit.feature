Feature: Deep dive audit of a child's file
  From the Quality Assurance, Learning and Development Framework (approved by the Senior Leadership Team
  on 10 October 2023), Section 3.

  Auditing schedule: "Monthly full case file audits are carried out, allocated to managers within children’s social care and Children’s files being randomly selected."

  Bespoke: "An audit of a child’s file maybe requested at any point by the Senior Leadership Team in response to specific practice concerns arising from issues with individual, team or service performance or following a critical incident for a child."

  Deep Dive Audit Process and Feedback Loop:
  "The deep dive audit tool has been developed by the CPP and includes specific targeted questions in relation to Children in Need, children subject to a Child Protection Plan, and Children in our Care. The audit tool includes a judgment about the quality of work based on Ofsted grades, underpinned by Ofsted’s evaluation criteria and grade descriptors."
  "At the point of allocation, the auditor will contact the practitioner and Team Manager to inform them that an audit is being completed and arrange a time, , to meet with the practitioner to undertake the audit together."
  "The worker should prepare for the meeting by ensuring that the child’s electronic file is up to date."
  "The auditor should prepare for the meeting by familiarising themselves with the audit tool and supplementary reading, including practice or statutory guidance, provided by CPP when the audit was allocated. The completion of the audit tool on LCS, following the meeting is the responsibility of the auditor."
  "The auditor, following consultation with the allocated worker, will contact the child’s main carer, and the child if appropriate, to obtain feedback as part of the audit. This feedback is threaded through the audit form on LCS."
  "If during the audit process the auditor becomes concerned about the safety and welfare of the child the auditor will immediately alert the relevant HoS and any safety concerns will be addressed immediately."
  "It is essential that audits of children’s files result in improved practice with children and families, therefore, even those audits rated as good or outstanding, must include a stretch target for both the practitioner and manager involved."
  "To ensure this learning is acted upon within Children’s Services, the manager in supervision with the Practitioner, explore with them the core elements from the audit and hold a reflective ‘support & challenge’ conversation, including the setting of a stretch target, and ensure recommended actions are undertaken."
  "In addition, and to ensure the feedback loop is concluded, the Service Manager will discuss audit findings with the Team Manager in supervision and hold a reflective ‘support & challenge’ conversation, including the setting of a stretch target."
  "The Centre for Professional Practice collate identified good practice as well as Specific examples of good practice identified within audits will be recognised as part of this process and fed back to practitioner via individual recognition emails and to management as outlined in the Systems Map (Section 1)."

  Choices where the framework is open (the policy owner can change each one in the deep dive audit process):
  supervision by the Team Manager and then the Service Manager happens for every grade, at the same time as any
  follow-up of a Requires Improvement or Inadequate audit; the audit is closed only when both are complete.
  A safety concern can be raised at any point until the audit is closed, as often as needed, and never stops the audit.

  Rule: CPP allocates each audit, including bespoke audits requested by the Senior Leadership Team

    Scenario: CPP allocates a monthly audit to an auditor
      When CPP allocates a "monthly" audit of the file of a child whose status is "Child in Need"

      Then the Auditor is asked to "Contact the practitioner and Team Manager and arrange a time to meet"

    Scenario: The Senior Leadership Team requests a bespoke audit after a critical incident
      Given the Senior Leadership Team has requested an audit of a child's file following "a critical incident for the child"

      When CPP allocates a "bespoke" audit of the file of a child whose status is "Child in Care"

      Then the audit is recorded as a "bespoke" audit
      And the Auditor is asked to "Contact the practitioner and Team Manager and arrange a time to meet"

  Rule: The auditor meets the practitioner to undertake the audit together, once the child's file is up to date

    Scenario: The meeting is arranged and the practitioner brings the child's file up to date first
      Given CPP allocates a "monthly" audit of the file of a child whose status is "Child Protection"

      When the Auditor arranges to meet the practitioner on Tuesday 4 November 2025 at 10:00

      Then the Practitioner is asked to "Make sure the child's electronic file is up to date"
      And the Auditor is not asked to "Meet with the practitioner to undertake the audit together"

      When the Practitioner completes "Make sure the child's electronic file is up to date"

      Then the Auditor is asked to "Meet with the practitioner to undertake the audit together"

  Rule: The auditor obtains feedback from the child's main carer, and the child if appropriate

    Scenario Outline: Feedback from the family is part of the audit
      Given the Auditor has been asked to "Obtain feedback from the child's main carer, and the child if appropriate"

      When the Auditor records feedback from "<whom>"

      Then the Auditor is asked to "Complete the audit tool"

      Examples:
        | whom                                                                   |
        | the child's main carer and the child                                   |
        | the child's main carer only, as it is not appropriate to ask the child |

  Rule: A safety concern goes to the Head of Service immediately and the audit carries on

    Scenario Outline: The auditor raises a safety concern part way through the audit
      Given <who> has been asked to "<task>"

      When the Auditor raises a safety concern: "Bruising seen on the child's arm at the home visit"

      Then a notification is sent immediately to the Head of Service
      And the Head of Service is asked to "Record how the safety concern was addressed"
      And <who> is asked to "<task>"

      When the Head of Service completes "Record how the safety concern was addressed"

      Then <who> is asked to "<task>"

      Examples:
        | who              | task                                                   |
        | the Practitioner | Make sure the child's electronic file is up to date    |
        | the Auditor      | Complete the audit tool                                |
        | the Team Manager | Discuss the audit in supervision with the practitioner |

  Rule: The audit tool has targeted questions, graded sections and an overall judgement

    Scenario Outline: The audit tool asks the targeted questions for the child's status
      Given CPP allocates a "monthly" audit of the file of a child whose status is "<status>"
      And the Auditor has been asked to "Complete the audit tool"

      When the Auditor opens "Complete the audit tool"

      Then the audit tool asks the targeted questions for "<status>"
      And the audit tool does not ask the targeted questions for "<other status>"
      And each section of the audit tool is judged "Outstanding", "Good", "Requires Improvement" or "Inadequate"

      Examples:
        | status           | other status     |
        | Child in Need    | Child Protection |
        | Child Protection | Child in Care    |
        | Child in Care    | Child in Need    |

    Scenario: The overall judgement and the date of submission are recorded
      Given it is now Tuesday 4 November 2025 at 10:00
      And the Auditor has been asked to "Complete the audit tool"

      When the Auditor submits the audit tool with the overall judgement "Good"

      Then the audit grade is "Good"
      And the audit is recorded as submitted on Tuesday 4 November 2025 at 10:00
      And the Practitioner is asked to "Respond to the findings of the audit"

  Rule: Every audit has a stretch target for both the practitioner and the manager, whatever the grade

    Scenario Outline: The audit tool is not accepted without both stretch targets
      Given the Auditor has been asked to "Complete the audit tool"

      When the Auditor submits the audit tool with the overall judgement "<grade>" and no stretch target for the <whom>

      Then the audit tool is not accepted because a stretch target for the <whom> is required
      And the Auditor is asked to "Complete the audit tool"

      Examples:
        | grade                | whom         |
        | Outstanding          | practitioner |
        | Outstanding          | manager      |
        | Good                 | practitioner |
        | Good                 | manager      |
        | Requires Improvement | manager      |
        | Inadequate           | practitioner |

  Rule: Good practice is recognised in an individual message

    Scenario: The auditor identifies good practice
      Given the Auditor has been asked to "Complete the audit tool"

      When the Auditor submits the audit tool with the overall judgement "Outstanding" and the good practice example "Creative direct work that brought the child's voice into the plan"

      Then a recognition message is sent to the Practitioner, Team Manager and Service Manager

  Rule: The feedback loop: the Team Manager and then the Service Manager discuss every audit in supervision

    Scenario Outline: Supervision follows the audit whatever the grade
      Given the Auditor has been asked to "Complete the audit tool"

      When the Auditor submits the audit tool with the overall judgement "<grade>"
      And the Practitioner agrees with the findings

      Then the Team Manager is asked to "Discuss the audit in supervision with the practitioner"
      And the Service Manager is not asked to "Discuss the audit findings with the Team Manager in supervision"

      When the Team Manager completes "Discuss the audit in supervision with the practitioner"

      Then the Service Manager is asked to "Discuss the audit findings with the Team Manager in supervision"

      Examples:
        | grade                |
        | Outstanding          |
        | Good                 |
        | Requires Improvement |
        | Inadequate           |

    Scenario: An audit graded Good is closed when both supervisions are complete
      Given the Auditor has been asked to "Complete the audit tool"

      When the Auditor submits the audit tool with the overall judgement "Good"
      And the Practitioner agrees with the findings
      And the Team Manager completes "Discuss the audit in supervision with the practitioner"
      And the Service Manager completes "Discuss the audit findings with the Team Manager in supervision"

      Then the audit is closed
      And the Head of Service is not asked to "Acknowledge the audit grading"

    Scenario: An audit graded Requires Improvement stays open until its follow-up is complete
      Given the Auditor has been asked to "Complete the audit tool"

      When the Auditor submits the audit tool with the overall judgement "Requires Improvement"
      And the Practitioner agrees with the findings
      And the Team Manager completes "Discuss the audit in supervision with the practitioner"
      And the Service Manager completes "Discuss the audit findings with the Team Manager in supervision"

      Then the audit is still open
      And the Head of Service is asked to "Acknowledge the audit grading"
