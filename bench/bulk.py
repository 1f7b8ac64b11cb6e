"""Fill a database with N realistic audits, far faster than starting each through the engine.

Starting 100,000 audits one by one through the engine would take hours, and a benchmark of
how costs grow with the number of audits needs that many. So: build an organisation (service
areas, teams, practitioners with their Team, Service and Head of Service managers, CPP,
policy owners), deploy `processes/` through the engine, run a handful of *template* audits
through the real engine (`engine.start`, `engine.complete_task`) to different points of the
deep dive audit, then copy them in bulk. Each copy (a *clone*) gets its own instance row,
participants drawn from the organisation (so task lists spread as they would: tens of open
tasks a person, not thousands) and projected human tasks. Task UUIDs are unique and the
workflow state refers to them, so every UUID in a template's state is mapped to a fresh one,
and the clone's human tasks use the same mapping; every timestamp in the state moves with the
clone's own start, and a waiting timer (its `event_value`) to the clone's `next_timer_at`. A
clone is then an ordinary audit: `engine.complete_task` and the worker carry it on exactly as
they would the template.

Optionally `events` audit-trail rows are spread over the clones (their template's history,
then views), chained with `engine.audit`'s hashes so `qaflow audit-log verify` still passes.
PostgreSQL is written with COPY (psycopg 3), SQLite with executemany. The database must hold
no organisation yet, and nobody else may write to it while seeding (ids are handed out here).

`reschedule` moves waiting timers to a chosen moment, for benchmarks of the worker.

As a script it fills a database and says how long that took:
`python bench/bulk.py --database-url URL --audits 100000 --events 1000000`.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Table, create_engine, func, insert, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import selectinload  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from engine import Engine, audit, queries, spiff  # noqa: E402
from engine.accounts import hash_password  # noqa: E402
from engine.definitions import Bundle  # noqa: E402
from engine.models import (  # noqa: E402
    AuditEvent,
    AuditHead,
    HumanTask,
    Instance,
    InstanceState,
    Participant,
    Person,
    PersonRole,
    ServiceArea,
    Team,
)
from engine.roles import (  # noqa: E402
    AUDITOR,
    CPP,
    HEAD_OF_SERVICE,
    HOS_SPQA,
    PARTICIPANT_ROLES,
    POLICY_OWNER,
    PRACTITIONER,
    SERVICE_MANAGER,
    SLT,
    TEAM_MANAGER,
)
from engine.service import stored_state_of  # noqa: E402
from features.driver import sample  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROCESS = "deep_dive_audit"
PASSWORD = "bulk-password-2026"
STATUSES = ("CIN", "CP", "CiC")
BATCH = 2000
SECTION_KEYS = ("lived_experience", "assessment", "plan", "oversight", "multi_agency",
                "recording", "impact")
AREA_NAMES = ("Children in Need and Child Protection", "Children in Care", "Early Help",
              "Leaving Care", "Disabled Children", "Fostering", "Adoption", "Youth Justice",
              "Front Door", "Edge of Care")
FIRST = ("Alex", "Amira", "Ben", "Carla", "Dev", "Ella", "Femi", "Grace", "Hassan", "Isla",
         "Jon", "Kiran", "Lena", "Marek", "Nadia", "Owen", "Priya", "Quinn", "Rosa", "Sam",
         "Tara", "Umar", "Vera", "Will", "Yasmin", "Zoe")
LAST = ("Ali", "Bello", "Clarke", "Diaz", "Evans", "Fox", "Grant", "Hart", "Iqbal", "Jones",
        "Khan", "Lewis", "Mills", "Novak", "Okafor", "Patel", "Reed", "Shah", "Turner", "Usman",
        "Vance", "Wright", "Young")
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STAMP_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
# One pass over a template's state finds what each clone must change: a waiting timer's due
# time, any other timestamp, any UUID (and, added per template, the child's reference).
STATE_RE = re.compile(
    rf'"event_value":"(?P<timer>{STAMP_RE})"|"(?P<stamp>{STAMP_RE})"|(?P<uuid>{UUID_RE})')
KINDS = ("uuid", "stamp", "timer", "ref")
TIMER_RE = re.compile(rf'"event_value":"(?P<timer>{STAMP_RE})"')
VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}  # RFC 4122 variant bits


@dataclass(frozen=True)
class Stage:
    """How far a template audit is driven: until one of `stop` is open (none: to its close)."""

    stop: tuple[str, ...]
    grades: tuple[str, ...] = ("Good",)


STAGES: dict[str, Stage] = {
    "arrange": Stage(("Activity_ArrangeMeeting",)),
    "child_file": Stage(("Activity_UpdateChildFile",)),
    "audit_tool": Stage(("Activity_CompleteAuditTool",)),
    "response": Stage(("Activity_RespondToFindings",), ("Good", "Requires Improvement", "Outstanding")),
    "supervision": Stage(("Activity_SupervisePractitioner",), ("Good", "Outstanding", "Good")),
    # Waiting on the remedial-actions deadline (a week after submission).
    "follow_up": Stage(("Activity_FollowUpRemedialActions", "Activity_RespondToRemedialActions"),
                       ("Requires Improvement", "Inadequate", "Requires Improvement")),
    # Waiting on the re-audit deadline (three months after the audit).
    "reaudit": Stage(("Activity_ReauditChildFile",),
                     ("Requires Improvement", "Inadequate", "Requires Improvement")),
    "closed": Stage((), ("Good", "Requires Improvement", "Outstanding", "Inadequate")),
}
# A council's spread: most audits long closed, the open ones at every point of the audit.
DEFAULT_MIX: dict[str, float] = {"closed": 60, "arrange": 8, "child_file": 4, "audit_tool": 8,
                                 "response": 6, "supervision": 4, "follow_up": 8, "reaudit": 2}
OPEN_WITHIN = timedelta(days=45)
TIMERS_WITHIN = timedelta(days=92)


@dataclass
class Seeded:
    """What seed() made, and what a load test needs to sign people in."""

    audits: int
    events: int
    password: str
    users_with_tasks: list[str]  # usernames that hold at least one open task they can complete
    cpp_users: list[str]


# -- the organisation ---------------------------------------------------------------------

@dataclass
class Org:
    usernames: dict[int, str] = field(default_factory=dict)
    practitioners: list[int] = field(default_factory=list)
    team_of: dict[int, tuple[int, int]] = field(default_factory=dict)  # practitioner: team, area
    line: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # practitioner: tm, sm, hos
    auditors: list[tuple[int, int]] = field(default_factory=list)  # id, team (0: none)
    cpp: list[str] = field(default_factory=list)
    policy: str = ""


class _OrgBuilder:
    """Rows for people, teams and areas with ids handed out here, inserted level by level."""

    def __init__(self, s: Any, rng: random.Random, password_hash: str):
        self.s, self.rng, self.hash = s, rng, password_hash
        self.next_person = (s.execute(select(func.max(Person.id))).scalar() or 0) + 1
        self.org = Org()
        self.level: list[dict[str, Any]] = []
        self.roles: list[dict[str, Any]] = []

    def person(self, username: str, title: str, manager: int | None, team: int | None = None,
               roles: tuple[str, ...] = ()) -> int:
        pid, self.next_person = self.next_person, self.next_person + 1
        name = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
        self.level.append({"id": pid, "username": username, "name": name,
                           "email": f"{username}@example.org", "job_title": title,
                           "team_id": team, "manager_id": manager, "active": True,
                           "password_hash": self.hash})
        self.roles += [{"person_id": pid, "role": r} for r in roles]
        self.org.usernames[pid] = username
        return pid

    def flush(self) -> None:
        """Insert this level of the hierarchy (their managers are already in)."""
        if self.level:
            self.s.execute(insert(Person), self.level)
        self.level = []


def _plan(staff: int) -> tuple[int, int, int, int]:
    """Return (areas, service managers an area, teams a service manager, practitioners a team)."""
    areas = max(2, round(staff / 100))
    per_area = max(8, (staff - 12) // areas)
    team_size = 7 if per_area >= 40 else 2
    teams = max(2, (per_area - 1) // (team_size + 1))
    sms = max(1, round(teams / 3))
    return areas, sms, -(-teams // sms), team_size


def _build_org(engine: Engine, staff: int, rng: random.Random, password_hash: str) -> Org:
    areas, sms, teams_per_sm, team_size = _plan(staff)
    with engine.transaction() as s:
        if s.execute(select(Person.id).limit(1)).first():
            raise ValueError("bench.bulk.seed needs a database with no organisation in it yet")
        b = _OrgBuilder(s, rng, password_hash)
        director = b.person("slt.director", "Director of Children's Services", None, roles=(SLT,))
        b.flush()
        spqa = b.person("spqa.head", "Head of Service, Safeguarding, Practice and QA", director,
                        roles=(HOS_SPQA,))
        b.flush()
        for i in range(1, max(2, min(8, staff // 300)) + 1):
            b.person(f"cpp.{i:02d}", "Quality Assurance Officer, CPP", spqa, roles=(CPP,))
            b.org.cpp.append(f"cpp.{i:02d}")
        b.org.policy = "policy.01"
        b.person("policy.01", "QA Framework Policy Owner", spqa, roles=(POLICY_OWNER,))
        b.person("policy.02", "QA Framework Policy Owner", spqa, roles=(POLICY_OWNER,))
        heads = [b.person(f"hos.{a:02d}", "Head of Service", director) for a in range(1, areas + 1)]
        b.flush()
        area_ids, team_n, sm_n, tm_n, sw_n = [], 0, 0, 0, 0
        layout: list[tuple[int, int, int, int]] = []  # hos, sm, team, area
        for a, hos in enumerate(heads):
            base = AREA_NAMES[a % len(AREA_NAMES)]
            name = base if a < len(AREA_NAMES) else f"{base} {a // len(AREA_NAMES) + 1}"
            area = s.execute(insert(ServiceArea).values(name=name, head_id=None)
                             .returning(ServiceArea.id)).scalar_one()
            area_ids.append(area)
            s.execute(update(ServiceArea).where(ServiceArea.id == area).values(head_id=hos))
            for _ in range(sms):
                sm_n += 1
                sm = b.person(f"sm.{sm_n:03d}", "Service Manager", hos)
                for _ in range(teams_per_sm):
                    team_n += 1
                    team = s.execute(insert(Team).values(name=f"{name} Team {team_n}",
                                                         service_area_id=area)
                                     .returning(Team.id)).scalar_one()
                    layout.append((hos, sm, team, area))
        b.flush()
        tms = []
        for hos, sm, team, area in layout:
            tm_n += 1
            tms.append((b.person(f"tm.{tm_n:04d}", "Team Manager", sm, team), hos, sm, team, area))
            b.org.auditors.append((tms[-1][0], team))
        b.org.auditors += [(pid, 0) for pid, u in b.org.usernames.items() if u.startswith("sm.")]
        b.flush()
        for tm, hos, sm, team, area in tms:
            for _ in range(team_size):
                sw_n += 1
                pid = b.person(f"sw.{sw_n:05d}", rng.choice(("Social Worker", "Social Worker",
                                                              "Advanced Practitioner")), tm, team)
                b.org.practitioners.append(pid)
                b.org.team_of[pid] = (team, area)
                b.org.line[pid] = (tm, sm, hos)
        b.flush()
        s.execute(insert(PersonRole), b.roles)
        return b.org


def _auditor_for(org: Org, practitioner: int, team: int, rng: random.Random) -> int:
    """A manager outside the practitioner's team and line, as the schedule would choose."""
    line = org.line[practitioner]
    while True:
        auditor, auditor_team = rng.choice(org.auditors)
        if auditor_team != team and auditor not in line:
            return auditor


