"""The audit trail is append-only and hash-chained: any edit, deletion or reordering is found."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from engine import Engine, audit, cli
from engine.models import AuditEvent


def _edit(engine, event_id: int, **changes) -> None:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        ev = s.get(AuditEvent, event_id)
        for name, value in changes.items():
            setattr(ev, name, value(getattr(ev, name)) if callable(value) else value)


def _verdict(engine) -> audit.Verdict:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        return audit.verify(s)


EDITS = {
    "detail": lambda d: d.replace("Seen the file", "Not seen"),
    "child_ref": "C-9",
    "actor": "someone_else",
    "kind": "viewed",
    "at": lambda at: at + timedelta(seconds=1),
    "instance_id": 999,
    "content_hash": "0" * 64,
    "prev_hash": "1" * 64,
    "hash": "2" * 64,
}


@pytest.mark.parametrize("field", list(EDITS))
def test_editing_any_field_of_an_event_is_detected(engine, audits, field):
    with engine.transaction() as s:
        done = s.execute(select(AuditEvent.id).where(AuditEvent.kind == "task_completed")).scalar_one()
    assert _verdict(engine).ok
    _edit(engine, done, **{field: EDITS[field]})
    verdict = _verdict(engine)
    assert (verdict.ok, verdict.first_broken_id) == (False, done), verdict


def test_deleting_an_event_in_the_middle_is_detected(engine, audits):
    with engine.transaction() as s:
        s.delete(s.get(AuditEvent, 3))
    verdict = _verdict(engine)
    assert (verdict.ok, verdict.first_broken_id) == (False, 3)
    assert "missing" in verdict.reason


def test_deleting_the_newest_events_is_detected(engine, audits):
    with engine.transaction() as s:
        last = s.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
        s.delete(last)
    verdict = _verdict(engine)
    assert not verdict.ok
    assert "removed" in verdict.reason


def test_swapping_two_events_is_detected(engine, audits):
    with engine.transaction() as s:
        first, second = s.get(AuditEvent, 2), s.get(AuditEvent, 3)
        first.id, second.id = 1000, 1001
        s.flush()
        first.id, second.id = 3, 2
    verdict = _verdict(engine)
    assert (verdict.ok, verdict.first_broken_id) == (False, 2)


def test_blanking_an_event_without_a_purge_is_detected(engine, audits):
    with engine.transaction() as s:
        started = s.execute(select(AuditEvent).where(
            AuditEvent.kind == "started", AuditEvent.child_ref == "C-2")).scalar_one()
        started.child_ref, started.detail = "", audit.REDACTED
        event_id = started.id
    verdict = _verdict(engine)
    assert (verdict.ok, verdict.first_broken_id) == (False, event_id)
    assert "no purge records it" in verdict.reason


def test_qaflow_audit_log_verify_exits_non_zero_on_tampering(engine, audits, database_url,
                                                              monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert cli.main(["audit-log", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    _edit(engine, 2, actor="intruder")
    assert cli.main(["audit-log", "verify"]) == 1
    assert "BROKEN at event 2" in capsys.readouterr().out


def test_a_query_of_the_trail_sees_the_events_recorded_before_it_in_the_same_use_case(engine):
    with engine.transaction() as s:
        audit.append(s, engine.now(), "cpp1", "viewed", {"page": "audit"}, None, "C-1")
        seen = s.execute(select(AuditEvent.kind, AuditEvent.actor)
                         .where(AuditEvent.actor == "cpp1")).all()
        assert [tuple(r) for r in seen] == [("viewed", "cpp1")]
    assert _verdict(engine).ok


def test_queries_of_other_tables_leave_the_recorded_events_to_one_batch(engine):
    from sqlalchemy import event

    from engine import org

    statements: list[str] = []
    with engine.transaction() as s:
        org.add_person(s, "p1", "Pat One")
    event.listen(engine.db, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))
    with engine.transaction() as s:
        for i in range(3):
            audit.append(s, engine.now(), "p1", "viewed", {"i": i}, None, "")
            assert org.person(s, "p1").name == "Pat One"
    assert sum("INSERT INTO audit_event" in st for st in statements) == 1
    assert _verdict(engine).ok


def _trail_statements(engine, run) -> list[str]:  # type: ignore[no-untyped-def]
    sent: list[str] = []

    def statement(_conn, _cursor, sql, *_rest) -> None:  # type: ignore[no-untyped-def]
        if "audit_" in sql:
            sent.append(sql.split()[0])

    event.listen(engine.db, "before_cursor_execute", statement)
    try:
        run()
    finally:
        event.remove(engine.db, "before_cursor_execute", statement)
    return sent


def _append(engine, kind: str, n: int = 1) -> None:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        for _ in range(n):
            audit.append(s, engine.now(), "tester", kind, {"n": n}, None, "C-1")


def test_a_process_moves_on_from_the_head_it_left_and_only_from_there(engine, database_url,
                                                                      clock) -> None:
    """The head as this process last left it saves reading it first; any other writer in between
    (another process, a restore) and the chain is taken up from the head as it is."""
    _append(engine, "first")
    assert _trail_statements(engine, lambda: _append(engine, "second", 2)) == ["UPDATE", "INSERT"]
    other = Engine(database_url, clock=clock)
    try:
        _append(other, "by_another_process", 3)
        assert _trail_statements(engine, lambda: _append(engine, "after_it")) == [
            "UPDATE", "UPDATE", "INSERT", "UPDATE"]  # not where it was left: read, then write
        _append(other, "and_again")
    finally:
        other.db.dispose()
    _append(engine, "last")
    verdict = _verdict(engine)
    assert verdict.ok, verdict
    with engine.transaction() as s:
        ids = s.execute(select(AuditEvent.id).order_by(AuditEvent.id)).scalars().all()
    assert ids == list(range(1, len(ids) + 1))


def test_a_head_moved_in_a_savepoint_that_rolls_back_is_not_taken_as_where_the_trail_ends(
        engine) -> None:
    _append(engine, "first")
    with engine.transaction() as s:
        audit.append(s, engine.now(), "tester", "kept", {})
        try:
            with s.begin_nested():
                audit.append(s, engine.now(), "tester", "dropped", {})
                s.execute(select(AuditEvent.id)).all()  # a read of the trail writes what is pending
                raise RuntimeError("the step failed")
        except RuntimeError:
            pass
    _append(engine, "next")
    verdict = _verdict(engine)
    assert verdict.ok, verdict
    with engine.transaction() as s:
        kinds = s.execute(select(AuditEvent.kind).order_by(AuditEvent.id)).scalars().all()
    assert kinds == ["first", "kept", "next"]
    assert "dropped" not in kinds


def test_processes_writing_at_once_keep_one_unbroken_chain(engine, database_url, clock) -> None:
    engines = [Engine(database_url, clock=clock) for _ in range(4)]
    errors: list[BaseException] = []

    def write(eng: Engine, who: int) -> None:
        try:
            for i in range(15):
                _append(eng, f"writer{who}", 1 + i % 3)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(eng, i)) for i, eng in enumerate(engines)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for eng in engines:
            eng.db.dispose()
    assert errors == []
    verdict = _verdict(engine)
    assert verdict.ok, verdict
    assert verdict.checked == 4 * (5 * 1 + 5 * 2 + 5 * 3)
