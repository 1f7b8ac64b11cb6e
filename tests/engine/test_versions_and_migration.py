"""A policy owner's revision of the real framework: old audits keep old rules, new ones follow
the new, safe migrations move an old audit onto the new rules, and unsafe ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import Engine, FrozenClock, NotAllowed, drafts, migration_service, org, versions
from engine.audit import verify
from engine.definitions import Bundle
from engine.models import AuditEvent, HumanTask, Instance
from engine.roles import CPP
from features.driver import AuditDriver
from tests.revision import MEDIATION_NAME, copy_processes, revise

ALLOCATE = "Allocate a worker to hold a Restorative Conversation"
REAUDIT = "Re-audit the child's file"
FIRST_STEPS = ("Activity_ArrangeMeeting", "Activity_UpdateChildFile",
               "Activity_UndertakeAuditTogether", "Activity_ObtainFamilyFeedback")


@pytest.fixture
def framework(engine: Engine, people: dict[str, str], tmp_path: Path) -> dict[str, Path]:
    """The framework as deployed (version 1 of each process) and the revision, not yet deployed."""
    with engine.transaction() as s:
        org.add_person(s, "sam.patel", "Sam Patel", job_title="Advanced Practitioner", roles=(CPP,))
    original = copy_processes(tmp_path / "original")
    engine.deploy(Bundle.from_paths([original]), "policy", "The framework, October 2023")
    return {"original": original, "revised": revise(tmp_path / "revised")}


def _deploy_revision(engine: Engine, folder: Path) -> None:
    engine.deploy(Bundle.from_paths([folder]), "policy",
                  "Re-audit within six weeks; the Team Manager mediates a dispute first")


def _audit(engine: Engine, clock: FrozenClock, child: str) -> AuditDriver:
    driver = AuditDriver(engine, clock)
    driver.allocate(child, "CIN")
    return driver


def _to_dispute(driver: AuditDriver) -> list[str]:
    """Grade Requires Improvement, disagree, fail to resolve it with the auditor; return what opens."""
    for name in FIRST_STEPS:
        if any(t.spec_name == name for t in driver.open_tasks()):
            driver.complete(name)
    driver.complete("Activity_CompleteAuditTool", grade="Requires Improvement",
                    good_practice_identified=False)
    driver.complete("Activity_RespondToFindings", practitioner_agrees=False,
                    disagreement_reasons="The risks were overstated")
    driver.complete("Activity_DiscussFindings", dispute_stage1_outcome="unresolved")
    return [t.name for t in driver.open_tasks()]


def _through_dispute_to_reaudit(driver: AuditDriver) -> datetime:
    """Settle the dispute by Restorative Conversation, do the follow-up; return the re-audit's due time."""
    if any(t.name == MEDIATION_NAME for t in driver.open_tasks()):
        driver.complete(MEDIATION_NAME)
    driver.complete(ALLOCATE, restorative_worker="sam.patel")
    driver.complete("Activity_HoldRestorativeConversation",
                    dispute_stage2_outcome="resolved-grade-stands")
    for name in ("Activity_AcknowledgeGrading", "Activity_FollowUpRemedialActions",
                 "Activity_SignOffActions"):
        driver.complete(name)
    due = driver.task(REAUDIT).due_at
    assert due is not None
    return due


def _submitted_at(driver: AuditDriver) -> datetime:
    return datetime.fromisoformat(driver.data()["audit_submitted_at"])


def _version(engine: Engine, driver: AuditDriver) -> int:
    with engine.transaction() as s:
        return s.get(Instance, driver.instance_id).process_version.version


