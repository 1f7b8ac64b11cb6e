Feature: The monthly audit schedule
  "Monthly full case file audits are carried out, allocated to managers within children's
  social care and Children's files being randomly selected." (Section 3, "Auditing schedule")
  CPP imports the children register, draws the month's files at random, reviews the
  allocations and confirms them; confirming starts the audits.

  Background:
    Given the children register holds 40 children's files across two service areas

  Scenario: Rows of the register with a problem are reported and the rest imported
    When CPP imports a children register with these rows:
      | reference | service area     | team     | allocated practitioner | status | start date |
      | DUD-9001  | Children in Care | Team 2.1 | sw211                  | CiC    | 2025-03-01 |
      |           | Children in Care | Team 2.1 | sw211                  | CiC    | 2025-03-01 |
      | DUD-9002  | Children in Care | Team 2.1 | sw211                  | XX     | 2025-03-01 |
      | DUD-9003  | Children in Care | Team 2.1 | Worker 2.1.2           | CiC    | 01/04/2025 |
    Then 2 files are imported
    And row 3 is not imported because "the reference is missing"
    And row 4 is not imported because "the status 'XX' is not CIN, CP or CiC"
    And the register still holds the 40 files it held before, and the 2 new ones

  Scenario: The same seed draws the same files for the same auditors
    When CPP draws 8 files for December 2025 with the seed 4417
    And CPP draws 8 files for December 2025 again with the seed 4417
    Then both draws chose the same files for the same auditors
    And the seed 4417 is shown with the schedule

  Scenario: Files with an audit open, or audited within the last 6 months, are not chosen
    Given the file "DUD-1000" has an audit open
    And the file "DUD-1001" was audited in September 2025
    And the file "DUD-1002" was audited in May 2025
    When CPP draws every file it may for December 2025
    Then "DUD-1000" is not chosen
    And "DUD-1001" is not chosen
    And "DUD-1002" is chosen

  Scenario: No auditor audits a file from their own team or line of management
    When CPP draws 12 files for December 2025 with the seed 7
    Then no file is allocated to a manager in the practitioner's own team or line of management
    And files are chosen from both service areas

  Scenario: CPP changes an auditor only within the same rules
    Given CPP has drawn 1 file for December 2025 with the seed 3
    When CPP gives the file to the practitioner's own Team Manager
    Then the change is refused

  Scenario: Confirming the schedule starts the audits
    Given CPP has drawn 5 files for December 2025 with the seed 1
    When CPP confirms the schedule
    Then 5 "monthly" audits have started
    And each auditor has been asked to "Contact the practitioner and Team Manager and arrange a time to meet"

  Scenario: A targeted sample on a theme goes through the same pathway
    Given the children register records when children in care last moved placement
    When CPP draws a targeted sample "Children in care with a placement move this quarter" of children in care who moved placement since 1 October 2025
    And CPP confirms the schedule
    Then only children in care who moved placement since 1 October 2025 are chosen
    And the audits started are "targeted" audits