def _people(org: Org, rng: random.Random) -> dict[str, int]:
    practitioner = rng.choice(org.practitioners)
    team = org.team_of[practitioner][0]
    tm, sm, hos = org.line[practitioner]
    return {AUDITOR: _auditor_for(org, practitioner, team, rng), PRACTITIONER: practitioner,
            TEAM_MANAGER: tm, SERVICE_MANAGER: sm, HEAD_OF_SERVICE: hos}


# -- template audits through the real engine --------------------------------------------

def _answers(spec: str, grade: str) -> dict[str, Any]:
    """The answers that steer a template down the path its stage needs."""
    if spec == "Activity_CompleteAuditTool":
        return {"grade": grade, "good_practice_identified": grade == "Outstanding",
                **{f"section_{k}_grade": grade for k in SECTION_KEYS}}
    if spec == "Activity_RespondToFindings":
        return {"practitioner_agrees": True}
    if spec == "Activity_ReauditChildFile":
        return {"reaudit_file_still_inadequate_or_ri": False, "reaudit_grade": "Good",
                "reaudit_action_plan_completed": True}
    if spec in ("Activity_ModerateAudit", "Activity_ModerateSampledAudit"):
        return {"moderation_agrees": True}
    return {}


def _open_tasks(engine: Engine, instance_id: int) -> list[tuple[int, str, str | None, str | None]]:
    with engine.transaction() as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(HumanTask.id, HumanTask.spec_name, Person.username, HumanTask.group_role)
            .outerjoin(Person, Person.id == HumanTask.assignee_id)
            .where(HumanTask.instance_id == instance_id, HumanTask.status == "open")
            .order_by(HumanTask.id)).all()]