def test_audits_started_before_a_revision_keep_the_old_rules_and_later_ones_follow_the_new(
        engine, clock, framework) -> None:
    before = _audit(engine, clock, "DUD-OLD")
    _deploy_revision(engine, framework["revised"])
    after = _audit(engine, clock, "DUD-NEW")

    assert _to_dispute(before) == [ALLOCATE]
    assert _to_dispute(after) == [MEDIATION_NAME]
    assert after.task(MEDIATION_NAME).role == "Team Manager"
    assert after.holder(after.task(MEDIATION_NAME)) == "tm"

    old_due = _through_dispute_to_reaudit(before)
    new_due = _through_dispute_to_reaudit(after)
    assert _submitted_at(before) == _submitted_at(after) == datetime(2025, 12, 1, 9, tzinfo=UTC)
    assert old_due == datetime(2026, 3, 1, 9, tzinfo=UTC)  # three calendar months
    assert new_due == datetime(2026, 1, 12, 9, tzinfo=UTC)  # six weeks
    assert (_version(engine, before), _version(engine, after)) == (1, 2)


def test_a_safe_migration_moves_an_old_audit_which_then_follows_the_new_rules(
        engine, clock, framework) -> None:
    old = _audit(engine, clock, "DUD-MOVE")
    old.complete("Activity_ArrangeMeeting")
    _deploy_revision(engine, framework["revised"])

    [verdict] = migration_service.preview(engine, "deep_dive_audit")
    assert verdict.movable, verdict.reasons
    assert (verdict.from_version, verdict.to_version) == (1, 2)
    migration_service.migrate(engine, old.instance_id, "policy")

    assert _version(engine, old) == 2
    assert [t.name for t in old.open_tasks()] == ["Make sure the child's electronic file is up to date"]
    assert _to_dispute(old) == [MEDIATION_NAME]
    due = _through_dispute_to_reaudit(old)
    assert due == _submitted_at(old) + timedelta(weeks=6)
    [event] = old.events("migrated")
    assert event.actor == "policy"
    assert '"from_version": 1' in event.detail
    assert '"to_version": 2' in event.detail
    with engine.transaction() as s:
        assert verify(s).ok


def test_a_migrated_audit_keeps_its_open_task_draft_and_deadline(engine, clock, framework) -> None:
    driver = _audit(engine, clock, "DUD-DRAFT")
    task = driver.task("Activity_ArrangeMeeting")
    engine.save_draft(task.id, "auditor", {"meeting_date": "2025-12-05"})
    _deploy_revision(engine, framework["revised"])
    migration_service.migrate(engine, driver.instance_id, "policy")
    [same] = driver.open_tasks()
    assert (same.id, same.task_uuid, same.draft) == (task.id, task.task_uuid,
                                                      {"meeting_date": "2025-12-05"})


def test_an_audit_whose_running_deadline_changed_cannot_move(engine, clock, framework) -> None:
    waiting = _audit(engine, clock, "DUD-WAIT")
    _to_dispute(waiting)
    old_due = _through_dispute_to_reaudit(waiting)
    _deploy_revision(engine, framework["revised"])

    [verdict] = migration_service.preview(engine, "deep_dive_audit")
    assert not verdict.movable
    assert verdict.where == ("Discuss the audit in supervision with the practitioner", REAUDIT)
    assert any("Three months after the initial audit" in r and "timer" in r for r in verdict.reasons)
    with engine.transaction() as s:
        state = s.get(Instance, waiting.instance_id).state
    with pytest.raises(NotAllowed, match="Three months after the initial audit"):
        migration_service.migrate(engine, waiting.instance_id, "policy")
    with engine.transaction() as s:
        inst = s.get(Instance, waiting.instance_id)
        assert (inst.process_version.version, inst.state) == (1, state)
    assert waiting.task(REAUDIT).due_at == old_due
    assert waiting.events("migrated") == []


def test_an_audit_past_a_changed_step_of_its_dispute_cannot_move(engine, clock, framework) -> None:
    disputed = _audit(engine, clock, "DUD-DISPUTE")
    _to_dispute(disputed)
    _deploy_revision(engine, framework["revised"])
    [verdict] = migration_service.preview(engine, "deep_dive_audit")
    assert verdict.where == (ALLOCATE,)
    assert "‘Resolved with the auditor?’ has been done in this audit and the new version " \
           "changes its conditions, what comes after it" in verdict.reasons


