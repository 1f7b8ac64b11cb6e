"""A demo organisation (two service areas, CPP, HoS SPQA, policy owner, SLT) and a few audits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from engine import org
from engine.accounts import hash_password
from engine.errors import NotFound
from engine.models import Instance, Person, ProcessVersion, Team
from engine.roles import CPP, HOS_SPQA, POLICY_OWNER, SLT

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.service import Engine

DEMO_PASSWORD = "demo-password-2025"
CIN_CP = "Children in Need and Child Protection"
CIC = "Children in Care"


@dataclass(frozen=True)
class Account:
    username: str
    name: str
    job_title: str
    area: str = ""
    team: str = ""
    manager: str = ""
    roles: tuple[str, ...] = ()


ACCOUNTS: tuple[Account, ...] = (
    Account("slt.director", "Susan Lee", "Director of Children's Services", roles=(SLT,)),
    Account("spqa.head", "Sophie Patel", "Head of Service, Safeguarding, Practice and QA",
            manager="slt.director", roles=(HOS_SPQA,)),
    Account("cpp.chris", "Chris Evans", "Practice Development Lead, CPP",
            manager="spqa.head", roles=(CPP,)),
    Account("cpp.carla", "Carla Diaz", "Quality Assurance Officer, CPP",
            manager="spqa.head", roles=(CPP,)),
    Account("policy.olivia", "Olivia Hart", "QA Framework Policy Owner",
            manager="spqa.head", roles=(POLICY_OWNER,)),
    Account("hos.cin", "Helen Okafor", "Head of Service", CIN_CP, manager="slt.director"),
    Account("sm.cin", "Samuel Price", "Service Manager", CIN_CP, manager="hos.cin"),
    Account("tm.assess", "Tara Mills", "Team Manager", CIN_CP, "Assessment Team", "sm.cin"),
    Account("sw.priya", "Priya Shah", "Social Worker", CIN_CP, "Assessment Team", "tm.assess"),
    Account("tm.cp", "Tom Reed", "Team Manager", CIN_CP, "Child Protection Team", "sm.cin"),
    Account("sw.paul", "Paul Jones", "Social Worker", CIN_CP, "Child Protection Team", "tm.cp"),
    Account("aud.alex", "Alex Morgan", "Team Manager", CIN_CP, "Family Support Team", "sm.cin"),
    Account("sw.amira", "Amira Khan", "Advanced Practitioner", CIN_CP, "Family Support Team",
            "aud.alex"),
    Account("hos.cic", "Hazel Wright", "Head of Service", CIC, manager="slt.director"),
    Account("sm.cic", "Simon Clarke", "Service Manager", CIC, manager="hos.cic"),
    Account("tm.cic1", "Tessa Byrne", "Team Manager", CIC, "Children in Care Team 1", "sm.cic"),
    Account("sw.peter", "Peter Novak", "Social Worker", CIC, "Children in Care Team 1", "tm.cic1"),
    Account("tm.cic2", "Theo Grant", "Team Manager", CIC, "Children in Care Team 2", "sm.cic"),
    Account("sw.nadia", "Nadia Ali", "Social Worker", CIC, "Children in Care Team 2", "tm.cic2"),
    Account("aud.aisha", "Aisha Bello", "Team Manager", CIC, "Leaving Care Team", "sm.cic"),
    Account("sw.adam", "Adam Lewis", "Personal Adviser", CIC, "Leaving Care Team", "aud.aisha"),
)

# (child's reference, status, practitioner, auditor from the other service area)
DEMO_AUDITS: tuple[tuple[str, str, str, str], ...] = (
    ("CH-100234", "CP", "sw.paul", "aud.aisha"),
    ("CH-100871", "CIN", "sw.priya", "aud.aisha"),
    ("CH-200415", "CiC", "sw.peter", "aud.alex"),
)


def _seed_org(s: Session) -> bool:
    """Create the demo organisation unless it is there already; True if it was created."""
    if s.execute(select(Person.id).where(Person.username == ACCOUNTS[0].username)).first():
        return False
    password_hash = hash_password(DEMO_PASSWORD)  # hashed once: argon2 is slow on purpose
    areas = {name: org.add_service_area(s, name) for name in (CIN_CP, CIC)}
    teams: dict[str, Team] = {}
    for a in ACCOUNTS:
        if a.team and a.team not in teams:
            teams[a.team] = org.add_team(s, a.team, areas[a.area])
    people: dict[str, Person] = {}
    for a in ACCOUNTS:
        people[a.username] = org.add_person(
            s, a.username, a.name, job_title=a.job_title, team=teams.get(a.team),
            manager=people.get(a.manager), roles=a.roles, password_hash=password_hash)
        if a.job_title == "Head of Service" and a.area:
            areas[a.area].head_id = people[a.username].id
    s.flush()
    return True


def seed(engine: Engine, process_id: str = "deep_dive_audit", audits: bool = True) -> list[int]:
    """Create the demo organisation and, if the process is deployed and none exist, a few audits."""
    with engine.transaction() as s:
        _seed_org(s)
        deployed = s.execute(
            select(ProcessVersion.id).where(ProcessVersion.process_id == process_id)).first()
        existing = s.execute(select(func.count(Instance.id))).scalar_one()
    if not audits or not deployed or existing:
        return []
    started = []
    for child_ref, status, practitioner, auditor in DEMO_AUDITS:
        try:
            started.append(engine.start(
                process_id, "cpp.chris",
                {"child_ref": child_ref, "child_status": status, "audit_type": "monthly",
                 "supplementary_reading": ""},
                practitioner=practitioner, auditor=auditor))
        except NotFound:
            break
    return started
