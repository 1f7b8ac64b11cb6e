"""The bulk seeder's clones are ordinary audits: the engine completes their tasks and fires their timers."""

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from bench.bulk import seed
from engine import audit, queries
from engine.models import AuditEvent, HumanTask, Instance, Participant, Person
from engine.roles import PRACTITIONER, TEAM_MANAGER

MIX = {"response": 1, "follow_up": 1, "closed": 1}


def _quiet(_line: str) -> None:
    pass


def _clone_task(engine, spec):
    """An open task of a clone (templates' children are CH-T...), with its audit and holder."""
    with engine.transaction() as s:
        return s.execute(
            select(HumanTask.id, HumanTask.instance_id, Person.username)
            .join(Instance, Instance.id == HumanTask.instance_id)
            .join(Person, Person.id == HumanTask.assignee_id)
            .where(HumanTask.spec_name == spec, HumanTask.status == "open",
                   Instance.child_ref.not_like("CH-T%"))
            .order_by(HumanTask.id)).first()


def _holder(engine, instance_id, role):
    with engine.transaction() as s:
        return s.execute(select(Person.username).join(Participant).where(
            Participant.instance_id == instance_id, Participant.role == role)).scalar_one()


def test_a_clone_is_completed_through_the_engine_like_its_template(engine):
    seeded = seed(engine, 40, events=400, staff=60, mix=MIX, log=_quiet)
    with engine.transaction() as s:
        assert s.execute(select(func.count(Instance.id))).scalar_one() == 40
        assert audit.verify(s).ok
        states = {inst.child_ref: inst.workflow_state()
                  for inst in s.execute(select(Instance)).scalars()}
        uuids = s.execute(select(HumanTask.task_uuid)).scalars().all()
    assert seeded.audits == 40
    assert seeded.events == 400
    assert len(uuids) == len(set(uuids))
    task_id, instance_id, holder = _clone_task(engine, "Activity_RespondToFindings")
    assert holder == _holder(engine, instance_id, PRACTITIONER)
    assert holder in seeded.users_with_tasks
    assert task_id in {t.id for t in queries.my_tasks(engine, holder)}
    with engine.transaction() as s:
        task_uuid = s.get(HumanTask, task_id).task_uuid
    assert sum(task_uuid in state for state in states.values()) == 1

    engine.complete_task(task_id, holder, {"practitioner_agrees": True})

    tm = _holder(engine, instance_id, TEAM_MANAGER)
    with engine.transaction() as s:
        opened = s.execute(select(HumanTask.spec_name, Person.username)
                           .join(Person, Person.id == HumanTask.assignee_id)
                           .where(HumanTask.instance_id == instance_id,
                                  HumanTask.status == "open")).all()
        done = s.execute(select(AuditEvent.actor).where(
            AuditEvent.instance_id == instance_id, AuditEvent.kind == "task_completed")
            .order_by(AuditEvent.id.desc())).scalars().first()
        assert audit.verify(s).ok
    assert ("Activity_SupervisePractitioner", tm) in opened
    assert done == holder
    assert any(t.audit_id == instance_id for t in queries.my_tasks(engine, tm))

def test_cloned_timers_fire_once_when_due(engine, clock):
    due = clock.now() + timedelta(hours=1)
    seed(engine, 30, staff=60, mix={"follow_up": 1}, timers_due_at=due, log=_quiet)
    with engine.transaction() as s:
        clones = set(s.execute(select(Instance.id).where(Instance.next_timer_at == due)).scalars())
    assert len(clones) >= 25
    assert engine.fire_due_timers(limit=1000) == 0

    clock.advance(timedelta(hours=2))
    fired_now = engine.fire_due_timers(limit=1000)

    with engine.transaction() as s:
        fired = Counter(s.execute(select(AuditEvent.instance_id).where(
            AuditEvent.kind == "timer_fired")).scalars())
        overdue = s.execute(select(func.count(HumanTask.id)).where(
            HumanTask.instance_id.in_(clones), HumanTask.escalated_at.is_not(None))).scalar_one()
        assert audit.verify(s).ok
    assert set(fired) == clones
    assert set(fired.values()) == {1}
    assert fired_now == len(clones)
    assert overdue == len(clones)
    assert engine.fire_due_timers(limit=1000) == 0
