"""A leaver: mark the account inactive and hand their open work to their line manager."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from engine import audit, org
from engine.errors import NotAllowed
from engine.models import HumanTask, Instance, Participant, Person

if TYPE_CHECKING:
    from engine.service import Engine


@dataclass
class Handover:
    """What a deactivation moved: task ids now the manager's, released to their group, and
    (audit id, role) pairs the manager now holds."""

    username: str
    manager: str | None
    tasks_to_manager: list[int] = field(default_factory=list)
    tasks_to_group: list[int] = field(default_factory=list)
    roles_to_manager: list[tuple[int, str]] = field(default_factory=list)


def _successor(leaver: Person) -> Person | None:
    """The nearest active line manager above the leaver."""
    return next((m for m in org.line_managers(leaver) if m.active), None)


def deactivate(engine: Engine, username: str, by: str) -> Handover:
    """Mark a person inactive and hand over their open work, in one transaction.

    Tasks assigned to them go to their nearest active line manager; group tasks they had
    claimed go back to the group; on running audits, the roles they held pass to the manager
    for every task still to come. Each change is written to the audit trail, and the manager
    is told. Refused (nothing changed) if the leaver has open work and no active manager.
    """
    touched: set[int] = set()
    with engine.transaction() as s:
        leaver = org.person(s, username)
        if not leaver.active:
            return Handover(username, None)
        manager = _successor(leaver)
        now = engine.now()
        leaver.active = False
        audit.append(s, now, by, "deactivated", {"username": username,
                                                 "manager": manager.username if manager else None})
        handover = Handover(username, manager.username if manager else None)

        tasks = s.execute(select(HumanTask).where(
            HumanTask.status == "open",
            or_(HumanTask.assignee_id == leaver.id, HumanTask.claimed_by_id == leaver.id))
            .order_by(HumanTask.id)).scalars().all()
        roles = s.execute(select(Participant).join(Instance).where(
            Participant.person_id == leaver.id, Instance.status == "running")
            .order_by(Participant.instance_id, Participant.role)).scalars().all()
        needs_manager = any(t.group_role is None for t in tasks) or bool(roles)
        if needs_manager and manager is None:
            raise NotAllowed(f"{leaver.name} has open audit work and no active line manager to "
                             "take it over; record who manages them first")

        for task in tasks:
            inst = task.instance
            if task.group_role is not None:
                task.claimed_by_id = None
                handover.tasks_to_group.append(task.id)
                detail = {"task": task.name, "from": username, "to_group": task.group_role}
            else:
                assert manager is not None
                task.assignee_id = manager.id
                task.claimed_by_id = None
                handover.tasks_to_manager.append(task.id)
                detail = {"task": task.name, "from": username, "to": manager.username}
            audit.append(s, now, by, "reassigned", detail, inst.id, inst.child_ref)
            touched.add(inst.id)
        for part in roles:
            assert manager is not None
            held = s.get(Instance, part.instance_id)
            assert held is not None
            part.person_id = manager.id
            handover.roles_to_manager.append((part.instance_id, part.role))
            audit.append(s, now, by, "reassigned",
                         {"role": part.role, "from": username, "to": manager.username},
                         held.id, held.child_ref)
            touched.add(held.id)
        if manager is not None and handover.tasks_to_manager:
            for task_id in handover.tasks_to_manager:
                moved = s.get(HumanTask, task_id)
                assert moved is not None
                engine._notify(  # noqa: SLF001 - the engine's one way of sending
                    s, moved.instance, [manager],
                    f"Task passed to you: {moved.name} (child {moved.instance.child_ref})",
                    f"{leaver.name} has left. '{moved.name}' for child "
                    f"{moved.instance.child_ref} is now yours.")
        s.flush()
    # Participants are cached per audit: forget the affected ones once the change is committed.
    with engine._lock:  # noqa: SLF001
        for instance_id in touched:
            engine._participants.pop(instance_id, None)  # noqa: SLF001
    return handover
