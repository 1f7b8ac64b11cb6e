"""The organisation: people, teams, service areas, who manages whom, and who may see an audit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, Select, bindparam, select
from sqlalchemy.orm import Session, aliased

from engine.errors import NotFound
from engine.models import Instance, Person, PersonRole, ServiceArea, Team
from engine.prepared import Prepared
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


def _with_role(*columns: Any) -> Select[Any]:
    """Who holds a role: its active members, by name."""
    return (select(*columns).join(PersonRole)
            .where(PersonRole.role == bindparam("role"), Person.active.is_(True))
            .order_by(Person.name))


_MEMBERS = _with_role(Person)
_RECIPIENTS = Prepared(_with_role(Person.id, Person.username, Person.email))


def members_of(s: Session, role: str) -> list[Person]:
    return list(s.execute(_MEMBERS, {"role": role}).scalars())


def recipients_of(conn: Connection, role: str) -> Sequence[Row[int, str, str]]:
    """`members_of` as whom to notify (id, username, email), read without the ORM."""
    return _RECIPIENTS.all(conn, {"role": role})


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


class Holder(NamedTuple):
    """A person as starting an audit needs them, read without the ORM."""
    id: int
    username: str
    name: str
    active: bool
    team_id: int | None
    service_area_id: int | None  # their team's


_HOLDER = (select(Person.id, Person.username, Person.name, Person.active, Person.team_id,
                  Team.service_area_id)
           .outerjoin(Team, Team.id == Person.team_id))
_HOLDER_NAMED = Prepared(_HOLDER.where(Person.username == bindparam("username")))
_HOLDERS = _HOLDER.where(Person.id.in_(bindparam("ids", expanding=True)))
_ROLES = Prepared(select(PersonRole.role).where(PersonRole.person_id == bindparam("pid")))
_TM, _SM, _HOS = aliased(Person, name="tm"), aliased(Person, name="sm"), aliased(Person, name="hos")
# The practitioner's line: their manager, that manager's, and theirs; and the head of their
# team's service area, who stands in for a Head of Service missing from the line.
_LINE = Prepared(
    select(_TM.id.label("tm"), _SM.id.label("sm"), _HOS.id.label("hos"), ServiceArea.head_id)
    .select_from(Person)
    .outerjoin(_TM, _TM.id == Person.manager_id)
    .outerjoin(_SM, _SM.id == _TM.manager_id)
    .outerjoin(_HOS, _HOS.id == _SM.manager_id)
    .outerjoin(Team, Team.id == Person.team_id)
    .outerjoin(ServiceArea, ServiceArea.id == Team.service_area_id)
    .where(Person.id == bindparam("pid")))


def holder(conn: Connection, username: str) -> Holder:
    row = _HOLDER_NAMED.first(conn, {"username": username})
    if row is None:
        raise NotFound(f"No person with the username '{username}'")
    return Holder(*row)


def roles_of(conn: Connection, person_id: int) -> set[str]:
    return {row.role for row in _ROLES.all(conn, {"pid": person_id})}


def participants_for(conn: Connection, practitioner: Holder, auditor: Holder) -> dict[str, Holder]:
    """Derive an audit's participants from the practitioner's line: TM, SM and Head of Service."""
    found: dict[str, Holder] = {AUDITOR: auditor, PRACTITIONER: practitioner}
    line = _LINE.first(conn, {"pid": practitioner.id})
    if line is None:
        raise NotFound(f"No person with the username '{practitioner.username}'")
    tm, sm, hos, head = line
    hos = hos if hos is not None else head
    people = {row.id: Holder(*row) for row in conn.execute(
        _HOLDERS, {"ids": [i for i in (tm, sm, hos) if i is not None]})}
    for role, holder_id in ((TEAM_MANAGER, tm), (SERVICE_MANAGER, sm), (HEAD_OF_SERVICE, hos)):
        if holder_id is None:
            raise NotFound(
                f"{practitioner.name} has no {role} in the organisation structure; "
                "record who manages whom before allocating an audit")
        found[role] = people[holder_id]
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
