"""Upgrading to content-hashed events re-links a sound trail and refuses a tampered one."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from engine import Engine, audit
from engine.migrate import upgrade
from engine.models import AuditEvent

OLD_GENESIS = "0" * 64


def _old_chain(engine: Engine, n: int) -> str:
    """Write n events the way revision 0001 chained them; return the head hash."""
    prev, at = OLD_GENESIS, datetime(2025, 1, 1, 9, tzinfo=UTC)
    with engine.db.begin() as conn:
        for i in range(1, n + 1):
            when = at + timedelta(minutes=i)
            detail = json.dumps({"task": f"task {i}"})
            body = json.dumps([i, when.isoformat(), "auditor", "task_completed", 7, "C-1", detail],
                              separators=(",", ":"), ensure_ascii=False)
            link = hashlib.sha256((prev + body).encode()).hexdigest()
            stored = when.replace(tzinfo=None) if engine.db.dialect.name == "sqlite" else when
            conn.execute(text(
                "INSERT INTO audit_event (id, at, actor, kind, instance_id, child_ref, detail, "
                "prev_hash, hash) VALUES (:id, :at, 'auditor', 'task_completed', 7, 'C-1', "
                ":detail, :prev, :hash)"), {"id": i, "at": stored, "detail": detail,
                                            "prev": prev, "hash": link})
            prev = link
        conn.execute(text("UPDATE audit_head SET last_id = :n, last_hash = :h"), {"n": n, "h": prev})
    return prev


@pytest.fixture
def at_0001(database_url: str, clock) -> Engine:  # type: ignore[no-untyped-def]
    engine = Engine(database_url, clock=clock, live_cache_size=0)
    upgrade(engine.db, "0001")
    yield engine
    engine.db.dispose()


def test_upgrading_re_links_the_trail_and_records_the_old_head(at_0001):
    old_head = _old_chain(at_0001, 5)
    upgrade(at_0001.db)
    with at_0001.transaction() as s:
        verdict = audit.verify(s)
        last = s.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
    assert verdict.ok
    assert verdict.checked == 6
    assert last.kind == "audit_chain_upgraded"
    assert json.loads(last.detail) == {"events": 5, "migration": "0002", "previous_head": old_head}


def test_upgrading_refuses_a_trail_that_was_tampered_with(at_0001):
    _old_chain(at_0001, 3)
    with at_0001.db.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'intruder' WHERE id = 2"))
    with pytest.raises(RuntimeError, match="broken at event 2"):
        upgrade(at_0001.db)


def test_an_empty_database_upgrades_without_an_upgrade_event(at_0001):
    upgrade(at_0001.db)
    with at_0001.transaction() as s:
        assert audit.verify(s).checked == 0