def _complete(engine: Engine, task: tuple[int, str, str | None, str | None], grade: str,
              cpp: str) -> None:
    task_id, spec, holder, group = task
    who = holder or cpp
    if group:
        engine.claim(task_id, who)
    form = queries.task_form(engine, who, task_id)
    answers = sample(form.schema, engine.now().date().isoformat())
    answers.update(_answers(spec, grade))
    engine.complete_task(task_id, who, answers)


def _drive(engine: Engine, instance_id: int, stage: Stage, grade: str, cpp: str) -> None:
    """Complete tasks as their holders would until the stage is reached."""
    for _ in range(80):
        tasks = _open_tasks(engine, instance_id)
        at_stop = any(t[1] in stage.stop for t in tasks)
        rest = [t for t in tasks if t[1] not in stage.stop] if at_stop else tasks
        if not rest:
            if stage.stop and not at_stop:
                raise RuntimeError(f"the template audit closed before reaching {stage.stop}")
            return
        _complete(engine, rest[0], grade, cpp)
    raise RuntimeError(f"the template audit never reached {stage.stop or 'its close'}")


@dataclass
class Template:
    """A template audit's rows, with its state cut at every place a clone differs."""

    stage: str
    row: dict[str, Any]
    ref: str
    participants: dict[str, int]
    tasks: list[dict[str, Any]]
    events: list[tuple[datetime, str, str, str, bool]]  # at, actor, kind, detail, has child ref
    pieces: list[str] = field(default_factory=list)
    slots: list[tuple[int, int, int]] = field(default_factory=list)  # piece, kind, key
    uuids: dict[str, int] = field(default_factory=dict)
    stamps: list[datetime] = field(default_factory=list)
    timers: list[datetime] = field(default_factory=list)
    names: re.Pattern[str] | None = None

    @property
    def waiting(self) -> bool:
        return self.row["next_timer_at"] is not None

    def cut(self) -> None:
        """Split the state once, so a clone is a join with its own UUIDs, times and child."""
        state, pos = self.row["state"], 0
        pattern = re.compile(STATE_RE.pattern + f"|(?P<ref>{re.escape(self.ref)})")
        keys: tuple[dict[str, int], ...] = ({}, {}, {}, {})
        for m in pattern.finditer(state):
            kind = next(k for k, g in enumerate(KINDS) if m.group(g))
            value = m.group(KINDS[kind])
            key = keys[kind].setdefault(value, len(keys[kind]))
            if kind == 1 and key == len(self.stamps):
                self.stamps.append(datetime.fromisoformat(value))
            elif kind == 2 and key == len(self.timers):
                self.timers.append(datetime.fromisoformat(value))
            self.pieces.append(state[pos:m.start(KINDS[kind])])
            self.slots.append((len(self.pieces), kind, key))
            self.pieces.append("")
            pos = m.end(KINDS[kind])
        self.pieces.append(state[pos:])
        self.uuids = keys[0]

    def state(self, uuids: list[str], ref: str, shift: timedelta, timer_shift: timedelta) -> str:
        out = self.pieces[:]
        values = (uuids, [(t + shift).isoformat() for t in self.stamps],
                  [(t + timer_shift).isoformat() for t in self.timers], [ref])
        for piece, kind, key in self.slots:
            out[piece] = values[kind][key]
        return "".join(out)


