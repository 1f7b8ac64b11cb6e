"""Step definitions: each drives the engine once, as the person named would, on a controlled clock."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from engine import FormInvalid, org
from engine.roles import CPP
from features.driver import AuditDriver, in_words
from features.driver import when as at_time

PROCESSES = Path(__file__).parents[1] / "processes"
ROLE = {
    "the Auditor": "Auditor", "the Practitioner": "Practitioner", "the Team Manager": "Team Manager",
    "the Service Manager": "Service Manager", "the Head of Service": "Head of Service",
    "the HoS for Safeguarding, Practice and Quality Assurance": "HoS Safeguarding Practice and QA",
    "CPP": "CPP",
}
STATUS = {"Child in Need": "CIN", "Child Protection": "CP", "Child in Care": "CiC"}
PREFIX = {"CIN": "cin_", "CP": "cp_", "CiC": "cic_"}
PERIOD = {"3 months": "P3M", "6 weeks": "P6W", "1 month": "P1M", "1 week": "P1W"}
WHO = (r'(?P<who>the Auditor|the Practitioner|the Team Manager|the Service Manager|'
       r'the Head of Service|the HoS for Safeguarding, Practice and Quality Assurance|CPP|"[^"]+")')
MOMENT = r"(?P<moment>\w+day \d+ \w+ \d{4} at \d{2}:\d{2})"
# Answers that steer an audit down the ordinary path when a Given drives it to a later task.
STEER = {
    "Activity_RespondToFindings": {"practitioner_agrees": True},
    "Activity_ModerateAudit": {"moderation_agrees": True},
}


def re_step(pattern: str) -> Any:
    return parsers.re(pattern.replace("{who}", WHO).replace("{moment}", MOMENT))


@pytest.fixture(autouse=True)
def _every_rule_on_each_database(database_url: str) -> None:
    """Run every scenario on SQLite and on PostgreSQL (steps ask for fixtures too late to say)."""


@pytest.fixture
def audit(engine, clock, people, deploy) -> AuditDriver:  # type: ignore[no-untyped-def]
    deploy()
    with engine.transaction() as s:
        org.add_person(s, "sam.patel", "Sam Patel", job_title="Advanced Practitioner",
                       roles=(CPP,))
    return AuditDriver(engine, clock)


def _holder_matches(driver: AuditDriver, task: Any, who: str) -> bool:
    if who.startswith('"'):
        return task.assignee is not None and task.assignee.name == who.strip('"')
    return task.role == ROLE[who]


def _open_for(driver: AuditDriver, who: str, name: str) -> list[Any]:
    return [t for t in driver.open_tasks() if t.name == name and _holder_matches(driver, t, who)]


def _drive_to(driver: AuditDriver, name: str, grade: str | None = None) -> None:
    """Complete earlier tasks with ordinary answers until the named task is open."""
    if driver.instance_id is None:
        driver.allocate("DUD-1001", "CIN")
    for _ in range(40):
        open_tasks = driver.open_tasks()
        if any(t.name == name for t in open_tasks):
            return
        candidates = [t for t in open_tasks if t.spec_name != "Activity_AddressSafetyConcern"]
        assert candidates, f"the audit cannot reach '{name}'"
        task = candidates[0]
        answers = dict(STEER.get(task.spec_name, {}))
        if task.spec_name == "Activity_CompleteAuditTool":
            answers.update(grade=grade or driver.grade or "Good", good_practice_identified=False)
        if task.spec_name == "Activity_ReauditChildFile":
            answers.update(reaudit_grade="Good", reaudit_file_still_inadequate_or_ri=False)
        driver.complete(task.spec_name, **answers)
    raise AssertionError(f"'{name}' did not open")


# -- allocation ------------------------------------------------------------------------------

@given(re_step(r'CPP allocates a "(?P<audit_type>[^"]+)" audit of the file of a child whose '
               r'status is "(?P<status>[^"]+)"'))
@when(re_step(r'CPP allocates a "(?P<audit_type>[^"]+)" audit of the file of a child whose '
              r'status is "(?P<status>[^"]+)"'))
def allocate(audit: AuditDriver, audit_type: str, status: str) -> None:
    audit.allocate("DUD-1001", STATUS[status], audit_type,
                   by="slt" if audit.bespoke_reason else "cpp1")


@given(re_step(r'the Senior Leadership Team has requested an audit of a child\'s file following '
               r'"(?P<reason>[^"]+)"'))
def slt_requests(audit: AuditDriver, reason: str) -> None:
    audit.bespoke_reason = reason


@then(re_step(r'the audit is recorded as a "(?P<audit_type>[^"]+)" audit'))
def recorded_type(audit: AuditDriver, audit_type: str) -> None:
    assert audit.instance().audit_type == audit_type


# -- who is asked to do what -----------------------------------------------------------------

@given(re_step(r'{who} has been asked to "(?P<task>[^"]+)"'))
def has_been_asked(audit: AuditDriver, who: str, task: str) -> None:
    _drive_to(audit, task)
    assert _open_for(audit, who, task)


@then(re_step(r'{who} is asked to "(?P<task>[^"]+)"'))
def is_asked(audit: AuditDriver, who: str, task: str) -> None:
    assert _open_for(audit, who, task), [(t.name, t.role) for t in audit.open_tasks()]


@then(re_step(r'{who} is not asked to "(?P<task>[^"]+)"'))
def is_not_asked(audit: AuditDriver, who: str, task: str) -> None:
    assert not _open_for(audit, who, task)


@when(re_step(r'{who} completes "(?P<task>[^"]+)"'))
def completes(audit: AuditDriver, who: str, task: str) -> None:
    [found] = _open_for(audit, who, task)
    audit.complete(found.spec_name, **STEER.get(found.spec_name, {}))


@when(re_step(r'{who} opens "(?P<task>[^"]+)"'))
def opens(audit: AuditDriver, who: str, task: str) -> None:
    [found] = _open_for(audit, who, task)
    audit.form = audit.form_of(found)


@then(re_step(r'{who} must "(?P<task>[^"]+)" by {moment}'))
def must_by(audit: AuditDriver, who: str, task: str, moment: str) -> None:
    if not _open_for(audit, who, task):
        _drive_to(audit, task)
    [found] = _open_for(audit, who, task)
    assert found.due_at is not None, f"'{task}' has no deadline"
    assert in_words(found.due_at) == moment


@when(re_step(r'{who} records the outcome "(?P<outcome>[^"]+)"'
              r'(?: and the new grade "(?P<grade>[^"]+)")?'))
def records_outcome(audit: AuditDriver, who: str, outcome: str, grade: str | None) -> None:
    [task] = [t for t in audit.open_tasks() if _holder_matches(audit, t, who)
              and "outcome" in " ".join(audit.form_of(t).get("properties", {}))]
    schema = audit.form_of(task)
    answers: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        labels = prop.get("x-enumNames", prop.get("enum", []))
        if name.endswith("_outcome"):
            answers[name] = prop["enum"][labels.index(outcome)]
        if name.endswith("_new_grade") and grade:
            answers[name] = grade
    audit.complete(task.spec_name, **answers)


# -- time ------------------------------------------------------------------------------------

@given(re_step(r"it is now {moment}"))
@when(re_step(r"it is now {moment}"))
def it_is_now(audit: AuditDriver, moment: str) -> None:
    audit.at(at_time(moment))


# -- the audit itself ------------------------------------------------------------------------

@when(re_step(r"the Auditor arranges to meet the practitioner on {moment}"))
def arranges_meeting(audit: AuditDriver, moment: str) -> None:
    _drive_to(audit, "Contact the practitioner and Team Manager and arrange a time to meet")
    meeting = at_time(moment)
    audit.complete("Activity_ArrangeMeeting", meeting_date=meeting.date().isoformat(),
                   meeting_time=f"{meeting:%H:%M}")


@when(re_step(r'the Auditor records feedback from "(?P<whom>[^"]+)"'))
def records_feedback(audit: AuditDriver, whom: str) -> None:
    child = "only" not in whom
    audit.complete("Activity_ObtainFamilyFeedback", child_feedback_appropriate=child,
                   carer_feedback_obtained=True)


@when(re_step(r'the Auditor raises a safety concern: "(?P<concern>[^"]+)"'))
def raises_safety_concern(audit: AuditDriver, concern: str) -> None:
    audit.engine.raise_safety_concern(audit.instance_id, "auditor", concern)


@then(re_step(r'the audit tool asks the targeted questions for "(?P<status>[^"]+)"'))
def asks_targeted(audit: AuditDriver, status: str) -> None:
    prefix = PREFIX[STATUS[status]]
    asked = [k for k in audit.form["properties"] if k.startswith(prefix)]
    assert asked
    assert all(k in audit.form.get("required", []) for k in asked)


@then(re_step(r'the audit tool does not ask the targeted questions for "(?P<status>[^"]+)"'))
def does_not_ask_targeted(audit: AuditDriver, status: str) -> None:
    prefix = PREFIX[STATUS[status]]
    assert not [k for k in audit.form["properties"] if k.startswith(prefix)]


@then(re_step(r'each section of the audit tool is judged "Outstanding", "Good", '
              r'"Requires Improvement" or "Inadequate"'))
def sections_judged(audit: AuditDriver) -> None:
    sections = [p for k, p in audit.form["properties"].items()
                if k.startswith("section_") and k.endswith("_grade")]
    assert len(sections) == 7
    assert all(p["enum"] == ["Outstanding", "Good", "Requires Improvement", "Inadequate"]
               for p in sections)


@when(re_step(r'the Auditor submits the audit tool with the overall judgement "(?P<grade>[^"]+)"'
              r'(?: and no stretch target for the (?P<missing>practitioner|manager))?'
              r'(?: and the good practice example "(?P<example>[^"]+)")?$'))
def submits_audit_tool(audit: AuditDriver, grade: str, missing: str | None,
                       example: str | None) -> None:
    answers: dict[str, Any] = {"grade": grade, "good_practice_identified": bool(example)}
    if example:
        answers["good_practice_example"] = example
    omit = {f"stretch_target_{missing}"} if missing else set()
    audit.grade = grade
    try:
        audit.complete("Activity_CompleteAuditTool", _omit=omit, **answers)
    except FormInvalid as exc:
        audit.rejected = exc


@then(re_step(r"the audit tool is not accepted because a stretch target for the "
              r"(?P<whom>practitioner|manager) is required"))
def not_accepted(audit: AuditDriver, whom: str) -> None:
    assert audit.rejected is not None
    assert f"stretch_target_{whom}" in audit.rejected.errors


@then(re_step(r'the audit grade is "(?P<grade>[^"]+)"'))
def audit_grade(audit: AuditDriver, grade: str) -> None:
    assert audit.instance().grade == grade


@then(re_step(r"the audit is recorded as submitted on {moment}"))
def submitted_on(audit: AuditDriver, moment: str) -> None:
    from engine.workdays import parse_when

    assert in_words(parse_when(audit.data()["audit_submitted_at"])) == moment


@then(re_step(r"the audit is closed"))
def audit_closed(audit: AuditDriver) -> None:
    assert audit.instance().status == "completed"
    assert not audit.open_tasks()


@then(re_step(r"the audit is still open"))
def audit_open(audit: AuditDriver) -> None:
    assert audit.instance().status == "running"


# -- notifications ---------------------------------------------------------------------------

def _people_in(audit: AuditDriver, recipients: str) -> list[str]:
    roles = [r for phrase, r in ROLE.items()
             if phrase.removeprefix("the ") in recipients]
    names: list[str] = []
    for role in roles:
        names.extend(audit.holders(role))
    assert names, recipients
    return names


@then(re_step(r"a notification is sent immediately to (?P<recipients>.+)$"))
def notified_now(audit: AuditDriver, recipients: str) -> None:
    for username in _people_in(audit, recipients):
        sent = [n for n in audit.notifications(username) if n.created_at == audit.clock.now()]
        assert sent, f"nothing sent to {username} at {audit.clock.now()}"


@then(re_step(r"a recognition message is sent to (?P<recipients>.+)$"))
def recognition_sent(audit: AuditDriver, recipients: str) -> None:
    for username in _people_in(audit, recipients):
        assert any("Good practice" in n.subject for n in audit.notifications(username)), username


# -- disputes --------------------------------------------------------------------------------

@given(re_step(r"the Practitioner agrees with the findings"))
@when(re_step(r"the Practitioner agrees with the findings"))
def practitioner_agrees(audit: AuditDriver) -> None:
    audit.complete("Activity_RespondToFindings", practitioner_agrees=True)


@given(re_step(r'the Practitioner disagrees with the findings because "(?P<reason>[^"]+)"'))
@when(re_step(r'the Practitioner disagrees with the findings because "(?P<reason>[^"]+)"'))
def practitioner_disagrees(audit: AuditDriver, reason: str) -> None:
    audit.complete("Activity_RespondToFindings", practitioner_agrees=False,
                   disagreement_reasons=reason)


@when(re_step(r'CPP allocates "(?P<person>[^"]+)" to hold the Restorative Conversation'))
def allocates_worker(audit: AuditDriver, person: str) -> None:
    audit.complete("Activity_AllocateRestorativeWorker",
                   restorative_worker=audit.username_of(person))


@then(re_step(r'the dispute is recorded as settled at stage (?P<stage>\d) with the outcome '
              r'"(?P<outcome>[^"]+)"'))
def dispute_settled(audit: AuditDriver, stage: str, outcome: str) -> None:
    data = audit.data()
    assert data["dispute_stage_reached"] == int(stage)
    assert data["dispute_outcome"] == outcome.replace(" ", "-")


# -- follow-up -------------------------------------------------------------------------------

@given(re_step(r'an audit graded "(?P<grade>[^"]+)" is submitted on {moment}'))
@when(re_step(r'an audit graded "(?P<grade>[^"]+)" is submitted on {moment}'))
def audit_submitted(audit: AuditDriver, grade: str, moment: str) -> None:
    audit.at(at_time(moment))
    audit.instance_id = None
    audit.grade = grade
    _drive_to(audit, "Complete the audit tool")
    audit.complete("Activity_CompleteAuditTool", grade=grade, good_practice_identified=False)


@when(re_step(r'CPP moderates the audit and gives the grade "(?P<grade>[^"]+)" because '
              r'"(?P<reason>[^"]+)"'))
def moderates(audit: AuditDriver, grade: str, reason: str) -> None:
    audit.complete("Activity_ModerateAudit", moderation_agrees=False, moderation_grade=grade,
                   moderation_reasons=reason)


@then(re_step(r'the moderation is recorded with the grade "(?P<grade>[^"]+)"'))
def moderation_recorded(audit: AuditDriver, grade: str) -> None:
    assert audit.data()["moderation_grade"] == grade


@when(re_step(r'the Head of Service re-audits the child\'s file and grades it "(?P<grade>[^"]+)"'))
def reaudits(audit: AuditDriver, grade: str) -> None:
    still = grade in ("Requires Improvement", "Inadequate")
    audit.complete("Activity_ReauditChildFile", reaudit_grade=grade,
                   reaudit_file_still_inadequate_or_ri=still, reaudit_action_plan_completed=True)


@then(re_step(r"the follow-up of the audit is complete"))
def follow_up_complete(audit: AuditDriver) -> None:
    assert not [t for t in audit.open_tasks() if t.process_id == "grading_follow_up"]


@then(re_step(r'the "(?P<task>[^"]+)" task is marked overdue'))
def marked_overdue(audit: AuditDriver, task: str) -> None:
    [found] = [t for t in audit.open_tasks() if t.name == task]
    assert found.escalated_at is not None


@then(re_step(r'{who} is told that "(?P<task>[^"]+)" is overdue'))
def told_overdue(audit: AuditDriver, who: str, task: str) -> None:
    for username in audit.holders(ROLE[who]):
        assert any(n.subject.startswith(f"Overdue: {task}") for n in audit.notifications(username))


@given(re_step(r'the policy owner changes the re-audit period from "(?P<old>[^"]+)" to '
               r'"(?P<new>[^"]+)"'))
@when(re_step(r'the policy owner changes the re-audit period from "(?P<old>[^"]+)" to '
              r'"(?P<new>[^"]+)"'))
def policy_owner_changes_period(audit: AuditDriver, deploy, tmp_path: Path, old: str,  # type: ignore[no-untyped-def]
                                new: str) -> None:
    revised = tmp_path / "revised"
    shutil.copytree(PROCESSES, revised)
    bpmn = revised / "follow-up.bpmn"
    text = bpmn.read_text()
    old_expr = f'after(audit_submitted_at, "{PERIOD[old]}")'
    # Only the re-audit deadline: the expression on the timer attached to the re-audit task.
    pattern = re.compile(r'(<bpmn:boundaryEvent id="Event_ReauditOverdue".*?)' + re.escape(old_expr),
                         re.S)
    assert pattern.search(text), "the re-audit deadline was not found"
    bpmn.write_text(pattern.sub(lambda m: m.group(1) + old_expr.replace(PERIOD[old], PERIOD[new]),
                                text, count=1))
    deployed = {d.process_id: d for d in deploy(revised, note=f"Re-audit within {new}")}
    assert deployed["grading_follow_up"].created
    assert deployed["deep_dive_audit"].created
from features.steps_monthly import *  # noqa: E402,F401,F403
