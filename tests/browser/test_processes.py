"""A policy owner in the browser: versions, the modeler's own saved files deployed and run, a
problem shown on the diagram, a revision uploaded, checked and deployed, audits moved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from engine import Engine, FrozenClock, versions
from engine.definitions import Bundle
from engine.models import Instance
from features.driver import AuditDriver
from tests.browser.conftest import axe_violations, shot
from tests.browser.test_walkthrough import sign_in
from tests.revision import MEDIATION_FORM, copy_processes, revise

OWNER = "policy.olivia"
FILES = [("deep-dive-audit.bpmn", "deep_dive_audit"), ("dispute-resolution.bpmn", "dispute_resolution"),
         ("follow-up.bpmn", "grading_follow_up")]
# The answers that take an audit through every pathway: a dispute that reaches the HoS for
# Safeguarding, Practice and QA, a Requires Improvement follow-up, and a re-audit.
ANSWERS: dict[str, dict[str, Any]] = {
    "Activity_CompleteAuditTool": {"grade": "Requires Improvement", "good_practice_identified": False},
    "Activity_RespondToFindings": {"practitioner_agrees": False, "disagreement_reasons": "Too harsh"},
    "Activity_DiscussFindings": {"dispute_stage1_outcome": "unresolved"},
    "Activity_AllocateRestorativeWorker": {"restorative_worker": "cpp.carla"},
    "Activity_HoldRestorativeConversation": {"dispute_stage2_outcome": "unresolved"},
    "Activity_DecideDispute": {"dispute_stage3_outcome": "grade-stands"},
    "Activity_ReauditChildFile": {"reaudit_grade": "Good",
                                  "reaudit_file_still_inadequate_or_ri": False},
}


@pytest.fixture
def framework(web_engine: Engine, tmp_path: Path) -> dict[str, Path]:
    original = copy_processes(tmp_path / "original")
    web_engine.deploy(Bundle.from_paths([original]), OWNER, "The framework, October 2023")
    return {"original": original, "revised": revise(tmp_path / "revised")}


def _start(engine: Engine, child: str) -> int:
    return engine.start("deep_dive_audit", "cpp.chris", {
        "child_ref": child, "child_status": "CP", "audit_type": "monthly",
        "supplementary_reading": ""}, practitioner="sw.paul", auditor="aud.aisha")


def _walk(engine: Engine, clock: FrozenClock, audit_id: int) -> list[tuple[str, ...]]:
    """Do every task the audit asks for, in a fixed order; return what was open at each step."""
    driver = AuditDriver(engine, clock)
    driver.instance_id = audit_id
    seen: list[tuple[str, ...]] = []
    for _ in range(60):
        tasks = sorted(driver.open_tasks(), key=lambda t: t.spec_name)
        if not tasks:
            break
        seen.append(tuple(f"{t.spec_name} ({t.role}, due {t.due_at})" for t in tasks))
        driver.complete(tasks[0].spec_name, **ANSWERS.get(tasks[0].spec_name, {}))
    assert driver.instance().status == "completed", seen[-1]
    return seen


def _open_modeler(page: Any, base: str, process_id: str, number: int, name: str) -> None:
    page.goto(f"{base}/processes/{process_id}/v{number}/edit/{name}")
    expect(page.locator("#modeler")).to_have_attribute("data-ready", "true", timeout=20000)


def test_files_saved_by_the_modeler_deploy_and_run_unchanged(
        framework: dict[str, Path], web_engine: Engine, web_clock: FrozenClock, page: Any,
        live_server: str) -> None:
    before = _start(web_engine, "CH-700001")
    sign_in(page, live_server, OWNER)
    for name, process_id in FILES:
        number = versions.latest(web_engine, process_id).version
        _open_modeler(page, live_server, process_id, number, name)
        page.click("#check-button")
        expect(page.locator("#check-result")).to_contain_text("No problems found")
        page.click("#continue-button")
        expect(page.locator("h1")).to_have_text("Check your changes before deploying")
        # What changed is worked out from the saved XML: any lost name, form, lane, timer or
        # condition would be listed here.
        expect(page.locator(".app-changes li")).to_have_text([
            "Only the diagram's layout or the file's formatting changed; the process runs as before"])
        page.fill("#note", f"{name} saved by the bpmn-js modeler")
        page.click("button:has-text('Deploy')")
        expect(page.locator(".govuk-notification-banner--success")).to_contain_text("Deployed")
    newest = versions.latest(web_engine, "deep_dive_audit")
    assert newest.version == 4
    stored = versions.files(web_engine, "deep_dive_audit", newest.version)
    for name, _ in FILES:
        assert stored[name] != (framework["original"] / name).read_bytes(), name
    after = _start(web_engine, "CH-700002")
    with web_engine.transaction() as s:
        assert s.get(Instance, after).process_version.version == 4
        assert s.get(Instance, before).process_version.version == 1
    assert _walk(web_engine, web_clock, after) == _walk(web_engine, web_clock, before)
    assert page.problems == []


def test_a_problem_is_listed_and_outlined_on_the_diagram(framework, page: Any,
                                                         live_server: str) -> None:
    sign_in(page, live_server, OWNER)
    _open_modeler(page, live_server, "grading_follow_up", 1, "follow-up.bpmn")
    shot(page, "processes-05-modeler")
    assert axe_violations(page) == []
    page.locator('g.djs-element[data-element-id="Event_ReauditOverdue"]').click()
    expect(page.locator("#element-form")).to_be_visible()
    expect(page.locator("#element-timer")).to_have_value('after(audit_submitted_at, "P3M")')
    page.fill("#element-timer", "after(audit_submitted_at, ().__class__)")
    page.click("button:has-text('Apply to the diagram')")
    page.click("#check-button")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("follow-up.bpmn, Event_ReauditOverdue: timer expression refused")
    expect(page.locator("#check-summary")).to_be_focused()
    marked = page.locator('g.djs-element.qa-problem[data-element-id="Event_ReauditOverdue"]')
    expect(marked).to_have_count(1)
    assert page.title().startswith("Error: ")
    summary.locator("a").first.click()
    expect(page.locator('g.djs-element.selected[data-element-id="Event_ReauditOverdue"]')
           ).to_have_count(1)
    shot(page, "processes-06-modeler-problem")
    page.fill("#element-timer", 'after(audit_submitted_at, "P6W")')
    page.click("button:has-text('Apply to the diagram')")
    page.locator('g.djs-element[data-element-id="Activity_ReauditChildFile"]').click()
    expect(page.locator("#element-form-file")).to_have_value("reaudit.schema.json")
    page.fill("#element-form-file", "re-audit.schema.json")
    page.click("button:has-text('Apply to the diagram')")
    page.click("#check-button")
    expect(summary).to_contain_text(
        "Activity_ReauditChildFile: form file 're-audit.schema.json' does not exist")
    page.fill("#element-form-file", "reaudit.schema.json")
    page.click("button:has-text('Apply to the diagram')")
    page.click("#check-button")
    expect(page.locator("#check-result")).to_contain_text("No problems found")
    expect(page.locator("g.djs-element.qa-problem")).to_have_count(0)
    page.click("#continue-button")
    expect(page.locator("main")).to_contain_text("(3 months to 6 weeks)")
    assert page.problems == []


def test_a_policy_owner_reviews_deploys_and_moves_audits(
        framework: dict[str, Path], web_engine: Engine, web_clock: FrozenClock, page: Any,
        live_server: str) -> None:
    waiting = _start(web_engine, "CH-700010")
    movable = _start(web_engine, "CH-700011")
    driver = AuditDriver(web_engine, web_clock)
    driver.instance_id = waiting
    for spec in ("Activity_ArrangeMeeting", "Activity_UpdateChildFile",
                 "Activity_UndertakeAuditTogether", "Activity_ObtainFamilyFeedback",
                 "Activity_CompleteAuditTool", "Activity_RespondToFindings",
                 "Activity_DiscussFindings"):
        driver.complete(spec, **ANSWERS.get(spec, {}))
    sign_in(page, live_server, OWNER)
    page.goto(f"{live_server}/processes")
    shot(page, "processes-01-processes")
    assert axe_violations(page) == []
    page.click("text=Deep Dive Audit Process and Feedback Loop")
    shot(page, "processes-02-process-versions")
    assert axe_violations(page) == []
    page.click("a:has-text('View the newest version')")
    expect(page.locator("#diagrams")).to_have_attribute("data-ready", "true", timeout=20000)
    shot(page, "processes-03-version")
    assert axe_violations(page) == []

    page.click("a:has-text('Upload changed files')")
    revised = framework["revised"]
    page.set_input_files("#files", [str(revised / n) for n in (
        "follow-up.bpmn", "dispute-resolution.bpmn", MEDIATION_FORM)])
    page.click("button:has-text('Check the files')")
    expect(page.locator("h1")).to_have_text("Check your changes before deploying")
    expect(page.locator("main")).to_contain_text("(3 months to 6 weeks)")
    shot(page, "processes-04-review")
    assert axe_violations(page) == []
    page.click("button:has-text('Deploy')")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Say what changed and why")
    page.fill("#note", "Re-audit within six weeks; the Team Manager mediates a dispute first")
    page.click("button:has-text('Deploy')")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        "Deep Dive Audit Process and Feedback Loop, version 2")

    page.goto(f"{live_server}/processes/deep_dive_audit/compare")
    expect(page.locator("main")).to_contain_text("Lane added: “Team Manager”")
    shot(page, "processes-07-compare")
    assert axe_violations(page) == []

    page.goto(f"{live_server}/processes/deep_dive_audit/migrate")
    expect(page.locator("caption:has-text('Can move (1)')")).to_be_visible()
    expect(page.locator("caption:has-text('Cannot move (1)')")).to_be_visible()
    expect(page.locator("main")).to_contain_text("‘Resolved with the auditor?’ has been done")
    shot(page, "processes-08-migrate")
    assert axe_violations(page) == []
    page.click(f"button[form='move-{movable}']")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        f"Moved 1 audit to version 2: audit {movable}.")
    with web_engine.transaction() as s:
        assert s.get(Instance, movable).process_version.version == 2
        assert s.get(Instance, waiting).process_version.version == 1
    assert page.problems == []


def test_a_refused_upload_outlines_the_problem_on_the_diagram(framework, page: Any,
                                                              live_server: str,
                                                              tmp_path: Path) -> None:
    bad = tmp_path / "follow-up.bpmn"
    bad.write_bytes((framework["original"] / "follow-up.bpmn").read_bytes().replace(
        b'grade == "Inadequate"</bpmn:conditionExpression>',
        b'__import__("os").system("id")</bpmn:conditionExpression>', 1))
    sign_in(page, live_server, OWNER)
    page.goto(f"{live_server}/processes/grading_follow_up/v1/upload")
    page.set_input_files("#files", [str(bad)])
    page.click("button:has-text('Check the files')")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Flow_Inadequate")
    box = page.locator(".app-draft-diagram")
    expect(box).to_have_attribute("data-ready", "true", timeout=20000)
    expect(box.locator('g.djs-element.qa-problem[data-element-id="Flow_Inadequate"]')
           ).to_have_count(1)
    shot(page, "processes-09-upload-refused")
    assert axe_violations(page) == []
    assert page.problems == []
