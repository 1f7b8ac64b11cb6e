"""The monthly report's figures, checked against a known month of audits run on the engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine import moderation, reports
from features.monthly import Month


def _at(day: int, hour: int = 10, month: int = 12, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def december(engine, clock, deploy):  # type: ignore[no-untyped-def]
    """Five audits allocated on 1 December 2025; four submitted, one still with its auditor."""
    deploy()
    m = Month(engine, clock)
    a1, a2, a3, a4, a5 = m.start_audits("2025-12", 5, seed=11)
    m.at(_at(2))
    auditor5 = m.driver(a5).holders("Auditor")[0]
    engine.raise_safety_concern(a5, auditor5, "The child said they are scared to go home")
    m.submit(a1, "Good", themes=["Good assessment"], good_practice_identified=True,
             good_practice_example="A warm, child-centred direct work session",
             areas_for_development="Record the father's views")
    m.agree(a1)
    m.at(_at(3))
    m.submit(a2, "Requires Improvement", sections={"recording": "Inadequate"},
             themes=["Good assessment", "Fathers are not included"])
    m.agree(a2)
    m.at(_at(4, 11))
    m.complete(a2, "Activity_AcknowledgeGrading")  # due 12:00 on 4 December: on time
    m.at(_at(5))
    m.submit(a3, "Inadequate")
    m.agree(a3)
    m.at(_at(8))
    m.submit(a4, "Outstanding")
    m.complete(a4, "Activity_RespondToFindings", practitioner_agrees=False,
               disagreement_reasons="The plan was not progressing")
    m.complete(a4, "Activity_DiscussFindings", dispute_stage1_outcome="resolved-grade-changed",
               dispute_stage1_new_grade="Good")
    m.at(_at(9))
    m.complete(a3, "Activity_AcknowledgeGrading")  # due 12:00 on Monday 8 December: late
    m.complete(a3, "Activity_ModerateAudit", moderation_agrees=True)
    m.at(_at(10, 9))
    m.complete(a3, "Activity_RespondToRemedialActions")  # due 10:00 on 12 December
    m.at(_at(12, 11))
    m.complete(a2, "Activity_FollowUpRemedialActions")  # due 10:00 on 10 December: late
    m.at(_at(2, 9, month=1, year=2026))
    return reports.monthly(engine, "2025-12")


def test_audits_allocated_completed_and_overdue(december):
    assert (december.allocated, december.completed, december.overdue) == (5, 4, 1)
    assert december.overdue_final
    assert december.allocated_by_type == {"monthly": 5}


def test_grades_by_service_add_up_to_the_grades_given(december):
    assert december.grade_totals == (1, 1, 1, 1)
    assert sum(r.total for r in december.grades_by_team) == 4
    assert sum(r.total for r in december.grades_by_service) == 4


def test_deadlines_met_and_the_late_ones_by_task(december):
    rows = {d.spec: d for d in december.deadlines}
    ack = rows["Activity_AcknowledgeGrading"]
    assert (ack.due, ack.met, ack.percent) == (2, 1, 50.0)
    assert len(ack.late) == 1
    follow = rows["Activity_FollowUpRemedialActions"]
    assert (follow.due, follow.met) == (1, 0)
    assert follow.late[0].completed_at == _at(12, 11)
    respond = rows["Activity_RespondToRemedialActions"]
    assert (respond.due, respond.met) == (1, 1)
    assert rows["Activity_SignOffActions"].due == 0


def test_disputes_by_stage_and_outcome(december):
    assert december.disputes_raised == 1
    assert december.disputes == {(1, "Grade changed"): 1}


def test_moderation_agreement_and_safety_concerns(december):
    assert december.moderated == 1
    assert december.agreement == 100.0
    assert december.safety_concerns == 1


def test_section_judgements_and_themes(december):
    sections = dict(december.sections)
    assert sections["Recording"] == (1, 1, 0, 2)
    assert dict(december.themes) == {"Good assessment": 2, "Fathers are not included": 1}
    assert december.good_practice == 1
    assert december.trends[-1].completed == 4
    assert december.trends[-1].good_or_better == 50.0


def test_the_quarter_rolls_up_its_months(december, engine):
    quarter = reports.quarterly(engine, "2025-Q4")
    assert [m.month for m in quarter.months] == ["2025-10", "2025-11", "2025-12"]
    assert (quarter.allocated, quarter.completed) == (5, 4)
    assert quarter.months[-1].completed == 4


def test_the_briefing_shares_good_practice_without_naming_children(december, engine):
    brief = reports.briefing(engine, "2025-12")
    assert [i.text for i in brief.good_practice] == ["A warm, child-centred direct work session"]
    assert "Record the father's views" in [i.text for i in brief.development]
    assert not any("DUD-" in i.text for i in brief.good_practice + brief.development)


def test_a_moderation_sample_is_drawn_from_the_months_submissions(december, engine):
    moderation.draw(engine, "cpp1", "2025-12", seed=3)
    view = moderation.view(engine, "2025-12")
    assert view is not None
    assert (view.submitted, view.inadequate, view.rest, view.sampled) == (4, 1, 3, 1)
