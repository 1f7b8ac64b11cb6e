"""Only an audit's people, their managers and the oversight roles see it; leavers see nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine import NotFound, queries
from engine.models import AuditEvent, Person
from securitytests.conftest import open_task

MAY_SEE = ["auditor", "sw", "tm", "sm", "hos", "cpp1", "cpp2", "spqa"]
MAY_NOT = ["policy", "slt"]


def _views(engine, audit_id: int) -> int:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        return s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == audit_id, AuditEvent.kind == "viewed")).scalar_one()


def _leave(engine, username: str) -> None:  # type: ignore[no-untyped-def]
    with engine.transaction() as s:
        s.execute(select(Person).where(Person.username == username)).scalar_one().active = False


@pytest.mark.parametrize("username", MAY_SEE)
def test_the_audits_people_their_managers_and_oversight_may_see_it(engine, audits, username):
    queries.view_audit(engine, username, audits["C-2"])
    assert _views(engine, audits["C-2"]) == 1


@pytest.mark.parametrize("username", MAY_NOT)
def test_anyone_else_is_told_it_does_not_exist(engine, audits, username):
    with pytest.raises(NotFound):
        queries.view_audit(engine, username, audits["C-2"])
    with pytest.raises(NotFound):
        queries.view_audit(engine, username, 10_000)  # the same answer as for no audit at all
    assert _views(engine, audits["C-2"]) == 0


def test_a_leaver_no_longer_sees_the_audits_they_were_part_of(engine, audits):
    queries.view_audit(engine, "auditor", audits["C-2"])
    _leave(engine, "auditor")
    with pytest.raises(NotFound):
        queries.view_audit(engine, "auditor", audits["C-2"])


def test_a_leaver_cannot_complete_a_task_through_the_engine(engine, audits):
    _leave(engine, "auditor")
    with pytest.raises(NotFound):
        engine.complete_task(open_task(engine, audits["C-2"]).id, "auditor", {"answer": "x"})