def test_moving_many_audits_moves_each_that_can_and_says_why_not_for_the_rest(
        engine, clock, framework) -> None:
    movable = [_audit(engine, clock, f"DUD-{n}") for n in range(2)]
    stuck = _audit(engine, clock, "DUD-STUCK")
    _to_dispute(stuck)
    _deploy_revision(engine, framework["revised"])
    moved, refused = migration_service.migrate_many(
        engine, [d.instance_id for d in (*movable, stuck)], "policy")
    assert [v.instance_id for v in moved] == [d.instance_id for d in movable]
    assert list(refused) == [stuck.instance_id]
    assert "Resolved with the auditor?" in refused[stuck.instance_id]
    assert [_version(engine, d) for d in (*movable, stuck)] == [2, 2, 1]
    with engine.transaction() as s:
        kinds = s.execute(select(AuditEvent.instance_id).where(AuditEvent.kind == "migrated")
                          .order_by(AuditEvent.id)).scalars().all()
    assert kinds == [d.instance_id for d in movable]


def test_an_audit_on_the_newest_version_or_finished_is_not_moved(engine, clock, framework) -> None:
    driver = _audit(engine, clock, "DUD-NEWEST")
    with pytest.raises(NotAllowed, match="already on version 1"):
        migration_service.migrate(engine, driver.instance_id, "policy")
    assert migration_service.preview(engine, "deep_dive_audit") == []


def test_what_changed_reads_as_sentences(engine, framework) -> None:
    _deploy_revision(engine, framework["revised"])
    changes = versions.compare_versions(engine, "deep_dive_audit", 1, 2)
    text = [f"{c.where}: {c.text}" for c in changes]
    follow_up = "Follow-up and re-audit of Requires Improvement and Inadequate audits"
    dispute = "Dispute resolution: the practitioner disagrees with the findings"
    assert f"{follow_up}: “Re-audit the child's file”: deadline changed from " \
           'after(audit_submitted_at, "P3M") to after(audit_submitted_at, "P6W") ' \
           "(3 months to 6 weeks)" in text
    assert f"{follow_up}: Deadline renamed from “Three months after the initial audit” to " \
           "“Six weeks after the initial audit”" in text
    assert f"{dispute}: Lane added: “Team Manager”" in text
    assert f"{dispute}: Task added: “{MEDIATION_NAME}” (lane “Team Manager”, form " \
           "dispute-mediation.schema.json)" in text
    assert f"{dispute}: Flow “Unresolved” now runs from “Resolved with the auditor?” to " \
           f"“{MEDIATION_NAME}”" in text
    assert f"Form dispute-mediation.schema.json: Form added: “{MEDIATION_NAME}”" in text
    assert not any("Deep Dive Audit" in t for t in text), "deep-dive-audit.bpmn did not change"
    assert versions.compare_versions(engine, "deep_dive_audit", 2, 2) == []


def test_a_form_change_is_described_question_by_question() -> None:
    old = b'{"type": "object", "title": "Re-audit", "required": ["a"], "properties": {' \
          b'"a": {"type": "string", "title": "Date"}, "b": {"type": "string", "title": "Grade", ' \
          b'"enum": ["Good", "Inadequate"]}, "c": {"type": "boolean", "title": "Done"}}}'
    new = b'{"type": "object", "title": "Re-audit", "required": ["a", "b"], "properties": {' \
          b'"a": {"type": "string", "title": "Date of the re-audit"}, "b": {"type": "string", ' \
          b'"title": "Grade", "enum": ["Good", "Requires Improvement", "Inadequate"]}, ' \
          b'"d": {"type": "string", "title": "Findings"}}}'
    text = [c.text for c in versions.compare({"f.json": old}, {"f.json": new})]
    assert text == [
        "Question reworded from “Date” to “Date of the re-audit”",
        "“Grade”: answers changed from Good, Inadequate to Good, Requires Improvement, Inadequate",
        "Question removed: “Done”",
        "Question added: “Findings”",
        "“Grade” is now required",
    ]


