Feature: The monthly moderation sample
  "Each month, CPP arranges a second, moderation audit of all files graded as inadequate and
  20% of the remaining audits undertaken within Social Care. This will be a range of the
  remaining gradings." (Section 3, "Moderation")
  Audits graded Inadequate are moderated in their follow-up; the rest are sampled.

  Background:
    Given these audits were submitted in December 2025:
      | grade                | audits |
      | Outstanding          | 3      |
      | Good                 | 5      |
      | Requires Improvement | 3      |
      | Inadequate           | 2      |

  Scenario: Every Inadequate audit and 20% of the rest, rounded up, across the range of grades
    When CPP draws the moderation sample for December 2025 with the seed 5
    Then the 2 "Inadequate" audits are moderated in their follow-up
    And 3 of the other 11 audits are drawn for moderation
    And the drawn audits include the grades "Outstanding", "Good" and "Requires Improvement"

  Scenario: The seed reproduces the moderation sample
    When CPP draws the moderation sample for December 2025 with the seed 99
    And CPP draws the moderation sample for December 2025 again with the seed 99
    Then both moderation draws chose the same audits

  Scenario: The moderator gives a different grade; the Head of Service is told of an Inadequate one
    Given CPP has confirmed the moderation sample for December 2025 drawn with the seed 5
    When CPP moderates a drawn audit and gives the grade "Inadequate" because "Risks to the child were not recognised"
    Then the Head of Service of that audit is told the moderation found it Inadequate

  Scenario: The agreement rate is tracked
    Given CPP has confirmed the moderation sample for December 2025 drawn with the seed 5
    When CPP agrees with the grade of 2 drawn audits and gives another grade to the third
    And CPP agrees with the grade of both Inadequate audits in their follow-up
    Then the moderation agreement for December 2025 is 80%
