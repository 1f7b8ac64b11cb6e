"""Audit pages: who may see them, the logged view, the diagram, starting one, safety concerns."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine import Engine
from engine.models import AuditEvent, HumanTask, Instance, Notification


def _views(web_engine: Engine, audit_id: int) -> list[str]:
    with web_engine.transaction() as s:
        return list(s.execute(select(AuditEvent.actor).where(
            AuditEvent.kind == "viewed", AuditEvent.instance_id == audit_id)).scalars())


@pytest.mark.parametrize("viewer", ["aud.aisha", "sw.paul", "tm.cp", "sm.cin", "hos.cin",
                                    "slt.director", "cpp.carla", "spqa.head"])
def test_participants_their_managers_and_oversight_can_see_an_audit(
        client: FlaskClient, auth, start_audit, viewer: str) -> None:
    audit_id = start_audit("CH-100234")
    auth.login(viewer)
    page = client.get(f"/audits/{audit_id}")
    assert page.status_code == 200
    assert "Audit for child CH-100234" in page.text
    assert "Paul Jones" in page.text
    assert "Tom Reed" in page.text


@pytest.mark.parametrize("outsider", ["sw.priya", "tm.assess", "aud.alex", "tm.cic2",
                                      "policy.olivia", "sw.adam"])
def test_everyone_else_gets_not_found(client: FlaskClient, auth, start_audit, web_engine: Engine,
                                      outsider: str) -> None:
    audit_id = start_audit("CH-100234")
    auth.login(outsider)
    assert client.get(f"/audits/{audit_id}").status_code == 404
    assert client.get(f"/audits/{audit_id}/diagram.json").status_code == 404
    assert client.get(f"/audits/{audit_id}/safety-concern").status_code == 404
    assert "CH-100234" not in client.get("/audits").text
    assert _views(web_engine, audit_id) == []


def test_a_guessed_audit_id_is_not_found(client: FlaskClient, auth) -> None:
    auth.login("cpp.chris")
    assert client.get("/audits/424242").status_code == 404
    assert client.get("/audits/424242/diagram.json").status_code == 404


def test_every_view_of_an_audit_goes_into_the_audit_trail(client: FlaskClient, auth,
                                                          start_audit, web_engine: Engine) -> None:
    audit_id = start_audit()
    auth.login("tm.cp")
    client.get(f"/audits/{audit_id}")
    client.get(f"/audits/{audit_id}")
    auth.login("cpp.carla")
    page = client.get(f"/audits/{audit_id}").text
    assert _views(web_engine, audit_id) == ["tm.cp", "tm.cp", "cpp.carla"]
    assert "Who has viewed this audit (3)" in page


def test_the_audit_page_shows_status_open_tasks_and_history(
        client: FlaskClient, auth, to_audit_tool) -> None:
    audit_id, _ = to_audit_tool("CP")
    auth.login("tm.cp")
    page = client.get(f"/audits/{audit_id}").text
    assert "Child protection (CP)" in page
    assert "Complete the audit tool" in page
    assert "Aisha Bello" in page
    assert "Chris Evans</strong> started the audit" in page
    assert "Paul Jones</strong> completed ‘Prepare the child’s file’" in page or \
        "completed ‘Prepare the child&#39;s file’" in page
    assert 'data-url="/audits/1/diagram.json"' in page


def test_the_diagram_marks_completed_and_current_steps(client: FlaskClient, auth,
                                                       to_audit_tool, web_clock) -> None:
    audit_id, _ = to_audit_tool("CP")
    auth.login("tm.cp")
    [diagram] = client.get(f"/audits/{audit_id}/diagram.json").get_json()
    assert diagram["process_id"] == "fixture_audit"
    assert "<bpmndi:BPMNDiagram" in diagram["xml"]
    assert {"Event_Start", "Activity_ArrangeMeeting", "Activity_PrepareFile"} <= set(
        diagram["completed"])
    assert diagram["current"] == ["Activity_CompleteAuditTool"]
    assert diagram["overdue"] == []


def test_overdue_steps_are_marked(client: FlaskClient, auth, start_audit, web_clock,
                                  web_engine: Engine) -> None:
    audit_id = start_audit()
    web_clock.set(datetime(2025, 12, 17, 9, 0, tzinfo=UTC))
    web_engine.fire_due_timers()
    auth.login("cpp.chris")
    [diagram] = client.get(f"/audits/{audit_id}/diagram.json").get_json()
    assert diagram["overdue"] == ["Activity_ArrangeMeeting"]
    page = client.get(f"/audits/{audit_id}").text
    assert "1 day overdue" in page
    assert "passed its deadline" in page


def test_the_audit_list_shows_only_audits_i_may_see(client: FlaskClient, auth,
                                                    start_audit) -> None:
    start_audit("CH-PAUL")
    start_audit("CH-PRIYA", practitioner="sw.priya", status="CIN")
    auth.login("tm.cp")
    page = client.get("/audits").text
    assert "CH-PAUL" in page
    assert "CH-PRIYA" not in page
    auth.login("cpp.chris")
    page = client.get("/audits").text
    assert "CH-PAUL" in page
    assert "CH-PRIYA" in page


START_FORM = {"child_ref": "CH-777", "child_status": "CiC", "audit_type": "targeted",
              "auditor": "aud.alex", "practitioner": "sw.peter", "supplementary_reading": ""}


def test_cpp_start_an_audit_and_the_auditor_gets_the_first_task(
        client: FlaskClient, auth, web_engine: Engine) -> None:
    auth.login("cpp.carla")
    page = client.get("/audits/new").text
    assert "Aisha Bello, Team Manager, Leaving Care Team" in page
    assert 'value="sw.peter"' in page
    response = client.post("/audits/new", data=START_FORM)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "Audit for child CH-777" in page
    assert "Theo Grant" not in page
    assert "Tessa Byrne" in page
    assert "Simon Clarke" in page
    assert "Hazel Wright" in page
    with web_engine.transaction() as s:
        task = s.execute(select(HumanTask).where(HumanTask.status == "open")).scalar_one()
        assert task.assignee.username == "aud.alex"
        assert s.execute(select(Instance.audit_type)).scalar_one() == "targeted"


def test_starting_an_audit_checks_every_answer(client: FlaskClient, auth,
                                               web_engine: Engine) -> None:
    auth.login("cpp.carla")
    page = client.post("/audits/new", data={"child_ref": "CH-9 <x>"}).text
    for anchor in ("child_status", "audit_type", "auditor", "practitioner"):
        assert f'href="#{anchor}"' in page
    assert 'value="CH-9 &lt;x&gt;"' in page
    with web_engine.transaction() as s:
        assert s.execute(select(func.count(Instance.id))).scalar_one() == 0


def test_an_auditor_cannot_audit_their_own_team(client: FlaskClient, auth) -> None:
    auth.login("cpp.carla")
    page = client.post("/audits/new", data={**START_FORM, "auditor": "tm.cic1"}).text
    assert "cannot audit their own" in page
    assert 'href="#auditor"' in page


def test_only_cpp_and_senior_leaders_may_start_audits(client: FlaskClient, auth) -> None:
    auth.login("tm.cp")
    assert client.get("/audits/new").status_code == 404
    assert client.post("/audits/new", data=START_FORM).status_code == 404
    auth.login("slt.director")
    page = client.get("/audits/new").text
    assert 'name="audit_type" value="bespoke"' in page
    assert "Monthly audit" not in page
    response = client.post("/audits/new", data={**START_FORM, "audit_type": "monthly"})
    assert response.status_code == 302  # the form forces bespoke for senior leaders


def test_the_auditor_reaches_the_safety_concern_form_in_one_click(
        client: FlaskClient, auth, start_audit) -> None:
    audit_id = start_audit()
    auth.login("aud.aisha")
    page = client.get(f"/audits/{audit_id}").text
    assert f'href="/audits/{audit_id}/safety-concern"' in page
    form = client.get(f"/audits/{audit_id}/safety-concern").text
    assert '<textarea class="govuk-textarea govuk-js-character-count" id="concern"' in form
    page = client.post(f"/audits/{audit_id}/safety-concern", data={"concern": "  "}).text
    assert 'href="#concern"' in page
    assert "Describe the concern" in page


def test_only_the_auditor_may_raise_a_safety_concern(client: FlaskClient, auth,
                                                     start_audit) -> None:
    audit_id = start_audit()
    auth.login("tm.cp")
    assert "Raise a safety concern" not in client.get(f"/audits/{audit_id}").text
    assert client.get(f"/audits/{audit_id}/safety-concern").status_code == 404
    assert client.post(f"/audits/{audit_id}/safety-concern",
                       data={"concern": "x"}).status_code == 404


def test_a_safety_concern_reaches_the_head_of_service(client: FlaskClient, auth, start_audit,
                                                      web_engine: Engine) -> None:
    audit_id = start_audit()
    auth.login("aud.aisha")
    response = client.post(f"/audits/{audit_id}/safety-concern",
                           data={"concern": "Bruising seen in photographs"})
    assert response.status_code == 302
    with web_engine.transaction() as s:
        subjects = s.execute(select(Notification.subject).where(
            Notification.email == "hos.cin@example.org")).scalars().all()
    assert any("Safety concern" in subject for subject in subjects)


def test_notifications_show_what_was_sent_to_me(client: FlaskClient, auth, start_audit, web_clock,
                                               web_engine: Engine, app_config) -> None:
    start_audit()
    web_clock.set(datetime(2025, 12, 17, 9, 0, tzinfo=UTC))
    web_engine.fire_due_timers()  # the auditor's manager is told the task is overdue
    auth.login("sm.cic")
    page = client.get("/notifications").text
    assert "Overdue: Arrange the audit meeting (child CH-100234)" in page
    auth.login("tm.cp")
    assert "Overdue" not in client.get("/notifications").text
    auth.login("cpp.chris")
    assert client.get("/notifications/outbox").status_code == 404  # not a demo
    from webui import create_app

    demo_client = create_app({**app_config, "DEMO": True}).test_client()
    demo_client.post("/sign-in", data={"username": "cpp.chris",
                                       "password": "demo-password-2025"})
    assert "Overdue: Arrange the audit meeting" in demo_client.get("/notifications/outbox").text


def test_the_audit_list_comes_a_page_of_fifty_at_a_time(client: FlaskClient, auth,
                                                        start_audit) -> None:
    for i in range(53):
        start_audit(child_ref=f"CH-9{i:05d}")
    auth.login("cpp.chris")
    rows = re.compile(r'href="/audits/\d+"')
    first = client.get("/audits").get_data(as_text=True)
    assert len(rows.findall(first)) == 50
    assert "CH-900052" in first
    assert "CH-900002" not in first
    assert 'href="/audits?page=2"' in first
    second = client.get("/audits?page=2").get_data(as_text=True)
    assert len(rows.findall(second)) == 3
    assert "CH-900000" in second
    assert 'href="/audits?page=1"' in second
    assert 'href="/audits?page=3"' not in second
