"""bench/pathway.py in miniature: the recorded walk is the real pathway issue 7 names, both sides
replay it step for step to the same end, and a replay that goes elsewhere is caught, not timed."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import event, func, select

from engine import service
from engine.models import Instance
from engine.timeline import all_tasks, scan, waiting_timers
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import pathway  # noqa: E402


@pytest.fixture(scope="module")
def walked() -> Iterator[tuple[pathway.Bench, pathway.Script]]:
    with pathway.bench() as b:
        yield b, pathway.prepare(b)


def _tampered(script: pathway.Script, spec_name: str, **answers: object) -> pathway.Script:
    steps = [replace(s, data=s.data | answers)
             if isinstance(s, pathway.Complete) and s.spec_name == spec_name else s
             for s in script.steps]
    return replace(script, steps=steps)


def test_the_recorded_walk_is_the_real_pathway(walked: tuple[pathway.Bench, pathway.Script]) -> None:
    _, script = walked
    done = [s.spec_name for s in script.steps if isinstance(s, pathway.Complete)]
    assert done[0] == "Activity_ArrangeMeeting"
    assert done[-1] == "Activity_ReauditChildFile"
    assert {"Activity_DiscussFindings", "Activity_HoldRestorativeConversation",
            "Activity_DecideDispute", "Activity_AcknowledgeGrading"} <= set(done)
    assert any(isinstance(s, pathway.MoveClock) for s in script.steps)
    assert script.timers_fired >= 2  # deadlines passed and the worker escalated them
    data = script.final["data"]
    assert script.final["completed"]
    assert script.ready[-1] == ()
    assert (data["initial_grade"], data["grade"]) == ("Requires Improvement",) * 2
    assert (data["dispute_stage_reached"], data["dispute_outcome"]) == (3, "grade-stands")
    assert data["reaudit_grade"] == "Good"


def test_both_sides_walk_it_and_are_timed(walked: tuple[pathway.Bench, pathway.Script]) -> None:
    b, script = walked
    timing = pathway.timed(b, script, repeat=1)
    assert 0 < timing.mem
    assert 0 < timing.per


def test_measure_returns_medians_and_the_number_of_steps() -> None:
    timing, steps = pathway.measure(repeat=1)
    assert 0 < timing.mem
    assert 0 < timing.per
    assert timing.ratio == timing.per / timing.mem  # one turn: its own ratio
    assert steps == len(pathway.PLAN)


def test_a_replay_that_takes_another_branch_is_caught(
        walked: tuple[pathway.Bench, pathway.Script]) -> None:
    b, script = walked
    other = _tampered(script, "Activity_DecideDispute", dispute_stage3_outcome="grade-changed",
                      dispute_stage3_new_grade="Good")
    for walk in (pathway.walk_in_memory, pathway.walk_persisted):
        observe, _ = pathway.checker(script, walk.__name__)
        with pytest.raises(pathway.PathwayMismatch, match="after step"):
            walk(b, other, observe)


def test_a_replay_that_ends_with_other_data_is_caught(
        walked: tuple[pathway.Bench, pathway.Script]) -> None:
    b, script = walked
    other = _tampered(script, "Activity_ReauditChildFile", reaudit_findings="Something else")
    with pytest.raises(pathway.PathwayMismatch, match="ended elsewhere"):
        pathway.verify(b, replace(other, final=script.final))


def test_the_database_floor_replays_what_a_walk_sent(
        walked: tuple[pathway.Bench, pathway.Script]) -> None:
    b, script = walked
    floor = pathway.database_floor(b.engine.db, lambda: pathway.walk_persisted(b, script),
                                   repeat=1)
    # Every completion, clock move and start writes in a transaction of its own.
    assert floor.commits >= script.completions + 1
    assert floor.statements > floor.commits
    assert floor.seconds > 0


def test_a_floor_whose_replay_writes_differently_is_refused(
        walked: tuple[pathway.Bench, pathway.Script]) -> None:
    b, script = walked

    def run_and_write_behind_the_listener() -> None:
        pathway.walk_persisted(b, script)
        # A row the replay cannot know of: written outside SQLAlchemy, so not captured.
        conn = sqlite3.connect(b.engine.db.url.database)
        with conn:
            conn.execute("INSERT INTO service_area (name) VALUES ('Written behind the listener')")
        conn.close()

    with pytest.raises(pathway.PathwayMismatch, match="different rows"):
        pathway.database_floor(b.engine.db, run_and_write_behind_the_listener, repeat=1)


def test_each_part_left_out_still_closes_the_audit_and_is_put_back(
        walked: tuple[pathway.Bench, pathway.Script]) -> None:
    """--without: the persisted walk is timed with each part of the engine's work left out in
    turn (each walk still closing the audit, firing its deadlines where the trail is kept), and
    every part is the engine's own again afterwards."""
    b, script = walked
    before = {part: owner.__dict__[name] for part, (owner, name, _) in pathway.PARTS.items()}
    spent = pathway.leaving_out(b, script, repeat=1)
    assert set(spent) == {"", "in memory", *pathway.ROWS}
    assert set(pathway.ROWS["forms, trail and notifications"]) <= set(pathway.PARTS)
    assert all(seconds > 0 for seconds in spent.values())
    after = {part: owner.__dict__[name] for part, (owner, name, _) in pathway.PARTS.items()}
    assert after == before