def _run_templates(engine: Engine, org: Org, mix: Mapping[str, float], rng: random.Random,
                   budget: int, log: Callable[[str], None]) -> list[Template]:
    plans: list[tuple[str, str, str]] = []  # stage, status, grade
    for name in STAGES:
        if mix.get(name, 0) <= 0:
            continue
        stage = STAGES[name]
        for i in range(max(len(STATUSES), len(stage.grades))):
            plans.append((name, STATUSES[i % len(STATUSES)], stage.grades[i % len(stage.grades)]))
    if budget < len(plans):  # few audits: one template a stage
        plans = list({p[0]: p for p in reversed(plans)}.values())[::-1]
    if budget < len(plans):
        raise ValueError(f"{budget} audits cannot cover the {len(plans)} stages of the mix")
    made: list[Template] = []
    for n, (name, status, grade) in enumerate(plans, start=1):
        ref = f"CH-T{n:04d}"
        people = _people(org, rng)
        cpp = rng.choice(org.cpp)
        iid = engine.start(PROCESS, cpp, {"child_ref": ref, "child_status": status,
                                          "audit_type": "monthly", "supplementary_reading": ""},
                           practitioner=org.usernames[people[PRACTITIONER]],
                           auditor=org.usernames[people[AUDITOR]])
        _drive(engine, iid, STAGES[name], grade, cpp)
        made.append(_load_template(engine, iid, name, ref, org))
    log(f"  {len(made)} template audits run through the engine")
    return made


