"""Task lists, doing a task through its form, drafts, and claiming group tasks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from flask.testing import FlaskClient
from sqlalchemy import select, update

from engine import ConcurrentUpdate, Engine, ProcessFailed, queries
from engine.models import AuditEvent, HumanTask, Person
from tests.conftest import WEB_START, open_task


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', page, re.S)[1:]


def test_my_tasks_lists_overdue_first_then_by_deadline_in_words(
        client: FlaskClient, auth, start_audit, web_clock) -> None:
    start_audit("CH-A")  # Monday 15 Dec 09:00: due 12:00 Tuesday 16 Dec
    web_clock.set(datetime(2025, 12, 17, 9, 0, tzinfo=UTC))
    start_audit("CH-B", practitioner="sw.priya", status="CIN")  # due Thursday 18 Dec
    web_clock.set(datetime(2025, 12, 19, 10, 0, tzinfo=UTC))
    start_audit("CH-C")  # Friday: due 12:00 on Monday 22 Dec
    auth.login("aud.aisha")
    rows = _rows(client.get("/tasks").text)
    assert [re.search(r"CH-[ABC]", r).group(0) for r in rows] == ["CH-A", "CH-B", "CH-C"]
    assert "3 days overdue" in rows[0]
    assert "Overdue" in rows[0]
    assert "1 day overdue" in rows[1]
    assert "Due by 12:00 on Monday 22 December 2025" in rows[2]
    assert "Overdue" not in rows[2]


def test_deadlines_are_in_london_time(client: FlaskClient, auth, start_audit, web_clock) -> None:
    web_clock.set(datetime(2026, 6, 1, 8, 0, tzinfo=UTC))  # British Summer Time
    start_audit("CH-SUMMER")
    auth.login("aud.aisha")
    assert "Due by 12:00 on Tuesday 2 June 2026" in client.get("/tasks").text


def test_a_task_page_shows_the_child_the_deadline_and_the_form(
        client: FlaskClient, auth, start_audit, web_engine: Engine) -> None:
    start_audit("CH-100234")
    auth.login("aud.aisha")
    page = client.get(f"/tasks/{open_task(web_engine, 'aud.aisha')}").text
    assert "Arrange the audit meeting" in page
    assert "CH-100234" in page
    assert "Due by 12:00 on Tuesday 16 December 2025" in page
    for part in ("day", "month", "year"):
        assert f'id="meeting_date-{part}" name="meeting_date-{part}"' in page
    assert '<textarea class="govuk-textarea govuk-js-character-count" id="meeting_notes"' in page


def test_the_audit_tool_renders_each_kind_of_question_as_its_gov_uk_component(
        client: FlaskClient, auth, to_audit_tool) -> None:
    _, task_id = to_audit_tool("CP")
    auth.login("aud.aisha")
    page = client.get(f"/tasks/{task_id}").text
    assert 'type="radio" value="Requires Improvement"' in page  # oneOf const -> radios
    assert ">\n    Requires improvement\n" in page or "Requires improvement" in page
    assert 'id="child_voice" name="child_voice" type="radio" value="Yes"' in page
    assert 'id="areas" name="areas" type="checkbox" value="Assessment"' in page
    assert re.search(r'id="hours" name="hours" type="text"[^>]*inputmode="numeric"', page)
    assert 'id="cp_conference_attended" name="cp_conference_attended" type="radio" value="yes"' \
        in page
    for i in range(5):
        assert f'id="actions-{i}-action"' in page
        assert f'id="actions-{i}-by_when-day"' in page
    assert "Action 5" in page
    assert "Action 6" not in page


def test_questions_for_other_children_are_left_out(client: FlaskClient, auth,
                                                   to_audit_tool) -> None:
    _, task_id = to_audit_tool("CIN")
    auth.login("aud.aisha")
    assert "cp_conference_attended" not in client.get(f"/tasks/{task_id}").text


REJECTED = {
    "action": "submit", "strengths": "Clear <b>records</b> & plans", "child_voice": "Partly",
    "areas": ["Planning", "Recording"], "hours": "three",
    "actions-0-action": "Update the plan", "actions-0-by_when-day": "31",
    "actions-0-by_when-month": "2", "actions-0-by_when-year": "2026",
    "actions-2-by_when-day": "5", "actions-2-by_when-month": "1",
    "actions-2-by_when-year": "2026",
}


def test_a_rejected_form_keeps_every_typed_value_and_links_each_error(
        client: FlaskClient, auth, to_audit_tool) -> None:
    _, task_id = to_audit_tool("CP")
    auth.login("aud.aisha")
    page = client.post(f"/tasks/{task_id}", data=REJECTED).text
    assert "<title>Error: Complete the audit tool" in page
    summary = page.split("govuk-error-summary__list")[1].split("</ul>")[0]
    anchors = re.findall(r'href="#([^"]+)"', summary)
    assert set(anchors) == {"grade", "hours", "cp_conference_attended",
                            "actions-0-by_when-day", "actions-2-action"}
    for anchor in anchors:
        assert f'id="{anchor}"' in page
    assert "Select overall grade" in summary
    assert "Hours spent on the audit must be a whole number" in summary
    assert "Clear &lt;b&gt;records&lt;/b&gt; &amp; plans</textarea>" in page
    assert re.search(r'value="Partly" checked', page)
    assert re.search(r'value="Planning" checked', page)
    assert re.search(r'value="Recording" checked', page)
    assert not re.search(r'value="Assessment" checked', page)
    assert 'value="three"' in page
    assert re.search(r'name="actions-0-action"[^>]*>Update the plan</textarea>', page)
    assert 'name="actions-0-by_when-day" type="text" value="31"' in page
    assert 'name="actions-2-by_when-year" type="text" value="2026"' in page


def test_a_completed_form_sends_typed_data_and_leaves_my_list(
        client: FlaskClient, auth, to_audit_tool, web_engine: Engine) -> None:
    audit_id, task_id = to_audit_tool("CP")
    auth.login("aud.aisha")
    response = client.post(f"/tasks/{task_id}", data={
        "action": "submit", "grade": "Good", "strengths": "Thorough", "child_voice": "Yes",
        "areas": ["Planning"], "hours": "4", "cp_conference_attended": "no",
        "actions-1-action": "Record the visit", "actions-1-by_when-day": "9",
        "actions-1-by_when-month": "1", "actions-1-by_when-year": "2026"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/tasks"
    assert "is complete for child CH-100234" in client.get("/tasks").text
    with web_engine.transaction() as s:
        event = s.execute(select(AuditEvent).where(
            AuditEvent.kind == "task_completed", AuditEvent.instance_id == audit_id)
            .order_by(AuditEvent.id.desc())).scalars().first()
        assert json.loads(event.detail)["data"] == {
            "grade": "Good", "strengths": "Thorough", "child_voice": "Yes",
            "areas": ["Planning"], "hours": 4, "cp_conference_attended": False,
            "actions": [{"action": "Record the visit", "by_when": "2026-01-09"}]}
        assert s.get(HumanTask, task_id).status == "completed"


def test_a_resubmission_after_a_lost_answer_says_it_was_done_not_that_it_is_missing(
        client: FlaskClient, auth, to_audit_tool, web_engine: Engine) -> None:
    audit_id, task_id = to_audit_tool("CP")
    auth.login("aud.aisha")
    form = {"action": "submit", "grade": "Good", "strengths": "Thorough", "child_voice": "Yes",
            "areas": ["Planning"], "hours": "4", "cp_conference_attended": "no"}
    assert client.post(f"/tasks/{task_id}", data=form).status_code == 302
    client.get("/tasks")  # the first answer is seen (or, on a cut connection, never arrives)
    again = client.post(f"/tasks/{task_id}", data=form)
    assert again.status_code == 302
    assert again.headers["Location"] == "/tasks"
    page = client.get("/tasks").text
    assert "You completed ‘Complete the audit tool’ for child CH-100234 at 09:00" in page
    with web_engine.transaction() as s:
        completions = s.execute(select(AuditEvent).where(
            AuditEvent.kind == "task_completed", AuditEvent.instance_id == audit_id)).scalars().all()
    assert len([e for e in completions if json.loads(e.detail)["task"] == "Complete the audit tool"]) == 1
    # Anyone else asking for that task still finds nothing.
    auth.login("aud.alex")
    assert client.get(f"/tasks/{task_id}").status_code == 404


def test_a_draft_is_saved_and_the_form_resumes_from_it(
        client: FlaskClient, auth, to_audit_tool, web_engine: Engine) -> None:
    _, task_id = to_audit_tool("CP")
    auth.login("aud.aisha")
    response = client.post(f"/tasks/{task_id}", data={
        "action": "draft", "strengths": "Half written", "grade": "Inadequate",
        "areas": ["Assessment"], "actions-0-by_when-day": "3"})
    assert response.status_code == 302
    page = client.get(f"/tasks/{task_id}").text
    assert "saved as a draft" in page
    assert "Half written</textarea>" in page
    assert re.search(r'value="Inadequate" checked', page)
    assert re.search(r'value="Assessment" checked', page)
    assert 'name="actions-0-by_when-day" type="text" value="3"' in page
    assert "There is a problem" not in page
    with web_engine.transaction() as s:
        assert s.get(HumanTask, task_id).status == "open"


def test_nobody_else_can_open_or_complete_my_task(client: FlaskClient, auth, start_audit,
                                                  web_engine: Engine) -> None:
    start_audit()
    task_id = open_task(web_engine, "aud.aisha")
    for other in ("sw.paul", "tm.cp", "cpp.chris", "spqa.head"):
        auth.login(other)
        assert client.get(f"/tasks/{task_id}").status_code == 404
        assert client.post(f"/tasks/{task_id}", data={
            "action": "submit", "meeting_date-day": "1", "meeting_date-month": "1",
            "meeting_date-year": "2026"}).status_code == 404
        assert client.post(f"/tasks/{task_id}", data={"action": "draft"}).status_code == 404
    assert client.get("/tasks/999999").status_code == 404
    with web_engine.transaction() as s:
        task = s.get(HumanTask, task_id)
        assert task.status == "open"
        assert task.draft is None


def _to_moderation(web_engine: Engine, to_audit_tool) -> int:
    _, task_id = to_audit_tool("CIN")
    web_engine.complete_task(task_id, "aud.aisha", {
        "grade": "Good", "strengths": "Good work", "child_voice": "Yes"})
    with web_engine.transaction() as s:
        return s.execute(select(HumanTask.id).where(
            HumanTask.group_role == "CPP", HumanTask.status == "open")).scalar_one()


def test_group_members_claim_and_release_group_tasks(client: FlaskClient, auth, to_audit_tool,
                                                     web_engine: Engine) -> None:
    task_id = _to_moderation(web_engine, to_audit_tool)
    auth.login("cpp.carla")
    assert "Moderate the audit" in client.get("/tasks/group").text
    assert client.get(f"/tasks/{task_id}").status_code == 404  # not claimed yet
    auth.login("cpp.chris")
    response = client.post(f"/tasks/{task_id}/claim")
    assert response.headers["Location"] == f"/tasks/{task_id}"
    assert client.get(f"/tasks/{task_id}").status_code == 200
    mine = client.get("/tasks").text
    assert "Moderate the audit" in mine
    assert "Release" in mine
    auth.login("cpp.carla")
    assert "Moderate the audit" not in client.get("/tasks/group").text
    assert client.get(f"/tasks/{task_id}").status_code == 404
    response = client.post(f"/tasks/{task_id}/claim")
    assert "Chris Evans has already claimed this task" in client.get(
        response.headers["Location"]).text
    auth.login("cpp.chris")
    client.post(f"/tasks/{task_id}/release")
    assert "Moderate the audit" not in client.get("/tasks").text
    assert "Moderate the audit" in client.get("/tasks/group").text


def test_a_group_task_submitted_before_it_is_claimed_is_not_found_and_stays_open(
        client: FlaskClient, auth, to_audit_tool, web_engine: Engine) -> None:
    task_id = _to_moderation(web_engine, to_audit_tool)
    auth.login("cpp.carla")
    assert client.post(f"/tasks/{task_id}", data={"action": "submit"}).status_code == 404
    with web_engine.transaction() as s:
        assert s.get(HumanTask, task_id).status == "open"


def test_a_step_that_fails_after_submitting_keeps_every_typed_answer(
        client: FlaskClient, auth, to_audit_tool, web_engine: Engine, monkeypatch) -> None:
    audit_id, task_id = to_audit_tool("CP")

    def broken(*_args: object) -> None:
        raise ProcessFailed("the process could not continue at 'Record the grade': no grade")

    monkeypatch.setattr(web_engine, "_run", broken)
    auth.login("aud.aisha")
    page = client.post(f"/tasks/{task_id}", data={
        "action": "submit", "grade": "Good", "strengths": "Kept <safe>", "child_voice": "Yes",
        "areas": ["Planning"], "hours": "4", "cp_conference_attended": "no"}).text
    assert "Your answers could not be submitted because the process could not continue" in page
    assert "Kept &lt;safe&gt;</textarea>" in page
    assert re.search(r'value="Good" checked', page)
    assert 'value="4"' in page
    with web_engine.transaction() as s:
        assert s.get(HumanTask, task_id).status == "open"
        assert s.execute(select(AuditEvent).where(
            AuditEvent.kind == "step_failed", AuditEvent.instance_id == audit_id)).first()


def test_a_task_someone_else_completes_while_mine_is_sent_says_so(
        client: FlaskClient, auth, to_audit_tool, web_engine: Engine, monkeypatch) -> None:
    _, task_id = to_audit_tool("CP")

    def beaten(*_args: object) -> None:
        with web_engine.transaction() as s:  # the other submission, committed first
            other = s.execute(select(Person.id).where(Person.username == "tm.cp")).scalar_one()
            s.execute(update(HumanTask).where(HumanTask.id == task_id).values(
                status="completed", completed_by_id=other, completed_at=WEB_START))
        raise ConcurrentUpdate("‘Complete the audit tool’ was completed by someone else a "
                               "moment ago.")

    monkeypatch.setattr(web_engine, "complete_task", beaten)
    auth.login("aud.aisha")
    response = client.post(f"/tasks/{task_id}", data={"action": "submit", "grade": "Good"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/tasks"
    assert "was completed by someone else a moment ago" in client.get("/tasks").text


def test_people_outside_the_group_cannot_claim(client: FlaskClient, auth, to_audit_tool,
                                               web_engine: Engine) -> None:
    task_id = _to_moderation(web_engine, to_audit_tool)
    auth.login("tm.cp")
    assert "Moderate the audit" not in client.get("/tasks/group").text
    assert client.post(f"/tasks/{task_id}/claim").status_code == 404
    assert client.post(f"/tasks/{task_id}/release").status_code == 404


def test_each_list_names_who_holds_the_task(auth, to_audit_tool, web_engine: Engine) -> None:
    task_id = _to_moderation(web_engine, to_audit_tool)
    assert [t.holder for t in queries.group_tasks(web_engine, "cpp.carla")
            if t.id == task_id] == ["CPP (not claimed yet)"]
    web_engine.claim(task_id, "cpp.chris")
    assert {t.holder for t in queries.my_tasks(web_engine, "cpp.chris")} == {"Chris Evans"}
    # A task held by someone else that I have claimed (not made by the app today) names them.
    with web_engine.transaction() as s:
        aisha = s.execute(select(Person.id).where(Person.username == "aud.aisha")).scalar_one()
        s.execute(update(HumanTask).where(HumanTask.id == task_id).values(assignee_id=aisha))
    assert [t.holder for t in queries.my_tasks(web_engine, "cpp.chris")
            if t.id == task_id] == ["Aisha Bello"]