def test_a_part_left_out_that_stops_the_audit_is_caught(
        walked: tuple[pathway.Bench, pathway.Script], monkeypatch: pytest.MonkeyPatch) -> None:
    b, script = walked
    owner, name, stand_in = pathway.PARTS["storing the workflow's state"]

    def loses_the_deadlines(wf: object) -> tuple[str | None, str | None]:
        """A stand-in that, storing the state, drops the audit's deadlines: none ever fires."""
        for timer in waiting_timers(all_tasks(wf)):
            timer.cancel()
        return stand_in(wf)

    monkeypatch.setitem(pathway.PARTS, "storing the workflow's state",
                        (owner, name, loses_the_deadlines))
    with pytest.raises(pathway.PathwayMismatch, match="deadlines fired"):
        pathway.leaving_out(b, script, repeat=1)


def test_each_row_of_the_leaving_out_table_comes_first_in_turn(
        walked: tuple[pathway.Bench, pathway.Script], monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk right after the in-memory one runs slower: the rows' order turns each round, so
    over as many rounds as rows every row is timed once in every position."""
    b, script = walked
    order: list[str] = []
    monkeypatch.setattr(pathway, "_walk_checked", lambda _b, _s, parts=(): order.append(
        next((row for row, p in pathway.ROWS.items() if p == parts), "")) or 0.01)
    monkeypatch.setattr(pathway, "_time_in_memory", lambda _b, _s: order.append("in memory")
                        or (0.01, 0.01))
    rows = len(pathway.ROWS) + 2
    pathway.leaving_out(b, script, repeat=rows)
    rounds = [order[i:i + rows] for i in range(0, len(order), rows)]
    assert len(rounds) == rows
    assert all(sorted(r) == sorted(rounds[0]) for r in rounds)
    for position in range(rows):
        assert len({r[position] for r in rounds}) == rows


def test_the_audits_row_holds_its_figures_after_every_step_written_only_where_they_changed(
        walked: tuple[pathway.Bench, pathway.Script]) -> None:
    """The instance row's next deadline (what the worker looks for), child, grade, status and
    audit type are the workflow's at every step of the pathway, two deadlines firing among them;
    a step that leaves one as it was does not set it again (an indexed column set to the value
    it holds still has its index rewritten)."""
    b, script = walked
    updates: list[str] = []

    def statement(conn: object, cursor: object, sql: str, *args: object) -> None:
        if sql.startswith("UPDATE instance SET"):
            updates.append(sql)

    def check(_ready: pathway.Ready) -> None:
        """After the allocation and after each step: the walk's audit is the newest."""
        with b.engine.db.connect() as conn:
            iid = conn.execute(select(func.max(Instance.id))).scalar_one()
            row = conn.execute(select(Instance.__table__).where(Instance.id == iid)).one()
        version, wf = b.engine._live[iid]
        found = scan(wf, 0.0)
        data = found.latest_completed.data if found.latest_completed is not None else {}
        assert row.version == version
        assert row.status == ("completed" if wf.completed else "running")
        assert row.next_timer_at == (None if wf.completed else found.next_timer_at)
        for key in service.SUMMARY_KEYS:
            if data.get(key) is not None:
                assert getattr(row, key) == str(data[key]), key

    event.listen(b.engine.db, "before_cursor_execute", statement)
    try:
        pathway.walk_persisted(b, script, check)
    finally:
        event.remove(b.engine.db, "before_cursor_execute", statement)
    assert len(updates) == 1 + script.completions + script.timers_fired  # the start's too
    deadline_moved = [u for u in updates if "next_timer_at" in u]
    assert 0 < len(deadline_moved) < len(updates) // 2
    assert not [u for u in updates if "child_ref" in u]  # the child is the one allocated
    assert [u for u in updates if "grade" in u]