def test_editing_a_called_process_gives_its_callers_a_new_version_too(engine, framework) -> None:
    changed = {name: (framework["revised"] / name).read_bytes()
               for name in ("dispute-resolution.bpmn", "dispute-mediation.schema.json")}
    review = drafts.review(engine, "dispute_resolution", 1, changed)
    assert review.ok, review.problems
    assert [(p.process_id, p.from_version, p.to_version) for p in review.planned] == [
        ("deep_dive_audit", 1, 2), ("dispute_resolution", 1, 2)]
    deployed = drafts.deploy(engine, "dispute_resolution", 1, changed, "policy", "Mediation first",
                             review.base)
    assert {(d.process_id, d.version, d.created) for d in deployed} >= {
        ("deep_dive_audit", 2, True), ("dispute_resolution", 2, True),
        ("grading_follow_up", 1, False)}
    files = versions.files(engine, "deep_dive_audit", 2)
    assert files["dispute-resolution.bpmn"] == changed["dispute-resolution.bpmn"]
    assert files["follow-up.bpmn"] == (framework["original"] / "follow-up.bpmn").read_bytes()


def test_a_draft_reviewed_before_someone_else_deployed_is_not_deployed(engine, framework) -> None:
    changed = {"follow-up.bpmn": (framework["revised"] / "follow-up.bpmn").read_bytes()}
    review = drafts.review(engine, "grading_follow_up", 1, changed)
    _deploy_revision(engine, framework["revised"])
    with pytest.raises(Exception, match="Someone deployed a new version"):
        drafts.deploy(engine, "grading_follow_up", 1, changed, "policy", "Six weeks", review.base)


def test_a_process_sharing_only_a_form_name_is_left_alone(engine, framework) -> None:
    fixtures = Path(__file__).parents[1] / "fixtures" / "processes"
    engine.deploy(Bundle.from_paths([fixtures]), "policy", "the fixture process")
    form = (framework["original"] / "arrange-meeting.schema.json").read_bytes()
    changed = {"arrange-meeting.schema.json": form.replace(b"arrange a time", b"agree a time")}
    assert changed["arrange-meeting.schema.json"] != form
    review = drafts.review(engine, "deep_dive_audit", 1, changed)
    assert [p.process_id for p in review.planned] == ["deep_dive_audit"]


def test_a_version_lists_who_deployed_it_when_why_its_digest_and_its_audits(
        engine, clock, framework) -> None:
    _audit(engine, clock, "DUD-COUNT")
    _deploy_revision(engine, framework["revised"])
    rows = {p.process_id: p for p in versions.processes(engine)}
    deep = rows["deep_dive_audit"]
    assert [v.version for v in deep.versions] == [2, 1]
    first = deep.versions[1]
    assert (first.deployed_by, first.note, first.running, first.total, first.latest) == (
        "policy", "The framework, October 2023", 1, 1, False)
    assert first.deployed_by_name == "Pat Owen"
    assert len(first.digest) == 64
    v1 = versions.version(engine, "deep_dive_audit", 1)
    stored = versions.files(engine, "deep_dive_audit", 1)
    assert {f.name for f in v1.files} == set(stored)
    assert stored["follow-up.bpmn"] == (framework["original"] / "follow-up.bpmn").read_bytes()
    with engine.transaction() as s:
        assert s.execute(select(HumanTask.id)).first() is not None


def test_a_change_the_summary_cannot_describe_is_not_called_a_layout_change(framework) -> None:
    original = (framework["original"] / "deep-dive-audit.bpmn").read_bytes()
    moved = original.replace(b'<dc:Bounds x="160" y="80"', b'<dc:Bounds x="170" y="80"', 1)
    signal = original.replace(b'name="safety_concern_raised"', b'name="safety_concern"', 1)
    assert moved != original
    assert signal != original
    old = {"deep-dive-audit.bpmn": original}
    assert [c.text for c in versions.compare(old, {"deep-dive-audit.bpmn": moved})] == [
        versions.LAYOUT_ONLY]
    assert [c.text for c in versions.compare(old, {"deep-dive-audit.bpmn": signal})] == [
        versions.OTHER_DETAILS]
