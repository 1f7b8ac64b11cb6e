"""Every route, every kind of person: who may reach what, with real audits and tasks.

The expected access is written out below, route by route and role by role. A new route with
no line in ACCESS makes `test_every_route_has_an_access_rule` fail, so nobody can add a page
without deciding who may see it. The rules, per person:

- allowed: 200 or a redirect (302); 400 for a policy owner's malformed upload, and 404 for a
  CPP planning object that does not exist (batch, allocation, sample ids are made up);
- not allowed: 404, exactly as for a thing that does not exist, never 403;
- signed out: a redirect to the sign-in page;
- never a 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import Engine
from engine.demo import DEMO_PASSWORD
from engine.models import HumanTask
from tests.conftest import FIXTURE_PROCESS, open_task

# The people: one of each kind, all from the demo organisation (engine/demo.py).
ROLES: dict[str, str | None] = {
    "practitioner": "sw.paul",      # Child Protection Team, CIN/CP
    "tm": "tm.cp",                  # sw.paul's team manager
    "sm": "sm.cin",                 # service manager, CIN/CP
    "hos": "hos.cin",               # head of service, CIN/CP
    "auditor": "aud.aisha",         # a CiC team manager who audits CIN/CP work
    "cpp": "cpp.chris",
    "hos_spqa": "spqa.head",
    "policy_owner": "policy.olivia",
    "slt": "slt.director",          # manages both heads of service
    "signed_out": None,
}

# The audits (see `world`): A1 sw.paul/aud.aisha (at sw.paul's task), A2 sw.peter/aud.alex
# (CiC, at aud.alex's task), A3 sw.priya/aud.aisha (at CPP's moderation group task),
# A4 sw.amira/aud.aisha (at aud.aisha's task).
AUDITS = ("A1", "A2", "A3", "A4")
TASKS = ("T_paul", "T_alex", "T_cpp", "T_aisha")

# Who may see which audit: its participants, their line managers, CPP and the HoS SPQA.
SEES: dict[str, set[str]] = {
    "practitioner": {"A1"},
    "tm": {"A1"},
    # A2's auditor aud.alex is in sm.cin's line, and an auditor's managers may see the audit.
    "sm": {"A1", "A2", "A3", "A4"},
    "hos": {"A1", "A2", "A3", "A4"},
    "auditor": {"A1", "A3", "A4"},
    "cpp": {"A1", "A2", "A3", "A4"},
    "hos_spqa": {"A1", "A2", "A3", "A4"},
    "policy_owner": set(),
    "slt": {"A1", "A2", "A3", "A4"},   # line manager of both heads of service
    "signed_out": set(),
}
# Audits on which the person is the auditor (the safety-concern page).
AUDITS_AS_AUDITOR: dict[str, set[str]] = {"auditor": {"A1", "A3", "A4"}}
# Tasks the person holds: assigned to them, or (T_cpp) claimed by them.
HOLDS: dict[str, set[str]] = {"practitioner": {"T_paul"}, "auditor": {"T_aisha"},
                              "cpp": {"T_cpp"}}

A, D, VIEWER, AUDITOR_OF, HOLDER = "allow", "deny", "viewer", "auditor-of", "holder"
EVERYONE = {r: A for r in ROLES}
SIGNED_IN = {**{r: A for r in ROLES}, "signed_out": D}


def only(*roles: str) -> dict[str, str]:
    return {r: (A if r in roles else D) for r in ROLES}


POLICIES: dict[str, dict[str, str]] = {
    "public": EVERYONE,
    "signed_in": SIGNED_IN,
    "audit_viewer": {**{r: VIEWER for r in ROLES}},
    "audit_auditor": {**{r: AUDITOR_OF for r in ROLES}},
    "task_holder": {**{r: HOLDER for r in ROLES}},
    "start_audit": only("cpp", "slt"),
    "outbox": only("cpp", "hos_spqa"),          # and only in the demo (DEMO is on here)
    "policy_owner": only("policy_owner"),
    "report_reader": only("cpp", "hos_spqa", "slt"),
    "cpp": only("cpp"),
}

# endpoint -> policy. Every route of the app must be here.
ACCESS: dict[str, str] = {
    "auth.sign_in": "public",
    "auth.sign_out": "public",
    "tasks.home": "signed_in",
    "tasks.mine": "signed_in",
    "tasks.group": "signed_in",
    "tasks.task": "task_holder",
    "tasks.claim": "task_holder",
    "tasks.release": "task_holder",
    "audits.index": "signed_in",
    "audits.show": "audit_viewer",
    "audits.diagram": "audit_viewer",
    "audits.safety_concern": "audit_auditor",
    "audits.start": "start_audit",
    "notifications.mine": "signed_in",
    "notifications.outbox": "outbox",
    "processes.index": "policy_owner",
    "processes.show": "policy_owner",
    "processes.compare": "policy_owner",
    "processes.migrate": "policy_owner",
    "processes.version": "policy_owner",
    "processes.check": "policy_owner",
    "processes.deploy": "policy_owner",
    "processes.diagram": "policy_owner",
    "processes.modeler": "policy_owner",
    "processes.export": "policy_owner",
    "processes.download": "policy_owner",
    "processes.review": "policy_owner",
    "processes.upload": "policy_owner",
    "processes.upload_new": "policy_owner",
    "processes.deploy_new": "policy_owner",
    "reports.index": "report_reader",
    "reports.go": "report_reader",
    "reports.monthly": "report_reader",
    "reports.quarterly": "report_reader",
    "reports.briefing": "report_reader",
    "reports.children_register": "cpp",
    "reports.schedule_now": "cpp",
    "reports.schedule_month": "cpp",
    "reports.draw_schedule": "cpp",
    "reports.confirm_schedule": "cpp",
    "reports.change_allocation": "cpp",
    "reports.change_settings": "cpp",
    "reports.moderation_month": "cpp",
    "reports.draw_moderation": "cpp",
    "reports.confirm_moderation": "cpp",
}
# Allowed, the object named by a made-up id may simply not exist: 404 is then right.
MADE_UP_IDS = {"reports.confirm_schedule", "reports.change_allocation",
               "reports.confirm_moderation"}
# Allowed, an empty post to these is malformed: 400 is right.
BAD_REQUEST_OK = {"processes.check", "processes.review", "processes.deploy",
                  "processes.deploy_new"}


def _rules(app: Flask) -> list[Any]:
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def test_every_route_has_an_access_rule(app: Flask) -> None:
    for rule in _rules(app):
        assert rule.endpoint in ACCESS, (
            f"route {rule.rule} ({rule.endpoint}) has no access rule in the matrix: add it to "
            "ACCESS in tests/test_web_access_matrix.py")
        assert set(POLICIES[ACCESS[rule.endpoint]]) == set(ROLES)
    endpoints = {r.endpoint for r in _rules(app)}
    assert not set(ACCESS) - endpoints, f"rules for routes that are gone: {set(ACCESS) - endpoints}"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "DEMO": True}


def _start(eng: Engine, child: str, status: str, practitioner: str, auditor: str) -> int:
    return eng.start(FIXTURE_PROCESS, "cpp.chris", {
        "child_ref": child, "child_status": status, "audit_type": "monthly",
        "supplementary_reading": ""}, practitioner=practitioner, auditor=auditor)


@pytest.fixture
def world(web_engine: Engine) -> dict[str, int]:
    eng = web_engine
    ids: dict[str, int] = {}
    ids["A1"] = _start(eng, "CH-A1", "CP", "sw.paul", "aud.aisha")
    eng.complete_task(open_task(eng, "aud.aisha"), "aud.aisha", {"meeting_date": "2025-12-18"})
    ids["T_paul"] = open_task(eng, "sw.paul")
    ids["A3"] = _start(eng, "CH-A3", "CIN", "sw.priya", "aud.aisha")
    eng.complete_task(open_task(eng, "aud.aisha"), "aud.aisha", {"meeting_date": "2025-12-18"})
    eng.complete_task(open_task(eng, "sw.priya"), "sw.priya", {"file_ready": True})
    eng.complete_task(open_task(eng, "aud.aisha"), "aud.aisha", {
        "grade": "Good", "strengths": "Good work", "child_voice": "Yes"})
    with eng.transaction() as s:
        ids["T_cpp"] = s.execute(select(HumanTask.id).where(
            HumanTask.group_role == "CPP", HumanTask.status == "open")).scalar_one()
    eng.claim(ids["T_cpp"], "cpp.chris")
    ids["A2"] = _start(eng, "CH-A2", "CiC", "sw.peter", "aud.alex")
    ids["T_alex"] = open_task(eng, "aud.alex")
    ids["A4"] = _start(eng, "CH-A4", "CIN", "sw.amira", "aud.aisha")
    ids["T_aisha"] = open_task(eng, "aud.aisha")
    return ids


def _expected(role: str, policy: str, obj: str | None) -> str:
    how = POLICIES[policy][role]
    if role == "signed_out" and policy != "public":
        return "sign_in"
    if how == VIEWER:
        return A if obj in SEES[role] else D
    if how == AUDITOR_OF:
        return A if obj in AUDITS_AS_AUDITOR.get(role, set()) else D
    if how == HOLDER:
        return A if obj in HOLDS.get(role, set()) else D
    return how


def _requests(app: Flask, ids: dict[str, int]) -> list[tuple[str, str, str, str | None]]:
    """(method, path, endpoint, object) for every route, with real and made-up ids."""
    adapter = app.url_map.bind("localhost")
    fixed = {"process_id": FIXTURE_PROCESS, "number": 1, "name": "fixture-audit.bpmn",
             "month": "2025-12", "quarter": "2025-Q4", "batch_id": 1, "allocation_id": 1,
             "sample_id": 1}
    out = []
    for rule in _rules(app):
        objects: list[tuple[str | None, dict[str, Any]]] = [(None, {})]
        if "audit_id" in rule.arguments:
            objects = [(a, {"audit_id": ids[a]}) for a in AUDITS]
        if "task_id" in rule.arguments:
            objects = [(t, {"task_id": ids[t]}) for t in TASKS]
        fmts = ["csv", "pdf", "txt"] if "fmt" in rule.arguments and not (
            rule.defaults and "fmt" in rule.defaults) else [None]
        for obj, values in objects:
            for fmt in fmts:
                vals = {**{k: v for k, v in fixed.items() if k in rule.arguments}, **values}
                if fmt:
                    vals["fmt"] = fmt
                try:
                    path = rule.build(vals, append_unknown=False)[1]
                    endpoint, _ = adapter.match(path)
                except Exception:  # noqa: BLE001 - a format this rule does not take
                    continue
                if endpoint != rule.endpoint:
                    continue
                for method in sorted(rule.methods & {"GET", "POST"}):
                    out.append((method, path, rule.endpoint, obj))
    # Looks first, then posts; releasing a task (which ends holding it) and signing out last.
    return sorted(out, key=lambda r: (r[0] == "POST", r[2] == "tasks.release",
                                      r[2] == "auth.sign_out"))


@pytest.mark.parametrize("role", list(ROLES))
def test_every_route_answers_each_person_as_the_matrix_says(
        role: str, app: Flask, client: FlaskClient, world: dict[str, int]) -> None:
    username = ROLES[role]
    problems: list[str] = []
    for method, path, endpoint, obj in _requests(app, world):
        if username and endpoint != "auth.sign_in":
            with client.session_transaction() as sess:
                if sess.get("user") != username:
                    sess.clear()
            if client.get("/tasks").status_code != 200:
                client.post("/sign-in", data={"username": username, "password": DEMO_PASSWORD})
        data = {"action": "draft"} if endpoint == "tasks.task" else {}
        resp = client.open(path, method=method, data=data)
        status = resp.status_code
        where = f"{role} {method} {path} ({endpoint}, {obj}) -> {status}"
        expected = _expected(role, ACCESS[endpoint], obj)
        if status >= 500 or status == 403:
            problems.append(f"{where}: never 500 or 403")
        elif expected == A:
            ok = {200, 302} | ({404} if endpoint in MADE_UP_IDS else set()) \
                | ({400} if endpoint in BAD_REQUEST_OK else set())
            if status not in ok:
                problems.append(f"{where}: should be allowed")
            elif status == 302 and "/sign-in" in resp.headers["Location"] \
                    and endpoint != "auth.sign_out":
                problems.append(f"{where}: sent to sign in although signed in")
        elif expected == D:
            if status != 404:
                problems.append(f"{where}: should be not found (404)")
        else:  # sign_in
            if status != 302 or "/sign-in" not in resp.headers["Location"]:
                problems.append(f"{where}: should redirect to sign in")
    assert not problems, "\n".join(problems)
