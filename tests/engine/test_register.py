"""The children register, the monthly schedule and the moderation sample, on the real engine."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from engine import NotAllowed, moderation, register, schedule
from engine.models import Instance, Person
from engine.moderation import Submitted, choose, sample_size
from engine.register_models import ChildRecord
from features import council


@pytest.fixture
def org_made(engine):  # type: ignore[no-untyped-def]
    return council.build(engine)


def _children(engine) -> dict[str, ChildRecord]:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        return {c.reference: c for c in s.execute(select(ChildRecord)).scalars()}


def test_good_rows_are_imported_and_bad_rows_reported_with_their_row_numbers(engine, org_made):
    text = council.register_csv([
        ("DUD-1", council.AREAS[0], "Team 1.1", "sw111", "CIN", "2025-03-01"),
        ("", council.AREAS[0], "Team 1.1", "sw111", "CIN", "2025-03-01"),
        ("DUD-2", council.AREAS[0], "Team 9.9", "sw111", "XX", "31/02/2025"),
        ("DUD-3", council.AREAS[1], "Team 2.1", "Worker 2.1.2", "child in care", "01/04/2025"),
        ("DUD-1", council.AREAS[0], "Team 1.1", "sw111", "CP", "2025-03-01"),
        ("DUD-4", council.AREAS[0], "Team 1.2", "sw111", "CP", "2025-03-01"),
    ])
    result = register.import_children(engine, "cpp1", text)
    assert (result.created, result.updated) == (2, 0)
    assert [e.row for e in result.rejected] == [3, 4, 6, 7]
    assert result.rejected[0].reasons == ("the reference is missing",)
    assert len(result.rejected[1].reasons) == 3
    assert "earlier row" in result.rejected[2].reasons[0]
    assert "not in the team 'Team 1.2'" in result.rejected[3].reasons[0]
    assert _children(engine)["DUD-3"].status == "CiC"


def test_a_reimport_updates_and_keeps_children_missing_from_the_file(engine, org_made):
    register.import_children(engine, "cpp1", council.children(6))
    moved = council.register_csv([("DUD-1000", council.AREAS[0], "Team 1.1", "sw112", "CP",
                                   "2025-01-06")])
    result = register.import_children(engine, "cpp1", moved)
    assert (result.created, result.updated, result.not_in_file) == (0, 1, 5)
    held = _children(engine)
    assert len(held) == 6
    assert held["DUD-1000"].status == "CP"
    assert not held["DUD-1001"].in_latest_import


def test_a_file_without_the_columns_is_refused_whole(engine, org_made):
    with pytest.raises(ValueError, match="Missing: team"):
        register.import_children(engine, "cpp1", "Reference,Service area,Status\nX,Y,CIN\n")


def test_only_cpp_import_the_register(engine, org_made):
    with pytest.raises(NotAllowed):
        register.import_children(engine, "tm11", council.children(2))


def test_the_same_seed_draws_the_same_files_and_auditors(engine, org_made):
    register.import_children(engine, "cpp1", council.children(40))
    schedule.draw(engine, "cpp1", "2025-12", size=8, seed=42)
    rows1 = [(r.child_ref, r.auditor) for r in schedule.batches(engine, "2025-12")[0].rows]
    schedule.draw(engine, "cpp1", "2025-12", size=8, seed=42)
    [again] = schedule.batches(engine, "2025-12")
    assert [(r.child_ref, r.auditor) for r in again.rows] == rows1
    schedule.draw(engine, "cpp1", "2025-12", size=8, seed=43)
    assert [r.child_ref for r in schedule.batches(engine, "2025-12")[0].rows] != [
        c for c, _ in rows1]


def test_no_auditor_audits_their_own_team_or_line_and_services_are_spread(engine, org_made):
    register.import_children(engine, "cpp1", council.children(40))
    schedule.draw(engine, "cpp1", "2025-12", size=10, seed=7)
    [batch] = schedule.batches(engine, "2025-12")
    assert len(batch.rows) == 10
    assert {r.service_area for r in batch.rows} == set(council.AREAS)
    with engine.transaction() as s:
        people = {p.name: p for p in s.execute(select(Person)).scalars()}
        for row in batch.rows:
            assert schedule.may_audit(people[row.auditor], people[row.practitioner]) is None


def test_confirming_starts_the_audits_and_they_are_then_excluded(engine, org_made, deploy):
    deploy()
    register.import_children(engine, "cpp1", council.children(12))
    batch_id = schedule.draw(engine, "cpp1", "2025-12", size=5, seed=1)
    assert schedule.confirm(engine, "cpp1", batch_id) == 5
    [batch] = schedule.batches(engine, "2025-12")
    assert batch.status == "confirmed"
    assert all(r.audit_id for r in batch.rows)
    with engine.transaction() as s:
        types = s.execute(select(Instance.audit_type)).scalars().all()
    assert types == ["monthly"] * 5
    nxt = schedule.draw(engine, "cpp1", "2026-01", size=12, seed=1)
    [jan] = schedule.batches(engine, "2026-01")
    assert jan.id == nxt
    assert not {r.child_ref for r in jan.rows} & {r.child_ref for r in batch.rows}
    assert len(jan.rows) == 7


def test_a_changed_auditor_must_follow_the_rules(engine, org_made):
    register.import_children(engine, "cpp1", council.children(4))
    schedule.draw(engine, "cpp1", "2025-12", size=1, seed=3)
    [row] = schedule.batches(engine, "2025-12")[0].rows
    with engine.transaction() as s:
        prac = s.execute(select(Person).where(Person.name == row.practitioner)).scalar_one()
        own_tm = prac.manager.username
    with pytest.raises(NotAllowed, match="own team|line-manages"):
        schedule.change_auditor(engine, "cpp1", row.id, own_tm)


def test_a_themed_sample_chooses_only_matching_files(engine, org_made):
    text = council.register_csv([
        ("DUD-1", council.AREAS[1], "Team 2.1", "sw211", "CiC", "2025-01-01", "2025-11-02"),
        ("DUD-2", council.AREAS[1], "Team 2.1", "sw211", "CiC", "2025-01-01", "2025-05-02"),
        ("DUD-3", council.AREAS[0], "Team 1.1", "sw111", "CP", "2025-01-01", ""),
    ], extra=",Last placement move")
    result = register.import_children(engine, "cpp1", text)
    assert not result.rejected
    from datetime import date

    schedule.draw(engine, "cpp1", "2025-12", kind="targeted", size=5, seed=1,
                  theme="Children in care with a placement move this quarter",
                  criteria=schedule.Criteria(statuses=("CiC",),
                                             placement_move_since=date(2025, 10, 1)))
    [batch] = schedule.batches(engine, "2025-12")
    assert [r.child_ref for r in batch.rows] == ["DUD-1"]


@pytest.mark.parametrize(("rest", "expected"), [(0, 0), (1, 1), (5, 1), (10, 2), (11, 3), (49, 10)])
def test_twenty_percent_is_rounded_up(rest, expected):
    assert sample_size(rest, 20) == expected


def test_the_sample_covers_the_range_of_grades():
    rest = [Submitted(i, f"C{i}", g) for i, g in enumerate(
        ["Good"] * 12 + ["Requires Improvement"] * 6 + ["Outstanding"] * 2)]
    picked = choose(random.Random(1), rest, 4)
    grades = sorted(p.grade for p in picked)
    assert grades == ["Good", "Good", "Outstanding", "Requires Improvement"]


def test_moderation_needs_audits_submitted_in_the_month(engine, org_made):
    sample_id = moderation.draw(engine, "cpp1", "2025-12", seed=5)
    view = moderation.view(engine, "2025-12")
    assert view is not None
    assert view.id == sample_id
    assert (view.submitted, view.sampled) == (0, 0)


def test_the_worker_opens_each_months_schedule_for_cpp_once(engine, clock, org_made, deploy):
    from datetime import UTC, datetime

    from engine.models import Notification
    from engine.register_models import ScheduleBatch
    from engine.worker import Worker

    deploy()
    register.import_children(engine, "cpp1", council.children(12))
    worker = Worker(engine, sender=lambda note: None)
    clock.set(datetime(2025, 11, 30, 9, 0, tzinfo=UTC))  # a Sunday: November is already open
    worker.run_once()
    clock.set(datetime(2025, 12, 1, 7, 0, tzinfo=UTC))  # Monday 1 December, first working day
    worker.run_once()
    worker.run_once()
    with engine.transaction() as s:
        batches = s.execute(select(ScheduleBatch).order_by(ScheduleBatch.month)).scalars().all()
        told = [n.subject for n in s.execute(select(Notification)).scalars()]
    assert [(b.month, b.created_by, b.status) for b in batches] == [
        ("2025-11", "system", "draft"), ("2025-12", "system", "draft")]
    assert batches[1].allocations
    assert told.count("The audit schedule for December 2025 is ready to review") == len(
        org_made["cpp"])