def _load_template(engine: Engine, iid: int, stage: str, ref: str, org: Org) -> Template:
    inst, ht, ev = Instance.__table__, HumanTask.__table__, AuditEvent.__table__
    with engine.transaction() as s:
        row = dict(s.execute(select(inst).where(inst.c.id == iid)).mappings().one())
        # A clone is written whole: the template's stored changes are applied first.
        row["state"] = spiff.stored_state_json(*stored_state_of(s.connection(), iid))
        participants = dict(s.execute(select(Participant.role, Participant.person_id)
                                      .where(Participant.instance_id == iid)).all())
        tasks = [dict(r) for r in s.execute(select(ht).where(ht.c.instance_id == iid)
                                            .order_by(ht.c.id)).mappings()]
        events = [(r.at, r.actor, r.kind, r.detail, bool(r.child_ref)) for r in s.execute(
            select(ev.c.at, ev.c.actor, ev.c.kind, ev.c.detail, ev.c.child_ref)
            .where(ev.c.instance_id == iid).order_by(ev.c.id))]
    t = Template(stage, row, ref, participants, tasks, events)
    t.cut()
    names = sorted({org.usernames[p] for p in participants.values()} | {ref}, key=len, reverse=True)
    t.names = re.compile("|".join(re.escape(n) for n in names))
    return t


# -- clones -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Clone:
    """One copy of a template: its id, people, child and how far its times move."""

    id: int
    template: int
    people: dict[str, int]
    ref: str
    start: datetime
    shift: timedelta


def _counts(mix: Mapping[str, float], total: int) -> dict[str, int]:
    """Split `total` by the mix's weights, largest remainders first."""
    weights = {k: v for k, v in mix.items() if v > 0}
    whole = sum(weights.values())
    exact = {k: total * v / whole for k, v in weights.items()}
    counts = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[:total - sum(counts.values())]:
        counts[k] += 1
    return counts


def _closed_starts(n: int, now: datetime, per_month: int | None,
                   rng: random.Random) -> list[datetime]:
    """Start times of closed audits: `per_month` in each of the last 12 months, the rest before.

    Without `per_month`, spread evenly over the three years before the current month.
    """
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts: list[datetime] = []
    cursor = month_start
    if per_month:
        for _ in range(12):
            prev = (cursor - timedelta(days=1)).replace(day=1)
            for _ in range(min(per_month, n - len(starts))):
                starts.append(prev + (cursor - prev) * rng.random())
            cursor = prev
    span = timedelta(days=5 * 365 if per_month else 3 * 365)
    while len(starts) < n:
        starts.append(cursor - span * rng.random())
    return starts


def _uuids(n: int) -> list[str]:
    """n random (version 4) UUIDs; formatted from one block of random bytes, as uuid4 would be."""
    h = os.urandom(16 * n).hex()
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-4{h[i + 13:i + 16]}-{VARIANT[h[i + 16]]}{h[i + 17:i + 20]}-"
            f"{h[i + 20:i + 32]}" for i in range(0, 32 * n, 32)]


INSTANCE_COLS = ("id", "process_version_id", "process_id", "status", "version",
                 "next_timer_at", "child_ref", "child_status", "audit_type", "grade",
                 "service_area_id", "team_id", "started_by", "started_at", "updated_at",
                 "completed_at")
TASK_COLS = ("id", "instance_id", "task_uuid", "spec_name", "name", "process_id", "role",
             "assignee_id", "group_role", "claimed_by_id", "form_file", "due_at", "escalated_at",
             "status", "created_at", "completed_at", "completed_by_id", "draft")
EVENT_COLS = ("id", "at", "actor", "kind", "instance_id", "child_ref", "detail", "content_hash",
              "prev_hash", "hash")


def _plus(moment: datetime | None, shift: timedelta) -> datetime | None:
    return None if moment is None else moment + shift


def _clone_rows(t: Template, c: Clone, org: Org, timer_at: datetime | None, task_id: int,
                cpp: str) -> tuple[tuple[Any, ...], tuple[int, str], list[tuple[Any, ...]],
                              list[tuple[Any, ...]]]:
    """Return the instance, whole-state, participant and human-task rows of one clone."""
    row = t.row
    timer_shift = (timer_at - row["next_timer_at"]) if timer_at is not None else c.shift
    uuids = _uuids(len(t.uuids))
    state = t.state(uuids, c.ref, c.shift, timer_shift)
    team, area = org.team_of[c.people[PRACTITIONER]]
    instance = (c.id, row["process_version_id"], row["process_id"], row["status"],
                row["version"], timer_at, c.ref, row["child_status"], row["audit_type"],
                row["grade"], area, team, cpp, c.start, _plus(row["updated_at"], c.shift),
                _plus(row["completed_at"], c.shift))
    parts = [(c.id, role, c.people[role]) for role in t.participants]
    by_person = {pid: role for role, pid in t.participants.items()}
    tasks = []
    for i, task in enumerate(t.tasks):
        k = t.uuids.get(task["task_uuid"])
        is_open = task["status"] == "open"
        role = task["role"]
        assignee = c.people[role] if role in PARTICIPANT_ROLES and task["assignee_id"] else \
            task["assignee_id"]
        tasks.append((
            task_id + i, c.id, uuids[k] if k is not None else _uuids(1)[0], task["spec_name"],
            task["name"], task["process_id"], role, assignee, task["group_role"],
            _repoint(task["claimed_by_id"], by_person, c.people), task["form_file"],
            _plus(task["due_at"], timer_shift if is_open else c.shift),
            _plus(task["escalated_at"], c.shift), task["status"],
            _plus(task["created_at"], c.shift), _plus(task["completed_at"], c.shift),
            _repoint(task["completed_by_id"], by_person, c.people), None))
    return instance, (c.id, state), parts, tasks


