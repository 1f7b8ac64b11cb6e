"""A leaver's account is made inactive and their open work passes to their line manager."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import ConcurrentUpdate, Engine, NotAllowed, NotFound, accounts, audit
from engine.accounts_admin import deactivate
from engine.demo import DEMO_PASSWORD
from engine.models import AuditEvent, HumanTask, Participant, Person
from tests.conftest import open_task


def _person_id(eng: Engine, username: str) -> int:
    with eng.transaction() as s:
        return s.execute(select(Person.id).where(Person.username == username)).scalar_one()


def test_a_practitioner_leaving_mid_audit_hands_their_task_and_role_to_their_manager(
        web_engine: Engine, start_audit) -> None:
    eng = web_engine
    audit_id = start_audit()
    eng.complete_task(open_task(eng, "aud.aisha"), "aud.aisha", {"meeting_date": "2025-12-18"})
    task_id = open_task(eng, "sw.paul")
    assert audit_id in eng._participants  # cached when the practitioner's task was made

    handover = deactivate(eng, "sw.paul", "admin.ann")

    assert handover.manager == "tm.cp"
    assert handover.tasks_to_manager == [task_id]
    assert (audit_id, "Practitioner") in handover.roles_to_manager
    assert audit_id not in eng._participants
    assert open_task(eng, "tm.cp") == task_id
    with eng.transaction() as s:
        holder = s.execute(select(Participant.person_id).where(
            Participant.instance_id == audit_id, Participant.role == "Practitioner")).scalar_one()
        kinds = [(e.kind, e.actor, json.loads(e.detail)) for e in s.execute(
            select(AuditEvent).where(AuditEvent.kind.in_(("deactivated", "reassigned")))
            .order_by(AuditEvent.id)).scalars()]
    assert holder == _person_id(eng, "tm.cp")
    assert kinds[0] == ("deactivated", "admin.ann", {"username": "sw.paul", "manager": "tm.cp"})
    assert ("reassigned", "admin.ann", {"task": "Prepare the child's file", "from": "sw.paul",
                                        "to": "tm.cp"}) in kinds
    assert ("reassigned", "admin.ann", {"role": "Practitioner", "from": "sw.paul",
                                        "to": "tm.cp"}) in kinds

    # The team manager does the task and the audit carries on to the auditor.
    eng.complete_task(task_id, "tm.cp", {"file_ready": True, "cp_plan_current": True})
    with eng.transaction() as s:
        nxt = s.execute(select(HumanTask).where(
            HumanTask.instance_id == audit_id, HumanTask.status == "open")).scalars().one()
        assert nxt.name == "Complete the audit tool"
        assert nxt.assignee.username == "aud.aisha"
        assert audit.verify(s).ok

    # The leaver can neither sign in nor do anything through the engine.
    assert accounts.sign_in(eng, "sw.paul", DEMO_PASSWORD) is None
    for call in (lambda: eng.complete_task(task_id, "sw.paul", {}),
                 lambda: eng.claim(task_id, "sw.paul"),
                 lambda: eng.release(task_id, "sw.paul"),
                 lambda: eng.save_draft(task_id, "sw.paul", {})):
        with pytest.raises(NotFound):
            call()


def _moderation(eng: Engine, to_audit_tool: Any) -> int:
    """A CIN audit graded: its moderation, a task for any member of CPP."""
    _, tool = to_audit_tool("CIN")
    eng.complete_task(tool, "aud.aisha", {"grade": "Good", "strengths": "Good",
                                          "child_voice": "Yes"})
    with eng.transaction() as s:
        return s.execute(select(HumanTask.id).where(
            HumanTask.group_role == "CPP", HumanTask.status == "open")).scalar_one()


def test_a_claimed_group_task_goes_back_to_the_group(web_engine: Engine, to_audit_tool) -> None:
    eng = web_engine
    moderate = _moderation(eng, to_audit_tool)
    eng.claim(moderate, "cpp.chris")

    handover = deactivate(eng, "cpp.chris", "admin.ann")

    assert handover.tasks_to_group == [moderate]
    with eng.transaction() as s:
        task = s.get(HumanTask, moderate)
        assert task is not None
        assert task.claimed_by_id is None
        assert task.group_role == "CPP"
    eng.claim(moderate, "cpp.carla")  # another CPP member picks it up
    eng.complete_task(moderate, "cpp.carla", {"moderation_agreed": True})


def test_a_leaver_signed_in_on_the_web_loses_the_session(
        web_engine: Engine, client: FlaskClient, auth) -> None:
    auth.login("sw.paul")
    assert client.get("/tasks").status_code == 200
    deactivate(web_engine, "sw.paul", "admin.ann")
    resp = client.get("/tasks")
    assert resp.status_code == 302
    assert "/sign-in" in resp.headers["Location"]
    assert "Enter a correct username and password" in auth.login("sw.paul").text


def test_deactivating_twice_changes_nothing_more(web_engine: Engine) -> None:
    deactivate(web_engine, "sw.adam", "admin.ann")
    again = deactivate(web_engine, "sw.adam", "admin.ann")
    assert again.tasks_to_manager == []
    assert again.roles_to_manager == []
    with web_engine.transaction() as s:
        assert len(s.execute(select(AuditEvent).where(
            AuditEvent.kind == "deactivated")).all()) == 1


def test_no_active_manager_to_take_over_refuses_and_changes_nothing(
        web_engine: Engine, start_audit) -> None:
    start_audit()  # aud.aisha holds the first task; her line is sm.cic, hos.cic, slt.director
    for username in ("sm.cic", "hos.cic", "slt.director"):
        deactivate(web_engine, username, "admin.ann")
    with pytest.raises(NotAllowed, match="no active line manager"):
        deactivate(web_engine, "aud.aisha", "admin.ann")
    with web_engine.transaction() as s:
        assert s.execute(select(Person.active).where(
            Person.username == "aud.aisha")).scalar_one() is True
    open_task(web_engine, "aud.aisha")


def test_a_claim_that_loses_or_is_refused_leaves_the_task_and_the_trail_as_they_were(
        web_engine: Engine, to_audit_tool) -> None:
    """A claim runs on a Core transaction: only the one that wins is written and recorded."""
    eng = web_engine
    moderate = _moderation(eng, to_audit_tool)

    def claims() -> list[str]:
        with eng.transaction() as s:
            return list(s.execute(select(AuditEvent.actor).where(
                AuditEvent.kind == "claimed").order_by(AuditEvent.id)).scalars())

    with pytest.raises(NotFound):
        eng.claim(moderate, "sw.paul")  # not in the group
    eng.claim(moderate, "cpp.chris")
    with pytest.raises(ConcurrentUpdate, match="Chris Evans has already claimed this task"):
        eng.claim(moderate, "cpp.carla")
    eng.claim(moderate, "cpp.chris")  # claiming again one's own claim changes nothing

    assert claims() == ["cpp.chris", "cpp.chris"]
    chris = _person_id(eng, "cpp.chris")
    with eng.transaction() as s:
        task = s.get(HumanTask, moderate)
        assert task is not None
        assert task.claimed_by_id == chris
        assert audit.verify(s).ok
