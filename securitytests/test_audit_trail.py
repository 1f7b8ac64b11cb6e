"""The audit trail is append-only and hash-chained: any edit, deletion or reordering is found."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import audit, cli
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
