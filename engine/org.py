"""The organisation: people, teams, service areas, who manages whom, and who may see an audit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.models import Instance, Person, PersonRole, ServiceArea, Team
from engine.roles import (
    AUDITOR,
    CPP,
    HEAD_OF_SERVICE,
    HOS_SPQA,
    PRACTITIONER,
    SERVICE_MANAGER,
    SLT,
    TEAM_MANAGER,
)

OVERSIGHT_ROLES = frozenset({CPP, HOS_SPQA})


def person(s: Session, username: str) -> Person:
    found = s.execute(select(Person).where(Person.username == username)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"No person with the username '{username}'")
    return found


def members_of(s: Session, role: str) -> list[Person]:
    return list(
        s.execute(
            select(Person).join(PersonRole).where(PersonRole.role == role, Person.active.is_(True))
            .order_by(Person.name)
        ).scalars()
    )


def add_service_area(s: Session, name: str) -> ServiceArea:
    area = ServiceArea(name=name)
    s.add(area)
    s.flush()
    return area


def add_team(s: Session, name: str, service_area: ServiceArea) -> Team:
    team = Team(name=name, service_area_id=service_area.id)
    s.add(team)
    s.flush()
    return team


def add_person(
    s: Session, username: str, name: str, *, email: str = "", job_title: str = "",
    team: Team | None = None, manager: Person | None = None, roles: tuple[str, ...] = (),
    password_hash: str | None = None,
) -> Person:
    p = Person(
        username=username, name=name, email=email or f"{username}@example.org",
        job_title=job_title, team_id=team.id if team else None,
        manager_id=manager.id if manager else None, password_hash=password_hash,
    )
    p.roles = [PersonRole(role=r) for r in roles]
    s.add(p)
    s.flush()
    return p


def participants_for(s: Session, practitioner: Person, auditor: Person) -> dict[str, Person]:
    """Derive an audit's participants from the practitioner's line: TM, SM and Head of Service."""
    found: dict[str, Person] = {AUDITOR: auditor, PRACTITIONER: practitioner}
    tm = practitioner.manager
    sm = tm.manager if tm else None
    hos = sm.manager if sm else None
    if hos is None and practitioner.team is not None:
        head_id = practitioner.team.service_area.head_id
        hos = s.get(Person, head_id) if head_id else None
    for role, holder in ((TEAM_MANAGER, tm), (SERVICE_MANAGER, sm), (HEAD_OF_SERVICE, hos)):
        if holder is None:
            raise NotFound(
                f"{practitioner.name} has no {role} in the organisation structure; "
                "record who manages whom before allocating an audit")
        found[role] = holder
    return found


def line_managers(p: Person) -> list[Person]:
    chain: list[Person] = []
    seen = {p.id}
    current = p.manager
    while current is not None and current.id not in seen:
        chain.append(current)
        seen.add(current.id)
        current = current.manager
    return chain


def may_start(roles: set[str] | frozenset[str], audit_type: str) -> bool:
    """CPP allocate every kind of audit; senior leaders may also commission a bespoke one."""
    return CPP in roles or (SLT in roles and audit_type == "bespoke")


def can_view(viewer: Person, instance: Instance) -> bool:
    """Participants, their line managers, CPP and the HoS SPQA may see an audit; nobody else."""
    if not viewer.active:
        return False
    if viewer.role_names & OVERSIGHT_ROLES:
        return True
    for part in instance.participants:
        if part.person_id == viewer.id:
            return True
        if any(m.id == viewer.id for m in line_managers(part.person)):
            return True
    return False
