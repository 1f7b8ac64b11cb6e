"""A backup of a live database restores into an empty one of either kind, and the audit goes on."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, inspect, select

from engine import Engine, audit, cli, org
from engine.backup import BackupInvalid, _decode, _encode, backup, restore
from engine.models import AuditEvent, Base, HumanTask, UTCDateTime
from engine.roles import CPP
from features.driver import AuditDriver


@pytest.fixture
def live(engine, clock, people, deploy) -> AuditDriver:  # type: ignore[no-untyped-def]
    """A deep-dive audit part way through, on the real framework processes."""
    deploy()
    with engine.transaction() as s:
        org.add_person(s, "sam.patel", "Sam Patel", job_title="Advanced Practitioner", roles=(CPP,))
    driver = AuditDriver(engine, clock)
    driver.allocate("DUD-1001", "CIN")
    first = driver.open_tasks()[0]
    driver.engine.save_draft(first.id, driver.holder(first), {"note": "draft kept"})
    driver.complete(first.spec_name)
    return driver


def _counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables}


def test_a_live_database_round_trips_and_the_audit_continues(
        live, database_url, other_database_url, clock, tmp_path, monkeypatch, capsys):
    path = tmp_path / "qaflow.backup.jsonl"
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert cli.main(["backup", str(path)]) == 0
    monkeypatch.setenv("DATABASE_URL", other_database_url)
    assert cli.main(["restore", str(path)]) == 0
    assert "audit trail intact" in capsys.readouterr().out
    restored = Engine(other_database_url, clock=clock, live_cache_size=0)
    try:
        assert _counts(restored.db) == _counts(live.engine.db)
        with live.engine.transaction() as s, restored.transaction() as r:
            assert audit.verify(s).head_hash == audit.verify(r).head_hash
        carried_on = AuditDriver(restored, clock)
        carried_on.instance_id = live.instance_id
        before = {t.id for t in carried_on.open_tasks()}
        nxt = carried_on.open_tasks()[0]
        carried_on.complete(nxt.spec_name)
        assert {t.id for t in carried_on.open_tasks()} != before
        with restored.transaction() as s:
            assert audit.verify(s).ok
            assert max(s.execute(select(HumanTask.id)).scalars()) > max(before)
    finally:
        restored.db.dispose()


def test_restore_refuses_a_database_that_is_not_empty(live, tmp_path):
    path = tmp_path / "b.jsonl"
    backup(live.engine.db, path)
    with pytest.raises(BackupInvalid, match="not empty"):
        restore(live.engine.db, path)


def test_restore_refuses_a_truncated_or_damaged_backup(live, other_database_url, tmp_path):
    path = tmp_path / "b.jsonl"
    backup(live.engine.db, path)
    lines = path.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-3]))
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("".join(lines).replace("DUD-1001", "DUD-1002", 1))
    target = Engine(other_database_url)
    try:
        with pytest.raises(BackupInvalid, match="incomplete"):
            restore(target.db, cut)
        with pytest.raises(BackupInvalid, match="damaged"):
            restore(target.db, damaged)
        assert inspect(target.db).get_table_names() == []  # refused before touching anything
    finally:
        target.db.dispose()


def test_restore_refuses_a_backup_whose_audit_trail_was_edited(live, other_database_url,
                                                               tmp_path):
    """Someone who edits an event and recomputes the file's checksum still cannot restore it."""
    import hashlib

    path = tmp_path / "b.jsonl"
    backup(live.engine.db, path)
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        doc = json.loads(line)
        if doc.get("t") == "audit_event" and doc["r"]["kind"] == "task_completed":
            doc["r"]["actor"] = "intruder"
            lines[i] = json.dumps(doc, separators=(",", ":"), ensure_ascii=False,
                                  sort_keys=True) + "\n"
            break
    trailer = json.loads(lines[-1])
    trailer["sha256"] = hashlib.sha256("".join(lines[1:-1]).encode()).hexdigest()
    lines[-1] = json.dumps(trailer, separators=(",", ":"), sort_keys=True) + "\n"
    forged = tmp_path / "forged.jsonl"
    forged.write_text("".join(lines))
    target = Engine(other_database_url)
    try:
        with pytest.raises(BackupInvalid, match="BROKEN"):
            restore(target.db, forged)
        with target.transaction() as s:
            assert s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 0
    finally:
        target.db.dispose()


def test_a_backup_file_is_portable_json_lines(live, tmp_path):
    path = Path(tmp_path / "b.jsonl")
    summary = backup(live.engine.db, path)
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert docs[0]["format"] == "qaflow-backup/1"
    assert docs[-1]["end"]
    assert summary.rows["audit_event"] == sum(1 for d in docs if d.get("t") == "audit_event")


@pytest.mark.parametrize(("kind", "value"), [
    (sa.Date(), date(2025, 12, 1)), (sa.Time(), time(9, 30)), (sa.Numeric(), Decimal("1.50")),
    (sa.LargeBinary(), b"\x00\xffbpmn"), (sa.JSON(), {"a": [1, "b"]}), (sa.Boolean(), True),
    (UTCDateTime(), datetime(2025, 12, 1, 9, tzinfo=UTC)),
])
def test_every_column_type_survives_the_json_round_trip(kind, value):
    column = sa.Column("c", kind)
    assert _decode(column, json.loads(json.dumps(_encode(column, value)))) == value
