"""An access report lists everyone who viewed, changed or was sent anything of a child's audits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import audit, cli, queries
from engine.errors import NotFound
from securitytests.conftest import open_task


def _report(engine, child_ref: str) -> list[audit.Access]:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        return audit.access_report(s, child_ref)


def test_the_report_lists_who_started_viewed_and_changed_the_childs_audit(engine, audits):
    queries.view_audit(engine, "tm", audits["C-1"])
    queries.view_audit(engine, "spqa", audits["C-1"])
    rows = [(r.username, r.action, r.what, r.audit_id) for r in _report(engine, "C-1")]
    assert rows == [
        ("cpp1", "changed", "started the audit", audits["C-1"]),
        ("auditor", "changed", "completed 'Do one'", audits["C-1"]),
        ("auditor", "changed", "finished the audit", audits["C-1"]),
        ("tm", "viewed", "viewed the audit", audits["C-1"]),
        ("spqa", "viewed", "viewed the audit", audits["C-1"]),
    ]
    assert [r.name for r in _report(engine, "C-1")][-2:] == ["Tia Morgan", "Sita Patel"]


def test_a_refused_look_at_an_audit_is_a_404_to_them_and_a_line_in_the_report(engine, audits):
    # The policy owner takes part in no audit: to them the audit does not exist...
    with pytest.raises(NotFound) as refused:
        queries.view_audit(engine, "policy", audits["C-1"])
    with pytest.raises(NotFound) as missing:
        queries.view_audit(engine, "policy", 999_999)
    assert str(refused.value) == str(missing.value)
    # ...but the attempt is in the trail, in the report, and the chain still verifies.
    rows = [(r.username, r.action, r.what) for r in _report(engine, "C-1")]
    assert rows[-1] == ("policy", "refused", "asked to see the audit and was refused")
    with engine.transaction() as s:
        assert audit.verify(s).ok


def test_another_childs_audit_is_not_in_the_report(engine, audits):
    queries.view_audit(engine, "tm", audits["C-2"])
    assert {r.audit_id for r in _report(engine, "C-1")} == {audits["C-1"]}
    assert [(r.username, r.action) for r in _report(engine, "C-2")] == [
        ("cpp1", "changed"), ("tm", "viewed")]


def test_claims_drafts_and_escalation_notices_are_listed(engine, clock, audits):
    task = open_task(engine, audits["C-2"])
    engine.save_draft(task.id, "auditor", {"answer": "half done"})
    clock.advance(timedelta(days=3))
    engine.fire_due_timers()
    rows = _report(engine, "C-2")
    assert ("auditor", "changed", "saved a draft of 'Do one'") in [
        (r.username, r.action, r.what) for r in rows]
    notified = [r for r in rows if r.action == "notified"]
    assert notified
    assert all(r.what.startswith("was sent 'Overdue: Do one") for r in notified)
    assert all(r.username != "system" for r in rows)


def test_qaflow_access_report_prints_the_rows_and_is_itself_recorded(engine, audits, database_url,
                                                                    monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert cli.main(["audit-log", "access-report", "--child", "C-1", "--actor", "dpo"]) == 0
    out = capsys.readouterr().out
    assert "auditor (Ada Ruiz)  changed" in out
    assert "3 accesses to the audits of C-1" in out
    assert cli.main(["audit-log", "access-report", "--child", "C-1"]) == 0
    assert "dpo (not a known person)  reported" in capsys.readouterr().out
    with engine.transaction() as s:
        assert audit.verify(s).ok
