"""A child's data: everything held can be exported; closed audits past retention are purged."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from engine import Engine, audit, cli, queries
from engine.lifecycle import DEFAULT_RETENTION_YEARS, export_child, purge, retention_years
from engine.models import (
    AuditEvent,
    Base,
    HumanTask,
    Instance,
    InstanceChange,
    InstanceState,
    Notification,
    Participant,
    Person,
)
from securitytests.conftest import open_task


def _count(engine, model, *where) -> int:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _verify(engine) -> audit.Verdict:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        return audit.verify(s)


def test_the_export_holds_every_audit_task_answer_event_and_notification(engine, clock, audits):
    queries.view_audit(engine, "tm", audits["C-1"])
    clock.advance(timedelta(days=3))
    engine.fire_due_timers()
    doc = json.loads(json.dumps(export_child(engine, "C-1", "dpo")))
    [only] = doc["audits"]
    assert (doc["child_ref"], only["id"], only["status"]) == ("C-1", audits["C-1"], "completed")
    assert {p["role"]: p["username"] for p in only["participants"]}["Auditor"] == "auditor"
    [task] = only["tasks"]
    assert task["submitted"] == {"answer": "Seen the file"}
    assert task["completed_by"] == "auditor"
    assert only["data"]["answer"] == "Seen the file"
    assert only["data"]["child_ref"] == "C-1"
    assert [e["kind"] for e in only["events"]] == ["started", "task_completed", "completed",
                                                   "viewed"]
    other = export_child(engine, "C-2")["audits"][0]
    assert other["notifications"]
    assert other["notifications"][0]["subject"].startswith("Overdue")


def test_an_export_is_recorded_in_the_trail_and_in_the_access_report(engine, audits):
    export_child(engine, "C-1", "dpo")
    with engine.transaction() as s:
        rows = audit.access_report(s, "C-1")
    assert (rows[-1].username, rows[-1].action) == ("dpo", "exported")
    assert _verify(engine).ok


def test_qaflow_export_writes_a_json_file(engine, audits, database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "sar.json"
    assert cli.main(["export", "--child", "C-2", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["audits"][0]["id"] == audits["C-2"]


def test_retention_is_75_years_unless_configured(monkeypatch):
    monkeypatch.delenv("QAFLOW_RETENTION_YEARS", raising=False)
    assert retention_years() == DEFAULT_RETENTION_YEARS == 75
    monkeypatch.setenv("QAFLOW_RETENTION_YEARS", "6")
    assert retention_years() == 6
    monkeypatch.setenv("QAFLOW_RETENTION_YEARS", "six")
    with pytest.raises(ValueError, match="whole number"):
        retention_years()


def test_nothing_is_purged_inside_the_retention_period(engine, clock, audits):
    clock.advance(timedelta(days=365 * 6 - 5))
    report = purge(engine, years=6)
    assert report.instances == []
    assert _count(engine, Instance) == 2


def test_a_dry_run_reports_and_changes_nothing(engine, clock, audits):
    clock.advance(timedelta(days=365 * 7))
    before = _count(engine, AuditEvent)
    report = purge(engine, dry_run=True, years=6)
    assert report.instances == [audits["C-1"]]
    assert report.events_redacted > 0
    assert _count(engine, Instance) == 2
    assert _count(engine, AuditEvent) == before


def test_purging_deletes_the_closed_audit_blanks_its_events_and_the_chain_still_verifies(
        engine, clock, audits):
    queries.view_audit(engine, "tm", audits["C-1"])
    export_child(engine, "C-1", "dpo")
    clock.advance(timedelta(days=365 * 7))
    events_before = _count(engine, AuditEvent)
    # The child's answers are in the audit's stored state too: whole, and a step's changes.
    for model in (InstanceState, InstanceChange):
        assert _count(engine, model, model.instance_id == audits["C-1"]) > 0
    report = purge(engine, "dpo", years=6)
    assert report.instances == [audits["C-1"]]
    for model in (Instance, HumanTask, Participant, Notification, InstanceState, InstanceChange):
        assert _count(engine, model, model.instance_id == audits["C-1"]
                      if model is not Instance else Instance.id == audits["C-1"]) == 0
    assert _count(engine, Instance, Instance.id == audits["C-2"]) == 1
    assert _count(engine, AuditEvent) == events_before + 1
    with engine.transaction() as s:
        blanked = s.execute(select(AuditEvent).where(AuditEvent.detail == audit.REDACTED)).scalars()
        assert {e.child_ref for e in blanked} == {""}
        assert s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.child_ref == "C-1")).scalar_one() == 0
        assert "C-1" not in json.dumps([e.detail for e in s.execute(select(AuditEvent)).scalars()])
        assert audit.access_report(s, "C-1") == []
    assert _verify(engine).ok


def test_after_a_purge_editing_a_blanked_event_is_still_detected(engine, clock, audits):
    clock.advance(timedelta(days=365 * 7))
    purge(engine, years=6)
    with engine.transaction() as s:
        blanked = s.execute(select(AuditEvent).where(AuditEvent.detail == audit.REDACTED)
                            .order_by(AuditEvent.id)).scalars().first()
        blanked.detail, event_id = '{"task":"made up"}', blanked.id
    verdict = _verify(engine)
    assert (verdict.ok, verdict.first_broken_id) == (False, event_id)


def test_after_a_purge_blanking_a_kept_audits_event_is_still_detected(engine, clock, audits):
    clock.advance(timedelta(days=365 * 7))
    purge(engine, years=6)
    with engine.transaction() as s:
        kept = s.execute(select(AuditEvent).where(AuditEvent.child_ref == "C-2")
                         .order_by(AuditEvent.id)).scalars().first()
        kept.child_ref, kept.detail, event_id = "", audit.REDACTED, kept.id
    verdict = _verify(engine)
    assert (verdict.ok, verdict.first_broken_id) == (False, event_id)


def test_a_running_audit_is_never_purged(engine, clock, audits):
    clock.advance(timedelta(days=365 * 200))
    engine.complete_task(open_task(engine, audits["C-2"]).id, "auditor", {"answer": "late"})
    assert purge(engine, years=6).instances == [audits["C-1"]]
    assert _count(engine, Instance, Instance.id == audits["C-2"]) == 1


def test_qaflow_purge_uses_the_configured_retention(engine, clock, audits, database_url,
                                                    monkeypatch, capsys):
    """The command reads QAFLOW_RETENTION_YEARS, and --years over it; it runs on the engine's
    clock, here the tests' (on the wall clock, the audit closed on that clock's day would pass
    a year's retention on the wall clock's own schedule)."""
    def on_the_tests_clock() -> Engine:  # disposed of when the command ends, as _engine's are
        cli._opened.append(Engine(database_url, clock=clock))
        return cli._opened[-1]

    monkeypatch.setattr(cli, "_engine", on_the_tests_clock)
    monkeypatch.setenv("QAFLOW_RETENTION_YEARS", "1")
    clock.advance(timedelta(days=300))
    assert cli.main(["purge", "--dry-run"]) == 0
    assert "would purge 0 audits" in capsys.readouterr().out
    clock.advance(timedelta(days=100))
    assert cli.main(["purge", "--dry-run"]) == 0
    assert "would purge 1 audits" in capsys.readouterr().out
    assert cli.main(["purge", "--dry-run", "--years", "2"]) == 0
    assert "would purge 0 audits" in capsys.readouterr().out
    assert cli.main(["purge", "--years", "1"]) == 0
    assert "1 years' retention" in capsys.readouterr().out
    assert _count(engine, Instance, Instance.id == audits["C-1"]) == 0
    assert _count(engine, Instance, Instance.id == audits["C-2"]) == 1
    assert cli.main(["audit-log", "verify"]) == 0


def _link_to_register(engine, audit_id: int) -> None:  # type: ignore[no-untyped-def]
    """Put the child on the register, in a schedule and in a moderation sample (Core inserts);
    add a child absent from the latest import, and one still in it, neither ever audited."""
    t = Base.metadata.tables
    now = engine.now()
    with engine.transaction() as s:
        sw = s.execute(select(Person).where(Person.username == "sw")).scalar_one()
        auditor = s.execute(select(Person).where(Person.username == "auditor")).scalar_one()
        child, _, _ = (s.execute(t["child_record"].insert().values(
            reference=ref, service_area_id=sw.team.service_area_id, team_id=sw.team_id,
            practitioner_id=sw.id, status="CIN", start_date=date(2024, 1, 1),
            in_latest_import=present, imported_at=now, updated_at=now)).inserted_primary_key[0]
            for ref, present in (("C-1", True), ("GONE-1", False), ("STILL-OPEN", True)))
        batch = s.execute(t["schedule_batch"].insert().values(
            month="2025-12", kind="monthly", theme="", criteria={}, seed=1, size=1,
            status="confirmed", supplementary_reading="", notes=[], created_by="cpp1",
            created_at=now)).inserted_primary_key[0]
        s.execute(t["schedule_allocation"].insert().values(
            batch_id=batch, position=1, child_id=child, child_ref="C-1", child_status="CIN",
            practitioner_id=sw.id, auditor_id=auditor.id, instance_id=audit_id))
        sample = s.execute(t["moderation_sample"].insert().values(
            month="2025-12", seed=1, status="confirmed", rest_count=0, created_by="cpp1",
            created_at=now)).inserted_primary_key[0]
        s.execute(t["moderation_pick"].insert().values(
            sample_id=sample, audit_id=audit_id, child_ref="C-1", grade="Good", reason="sample"))


def test_the_export_and_the_purge_reach_the_register_schedules_and_moderation(
        engine, clock, audits):
    if "moderation_pick" not in Base.metadata.tables:
        pytest.skip("the register tables are not part of this version")
    _link_to_register(engine, audits["C-1"])
    others = export_child(engine, "C-1")["other_records"]
    assert set(others) == {"child_record", "schedule_allocation", "moderation_pick"}
    clock.advance(timedelta(days=365 * 7))
    report = purge(engine, years=6)
    assert report.instances == [audits["C-1"]]
    # The child absent from the case-management export for the whole period leaves the register;
    # C-1 is still in the export, so stays on the register though its audit is gone.
    assert report.register_rows == ["GONE-1"]
    t = Base.metadata.tables
    with engine.transaction() as s:
        assert s.execute(select(func.count()).select_from(t["schedule_allocation"])).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(t["moderation_pick"])).scalar_one() == 0
        assert set(s.execute(select(t["child_record"].c.reference)).scalars()) == {
            "C-1", "STILL-OPEN"}
    assert "GONE-1" not in str(report)
    assert _verify(engine).ok