def _repoint(person: int | None, by_person: dict[int, str], people: dict[str, int]) -> int | None:
    """A template participant's id becomes the clone's holder of that role; others stay."""
    if person is None or person not in by_person:
        return person
    return people[by_person[person]]


class _Writer:
    """Rows into tables: COPY on PostgreSQL, executemany on SQLite; a transaction a batch."""

    def __init__(self, engine: Engine):
        self.pg = engine.db.dialect.name == "postgresql"
        if self.pg:
            self.raw = engine.db.raw_connection()
            self.conn = self.raw.driver_connection
            # Seeding can be redone from scratch; waiting for each batch's WAL flush buys nothing.
            self.conn.execute("SET synchronous_commit = off")
        else:  # SQLite has one writer: take the lock only while writing, not between batches
            self.sa = engine.db.connect()

    def _begin(self) -> None:
        if not self.pg and not self.sa.in_transaction():
            self.sa.begin()

    def rows(self, table: Table, cols: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
        written = 0
        if self.pg:
            with self.conn.cursor() as cur, cur.copy(
                    f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    written += 1
            return written
        self._begin()
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(dict(zip(cols, row, strict=True)))
            if len(batch) == 1000:
                self.sa.execute(insert(table), batch)
                written, batch = written + len(batch), []
        if batch:
            self.sa.execute(insert(table), batch)
        return written + len(batch)

    def commit(self) -> None:
        if self.pg:
            self.conn.commit()
        elif self.sa.in_transaction():
            self.sa.commit()

    def sql(self, statement: str) -> None:
        if self.pg:
            self.conn.execute(statement)
        else:
            self._begin()
            self.sa.execute(text(statement))

    def close(self) -> None:
        if self.pg:
            self.conn.commit()
            self.raw.close()
        else:
            self.commit()
            self.sa.close()


def _quotas(lengths: list[int], events: int) -> list[int]:
    """Events for each clone: its template's history, cut short or topped up with views."""
    total, n = sum(lengths), len(lengths)
    if n == 0:
        return []
    if events >= total:
        extra, rest = divmod(events - total, n)
        return [length + extra + (i < rest) for i, length in enumerate(lengths)]
    quotas = [length * events // total for length in lengths]
    short = events - sum(quotas)
    for i in range(n):
        if short == 0:
            break
        if quotas[i] < lengths[i]:
            quotas[i] += 1
            short -= 1
    return quotas


class _Chain:
    """Hash-chained audit events for the clones, continuing from the trail's head."""

    def __init__(self, engine: Engine, templates: list[Template], org: Org, rng: random.Random,
                 now: datetime):
        with engine.transaction() as s:
            head = s.get(AuditHead, 1)
            self.last_id, self.last_hash = (head.last_id, head.last_hash) if head else (0, audit.GENESIS)
        self.templates, self.org, self.rng, self.now = templates, org, rng, now

    def events(self, clone: Clone, quota: int) -> Iterator[tuple[Any, ...]]:
        t = self.templates[clone.template]
        names = {self.org.usernames[t.participants[r]]: self.org.usernames[clone.people[r]]
                 for r in t.participants}
        viewers = list(names.values())
        names[t.ref] = clone.ref
        assert t.names is not None
        for k in range(quota):
            if k < len(t.events):
                at, actor, kind, detail, has_ref = t.events[k]
                at, actor = at + clone.shift, names.get(actor, actor)
                detail = t.names.sub(lambda m: names[m.group(0)], detail)
                ref = clone.ref if has_ref else ""
            else:  # a participant opening the audit, some time since it started
                at = clone.start + (self.now - clone.start) * self.rng.random()
                actor, kind, detail, ref = self.rng.choice(viewers), "viewed", "{}", clone.ref
            self.last_id += 1
            content = audit.content_hash(ref, detail)
            digest = audit._digest(self.last_hash, self.last_id, at, actor, kind, clone.id, content)
            yield (self.last_id, at, actor, kind, clone.id, ref, detail, content, self.last_hash,
                   digest)
            self.last_hash = digest


def _write_events(engine: Engine, writer: _Writer, chain: _Chain, clones: list[Clone],
                  events: int, log: Callable[[str], None]) -> int:
    quotas = _quotas([len(chain.templates[c.template].events) for c in clones], events)
    written, step = 0, max(1, len(clones) // 10)
    table = AuditEvent.__table__
    for i in range(0, len(clones), BATCH):
        rows = (row for c, q in zip(clones[i:i + BATCH], quotas[i:i + BATCH], strict=True)
                for row in chain.events(c, q))
        written += writer.rows(table, EVENT_COLS, rows)  # type: ignore[arg-type]
        writer.sql(f"UPDATE audit_head SET last_id = {chain.last_id}, "
                   f"last_hash = '{chain.last_hash}' WHERE id = 1")
        writer.commit()
        if (i // BATCH) % max(1, step // BATCH) == 0:
            log(f"  events: {written:,} written")
    return written


def _settle(writer: _Writer) -> None:
    """Leave the database as a live one would be: sequences past our ids, tables vacuumed.

    PostgreSQL hands out ids from sequences, so they move past the ids given out here. VACUUM
    (autovacuum may be off, as on the CI machine) sets the visibility map, so index-only scans
    do not visit the heap, and ANALYZE gives the planner the new sizes.
    """
    if not writer.pg:
        writer.sql("ANALYZE")
        return
    for table in ("person", "instance", "human_task", "audit_event"):
        writer.sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                   f"(SELECT max(id) FROM {table})) WHERE pg_get_serial_sequence('{table}', 'id') "
                   "IS NOT NULL")
    writer.commit()
    writer.conn.autocommit = True
    writer.sql("VACUUM (ANALYZE) instance, participant, human_task, audit_event, audit_head, "
               "person, person_role, team, service_area, notification")
    writer.conn.autocommit = False


def _starts(counts: Mapping[str, int], now: datetime, per_month: int | None,
            rng: random.Random) -> list[tuple[datetime, str]]:
    """Each clone's start and stage, oldest first (ids then grow with time, as they do live)."""
    plan = [(start, "closed") for start in _closed_starts(counts.get("closed", 0), now, per_month, rng)]
    for stage, n in counts.items():
        if stage != "closed":
            plan += [(now - timedelta(minutes=5) - OPEN_WITHIN * rng.random(), stage)
                     for _ in range(n)]
    plan.sort()
    return plan


def recreate_database(url: str) -> None:
    """Drop and create a benchmark's own PostgreSQL database (its name must say it is one)."""
    target = make_url(url)
    if not (target.database or "").startswith("qaflow_bench"):
        raise SystemExit(f"refusing to drop {target.database!r}: "
                         "a benchmark database's name starts with qaflow_bench")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT",
                          poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def seed(engine: Engine, audits: int, *, events: int = 0, staff: int = 2000, seed: int = 1,
         timers_due_at: datetime | None = None, log: Callable[[str], None] = print,
         mix: Mapping[str, float] | None = None, per_month: int | None = None) -> Seeded:
    """Fill an empty database (schema applied here) with `audits` audits and `events` events.

    `mix` weighs the stages of STAGES (DEFAULT_MIX: most closed, the rest open at every point);
    open audits started in the last 45 days; waiting timers fall due over the next three
    months, or all at `timers_due_at`; closed audits start before the current month, with
    `per_month` of them in each of the last 12 months when given.
    """
    began = time.perf_counter()
    rng = random.Random(seed)
    mix = dict(DEFAULT_MIX if mix is None else mix)
    if set(mix) - set(STAGES):
        raise ValueError(f"unknown stages in the mix: {sorted(set(mix) - set(STAGES))}")
    engine.create_schema()
    org = _build_org(engine, staff, rng, hash_password(PASSWORD))
    log(f"  organisation: {len(org.usernames)} people, {len(org.practitioners)} practitioners")
    engine.deploy(Bundle.from_paths([ROOT / "processes"]), org.policy, "seeded by bench/bulk.py")
    templates = _run_templates(engine, org, mix, rng, audits, log)
    by_stage: dict[str, list[int]] = {}
    for i, t in enumerate(templates):
        by_stage.setdefault(t.stage, []).append(i)
    now = engine.now().astimezone(UTC)
    plan = _starts(_counts(mix, audits - len(templates)), now, per_month, rng)
    writer = _Writer(engine)
    try:
        clones = _write_clones(engine, writer, templates, by_stage, org, plan, rng, now,
                               timers_due_at, keep=events > 0, log=log)
        written = 0
        if events > 0:
            written = _write_events(engine, writer, _Chain(engine, templates, org, rng, now),
                                    clones, events, log)
        _settle(writer)
    finally:
        writer.close()
    with engine.transaction() as s:
        holders = sorted(set(s.execute(select(Person.username).join(
            HumanTask, HumanTask.assignee_id == Person.id).where(HumanTask.status == "open"))
            .scalars()))
    log(f"  seeded {audits:,} audits and {written:,} events in {time.perf_counter() - began:.1f} s")
    return Seeded(audits, written, PASSWORD, holders, list(org.cpp))


def _write_clones(engine: Engine, writer: _Writer, templates: list[Template],
                  by_stage: dict[str, list[int]], org: Org, plan: list[tuple[datetime, str]],
                  rng: random.Random, now: datetime, timers_due_at: datetime | None, *,
                  keep: bool, log: Callable[[str], None]) -> list[Clone]:
    with engine.transaction() as s:
        next_id = (s.execute(select(func.max(Instance.id))).scalar() or 0) + 1
        next_task = (s.execute(select(func.max(HumanTask.id))).scalar() or 0) + 1
    kept: list[Clone] = []
    step = max(BATCH, len(plan) // 10)
    for first in range(0, len(plan), BATCH):
        instances, states, parts, tasks = [], [], [], []
        for start, stage in plan[first:first + BATCH]:
            which = rng.choice(by_stage[stage])
            t = templates[which]
            clone = Clone(next_id, which, _people(org, rng), f"CH-{next_id:07d}", start,
                          start - t.row["started_at"])
            timer_at = None
            if t.waiting:
                timer_at = timers_due_at or now + timedelta(hours=1) + (
                    TIMERS_WITHIN - timedelta(hours=1)) * rng.random()
            inst, state, ps, ts = _clone_rows(t, clone, org, timer_at, next_task,
                                              rng.choice(org.cpp))
            instances.append(inst)
            states.append(state)
            parts += ps
            tasks += ts
            next_id, next_task = next_id + 1, next_task + len(ts)
            if keep:
                kept.append(clone)
        writer.rows(Instance.__table__, INSTANCE_COLS, instances)  # type: ignore[arg-type]
        writer.rows(InstanceState.__table__, ("instance_id", "state"), states)  # type: ignore[arg-type]
        writer.rows(Participant.__table__, ("instance_id", "role", "person_id"), parts)  # type: ignore[arg-type]
        writer.rows(HumanTask.__table__, TASK_COLS, tasks)  # type: ignore[arg-type]
        writer.commit()
        done = first + len(instances)
        if done % step < BATCH or done == len(plan):
            log(f"  audits: {done:,} of {len(plan):,} cloned")
    return kept


def reschedule(engine: Engine, instance_ids: Iterable[int], due: datetime) -> None:
    """Move the waiting timer of each audit to `due`, in one transaction, as the engine would.

    The timer's due time is in the workflow state (its `event_value`) and, for the worker, in
    `next_timer_at`; both move, with the deadline of the task it guards, and the row's version
    goes up. Benchmarks use it to make timers fall due at a moment of their choosing.
    """
    with engine.transaction() as s:
        for inst in s.execute(select(Instance).where(Instance.id.in_(list(instance_ids)))
                              .options(selectinload(Instance.whole),
                                       selectinload(Instance.changes))
                              ).scalars():
            old = inst.next_timer_at
            if old is None:
                raise ValueError(f"audit {inst.id} is not waiting on a timer")

            def moved(m: re.Match[str], old: datetime = old) -> str:
                same = datetime.fromisoformat(m.group("timer")) == old
                return f'"event_value":"{due.isoformat()}"' if same else m.group(0)

            inst.state = TIMER_RE.sub(moved, inst.workflow_state())  # stored whole again
            inst.changes.clear()
            inst.next_timer_at = due
            s.execute(update(HumanTask).where(HumanTask.instance_id == inst.id,
                                              HumanTask.status == "open", HumanTask.due_at == old)
                      .values(due_at=due))


def main() -> None:
    from engine import SystemClock

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True,
                        help="an empty database (tables are created here)")
    parser.add_argument("--audits", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--staff", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    engine = Engine(args.database_url, clock=SystemClock())
    began = time.perf_counter()
    done = seed(engine, args.audits, events=args.events, staff=args.staff, seed=args.seed)
    took = time.perf_counter() - began
    print(f"seeded {done.audits:,} audits and {done.events:,} events in {took:.1f} s "
          f"({done.audits / took:,.0f} audits/s); {len(done.users_with_tasks)} people hold open tasks")


if __name__ == "__main__":
    main()
