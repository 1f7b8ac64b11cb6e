"""Read-only queries for the web UI: task lists, a task's form, audits, diagrams, notifications.

Each returns plain dataclasses, never ORM rows, so a template cannot lazy-load or change data.
The one write here is `view_audit`, which appends the "viewed" event every view must leave.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine import audit, forms, org, spiff
from engine.db import reading
from engine.errors import AccessRefused, AlreadyDone, NotFound
from engine.models import (
    AuditEvent,
    HumanTask,
    Instance,
    Notification,
    Participant,
    Person,
    PersonRole,
    ProcessVersion,
)
from engine.roles import AUDITOR, CPP, GROUP_ROLES, HOS_SPQA
from engine.service import Engine, stored_state_of
from engine.spiff import TaskState
from engine.workdays import LONDON

NO_SUCH_TASK = "There is no such task for you"
NO_SUCH_AUDIT = "There is no audit with that reference for you"


@dataclass(frozen=True)
class Me:
    username: str
    name: str
    roles: frozenset[str]
    id: int


@dataclass(frozen=True)
class TaskRow:
    id: int
    name: str
    audit_id: int
    child_ref: str
    child_status: str
    audit_type: str
    process_name: str
    role: str
    due_at: datetime | None
    overdue: bool
    group_role: str | None
    holder: str
    claimed_by_me: bool


@dataclass(frozen=True)
class TaskForm:
    task: TaskRow
    schema: dict[str, Any]
    draft: dict[str, Any] | None
    context: list[tuple[str, str]]


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class AuditSummary:
    id: int
    child_ref: str
    child_status: str
    audit_type: str
    grade: str | None
    status: str
    process_name: str
    version: int
    started_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class AuditDetail:
    summary: AuditSummary
    started_by: str
    participants: list[tuple[str, str, str]]
    open_tasks: list[TaskRow]
    history: list[HistoryItem]
    views: list[HistoryItem]
    is_auditor: bool


@dataclass(frozen=True)
class Diagram:
    process_id: str
    name: str
    xml: str
    completed: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PersonChoice:
    username: str
    label: str


@dataclass(frozen=True)
class NotificationRow:
    created_at: datetime
    recipient: str
    subject: str
    body: str
    status: str
    audit_id: int | None


def _me(s: Session, username: str) -> Person:
    person = org.person(s, username)
    if not person.active:
        raise NotFound("No such person")
    return person


# Who is asking: an active person's id and name, a row per role. On a connection, with no
# session and no ORM objects: every request asks it first, and every task list.
_WHOAMI = (select(Person.id, Person.name, PersonRole.role)
           .outerjoin(PersonRole, PersonRole.person_id == Person.id)
           .where(Person.username == bindparam("username"), Person.active.is_(True)))


def _asking(conn: Connection, username: str) -> tuple[int, str, frozenset[str]] | None:
    rows = conn.execute(_WHOAMI, {"username": username}).all()
    if not rows:
        return None
    return rows[0][0], rows[0][1], frozenset(r[2] for r in rows if r[2] is not None)


def whoami(engine: Engine, username: str) -> Me | None:
    """Return the signed-in person's name and roles, or None if they no longer may sign in."""
    with reading(engine.db) as conn:
        found = _asking(conn, username)
    return Me(username, found[1], found[2], found[0]) if found is not None else None


def _overdue(escalated_at: datetime | None, due_at: datetime | None, now: datetime) -> bool:
    return escalated_at is not None or (due_at is not None and due_at < now)


def _row(t: HumanTask, me: Person, now: datetime) -> TaskRow:
    inst = t.instance
    holder = t.assignee or t.claimed_by
    return TaskRow(
        id=t.id, name=t.name, audit_id=inst.id, child_ref=inst.child_ref,
        child_status=inst.child_status, audit_type=inst.audit_type,
        process_name=inst.process_version.name, role=t.role, due_at=t.due_at,
        overdue=_overdue(t.escalated_at, t.due_at, now), group_role=t.group_role,
        holder=holder.name if holder else f"{t.group_role} (not claimed yet)",
        claimed_by_me=t.claimed_by_id == me.id,
    )


def _sorted(rows: list[TaskRow]) -> list[TaskRow]:
    far = datetime.max.replace(tzinfo=None)
    return sorted(rows, key=lambda r: (not r.overdue, r.due_at is None,
                                       r.due_at.replace(tzinfo=None) if r.due_at else far, r.id))


_TASK_ROWS = (
    select(HumanTask.id, HumanTask.name, HumanTask.role, HumanTask.due_at,
           HumanTask.escalated_at, HumanTask.group_role, HumanTask.claimed_by_id,
           Instance.id, Instance.child_ref, Instance.child_status, Instance.audit_type,
           ProcessVersion.name, func.coalesce(HumanTask.assignee_id, HumanTask.claimed_by_id))
    .join(Instance, HumanTask.instance_id == Instance.id)
    .join(ProcessVersion, Instance.process_version_id == ProcessVersion.id)
    .where(HumanTask.status == "open"))
# Built once: a list is asked for on every visit to it, and building the select took about
# 0.1 ms each time (timeit).
_MY_TASK_ROWS = _TASK_ROWS.where(or_(HumanTask.assignee_id == bindparam("me"),
                                     HumanTask.claimed_by_id == bindparam("me")))
_GROUP_TASK_ROWS = _TASK_ROWS.where(HumanTask.group_role.in_(bindparam("groups", expanding=True)),
                                    HumanTask.claimed_by_id.is_(None))


def _task_rows(conn: Connection, me_id: int, my_name: str, now: datetime, statement: Any,
               params: dict[str, Any]) -> list[TaskRow]:
    """Select just the columns a task list shows: no workflow state, no ORM objects per row.

    The holder is me on every row of my list and nobody on the group list; names of anyone
    else (a task assigned to another and claimed by me) are read apart, when there are any,
    rather than joining the person table to every row.
    """
    rows = conn.execute(statement, params).all()
    names = {me_id: my_name}
    others = {r[12] for r in rows if r[12] is not None and r[12] != me_id}
    if others:
        names.update((r[0], r[1]) for r in conn.execute(
            select(Person.id, Person.name).where(Person.id.in_(others))))
    return _sorted([
        TaskRow(id=r[0], name=r[1], audit_id=r[7], child_ref=r[8], child_status=r[9],
                audit_type=r[10], process_name=r[11], role=r[2], due_at=r[3],
                overdue=_overdue(r[4], r[3], now),
                group_role=r[5], holder=names.get(r[12]) or f"{r[5]} (not claimed yet)",
                claimed_by_me=r[6] == me_id)
        for r in rows
    ])


def _me_asking(conn: Connection, username: str) -> tuple[int, str, frozenset[str]]:
    found = _asking(conn, username)
    if found is None:
        raise NotFound("No such person")
    return found


def my_tasks(engine: Engine, who: str | Me) -> list[TaskRow]:
    """Open tasks assigned to me or claimed by me: overdue first, then by deadline. `who` is a
    username, or the signed-in person as this request already read them (`whoami`)."""
    with reading(engine.db) as conn:
        me_id, name = (who.id, who.name) if isinstance(who, Me) else _me_asking(conn, who)[:2]
        return _task_rows(conn, me_id, name, engine.now(), _MY_TASK_ROWS, {"me": me_id})


def group_tasks(engine: Engine, who: str | Me) -> list[TaskRow]:
    """Unclaimed open tasks of the groups I belong to (CPP, HoS SPQA...), ready to claim."""
    with reading(engine.db) as conn:
        me_id, name, roles = (who.id, who.name, who.roles) if isinstance(who, Me) \
            else _me_asking(conn, who)
        groups = sorted(roles & GROUP_ROLES)
        if not groups:
            return []
        return _task_rows(conn, me_id, name, engine.now(), _GROUP_TASK_ROWS, {"groups": groups})


def _reads_data(form: dict[str, Any]) -> bool:
    """Whether a form needs the workflow data: to show earlier answers (`x-show`) or to leave
    out questions for other children (`x-when`). Most forms need neither, and their pages then
    skip reading the workflow state at all."""
    props = (form.get("properties") or {}).values()
    return bool(form.get("x-show")) or any(isinstance(p, dict) and p.get("x-when") for p in props)


def _context(schema: dict[str, Any], data: dict[str, Any]) -> list[tuple[str, str]]:
    """Earlier answers a form asks to show: schema key `x-show`, data keys or {key: label}."""
    shown = schema.get("x-show") or []
    pairs = shown.items() if isinstance(shown, dict) else ((k, k) for k in shown)
    out = []
    for key, label in pairs:
        if key in data and data[key] not in (None, ""):
            value = data[key]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            out.append((str(label).replace("_", " ").capitalize(), text))
    return out


_HOLDER = aliased(Person, name="holder")
# A task's page in one read: the task, its audit, the process's name, who holds it, and who is
# asking (by username: an inactive account finds nothing).
_TASK_PAGE = (
    select(HumanTask.id, HumanTask.name, HumanTask.role, HumanTask.due_at, HumanTask.escalated_at,
           HumanTask.group_role, HumanTask.status, HumanTask.assignee_id, HumanTask.claimed_by_id,
           HumanTask.completed_by_id, HumanTask.completed_at, HumanTask.form_file,
           HumanTask.task_uuid, HumanTask.draft, Instance.id.label("audit_id"), Instance.child_ref,
           Instance.child_status, Instance.audit_type, Instance.process_version_id,
           ProcessVersion.name.label("process_name"), _HOLDER.name.label("holder_name"),
           Person.id.label("me_id"))
    .join(Instance, HumanTask.instance_id == Instance.id)
    .join(ProcessVersion, Instance.process_version_id == ProcessVersion.id)
    .outerjoin(_HOLDER, _HOLDER.id == func.coalesce(HumanTask.assignee_id,
                                                    HumanTask.claimed_by_id))
    .join(Person, (Person.username == bindparam("username")) & Person.active.is_(True))
    .where(HumanTask.id == bindparam("task_id")))


def task_form(engine: Engine, username: str, task_id: int) -> TaskForm:
    """The form for an open task I hold (assigned, or claimed by me); NotFound for anyone else.

    One read on a connection, no ORM objects: the workflow state is read as well only for the
    forms that show earlier answers or leave out questions for other children.
    """
    with reading(engine.db) as conn:
        t = conn.execute(_TASK_PAGE, {"task_id": task_id, "username": username}).first()
        if t is None:
            raise NotFound(NO_SUCH_TASK)
        me_id, now = t.me_id, engine.now()
        if t.status == "completed" and t.completed_by_id == me_id and t.completed_at is not None:
            at = t.completed_at.astimezone(LONDON)
            raise AlreadyDone(f"You completed ‘{t.name}’ for child {t.child_ref} "
                              f"at {at:%H:%M} on {at.day} {at:%B %Y}. Nothing more is needed.")
        if t.status != "open" or me_id not in (t.assignee_id, t.claimed_by_id):
            raise NotFound(NO_SUCH_TASK)
        pd = engine.definition_of_version(t.process_version_id)
        form = pd.form(t.form_file) or {"type": "object"}
        data: dict[str, Any] = {}
        if _reads_data(form):
            state, changes = stored_state_of(conn, t.audit_id)
            data = spiff.task_data(state, changes, t.task_uuid) or {}
    schema = forms.for_task(form, data)
    row = TaskRow(
        id=t.id, name=t.name, audit_id=t.audit_id, child_ref=t.child_ref,
        child_status=t.child_status, audit_type=t.audit_type, process_name=t.process_name,
        role=t.role, due_at=t.due_at, overdue=_overdue(t.escalated_at, t.due_at, now),
        group_role=t.group_role, holder=t.holder_name or f"{t.group_role} (not claimed yet)",
        claimed_by_me=t.claimed_by_id == me_id)
    return TaskForm(row, schema, t.draft, _context(schema, data))


def _reports(s: Session, me: Person) -> set[int]:
    """Ids of me and everyone I manage, directly or through others."""
    found, frontier = {me.id}, {me.id}
    while frontier:
        frontier = set(s.execute(
            select(Person.id).where(Person.manager_id.in_(frontier))).scalars()) - found
        found |= frontier
    return found


def _summary(inst: Instance) -> AuditSummary:
    return AuditSummary(
        id=inst.id, child_ref=inst.child_ref, child_status=inst.child_status,
        audit_type=inst.audit_type, grade=inst.grade, status=inst.status,
        process_name=inst.process_version.name, version=inst.process_version.version,
        started_at=inst.started_at, completed_at=inst.completed_at)


def audits_for(engine: Engine, username: str, limit: int = 50,
               offset: int = 0) -> list[AuditSummary]:
    """Audits I may see (newest first): mine, my reports', or all of them for CPP and HoS SPQA."""
    with engine.transaction() as s:
        me = _me(s, username)
        q = (select(Instance.id, Instance.child_ref, Instance.child_status, Instance.audit_type,
                    Instance.grade, Instance.status, ProcessVersion.name, ProcessVersion.version,
                    Instance.started_at, Instance.completed_at)
             .join(ProcessVersion, Instance.process_version_id == ProcessVersion.id)
             .order_by(Instance.started_at.desc(), Instance.id.desc()).limit(limit).offset(offset))
        if not me.role_names & org.OVERSIGHT_ROLES:
            # The same rule as org.can_view, in SQL: a participant is me or someone I manage.
            q = q.where(exists().where(Participant.instance_id == Instance.id,
                                       Participant.person_id.in_(_reports(s, me))))
        return [AuditSummary(id=r[0], child_ref=r[1], child_status=r[2], audit_type=r[3],
                             grade=r[4], status=r[5], process_name=r[6], version=r[7],
                             started_at=r[8], completed_at=r[9]) for r in s.execute(q).all()]


def _visible(s: Session, me: Person, audit_id: int) -> Instance:
    inst = s.get(Instance, audit_id)
    if inst is None:
        raise NotFound(NO_SUCH_AUDIT)
    if not org.can_view(me, inst):
        raise AccessRefused(NO_SUCH_AUDIT, me.username, inst.id, inst.child_ref)
    return inst


def _history(s: Session, audit_id: int) -> list[HistoryItem]:
    events = s.execute(select(AuditEvent).where(AuditEvent.instance_id == audit_id)
                       .order_by(AuditEvent.id)).scalars().all()
    actors = {e.actor for e in events}
    names: dict[str, str] = {u: n for u, n in s.execute(
        select(Person.username, Person.name).where(Person.username.in_(actors))).all()}
    return [HistoryItem(e.at, names.get(e.actor, e.actor), e.kind, json.loads(e.detail))
            for e in events]


def view_audit(engine: Engine, username: str, audit_id: int) -> AuditDetail:
    """An audit as I may see it, with its history; the view itself goes into the audit trail."""
    with engine.transaction() as s:
        me, now = _me(s, username), engine.now()
        inst = _visible(s, me, audit_id)
        audit.append(s, now, username, "viewed", {}, inst.id, inst.child_ref)
        tasks = s.execute(select(HumanTask).where(
            HumanTask.instance_id == inst.id, HumanTask.status == "open")).scalars().all()
        history = _history(s, inst.id)
        started_by = s.execute(select(Person.name).where(
            Person.username == inst.started_by)).scalar_one_or_none()
        return AuditDetail(
            summary=_summary(inst), started_by=started_by or inst.started_by,
            participants=[(p.role, p.person.name, p.person.job_title)
                          for p in sorted(inst.participants, key=lambda p: p.role)],
            open_tasks=_sorted([_row(t, me, now) for t in tasks]),
            history=[h for h in history if h.kind != "viewed"],
            views=[h for h in history if h.kind == "viewed"],
            is_auditor=inst.status == "running" and any(
                p.role == AUDITOR and p.person_id == me.id for p in inst.participants),
        )


def _file_of(files: dict[str, bytes], process_id: str) -> str | None:
    from lxml import etree

    from engine.definitions import NS

    for name, content in files.items():
        if name.endswith(".bpmn"):
            root = etree.fromstring(content, etree.XMLParser(resolve_entities=False,
                                                             no_network=True))
            if root.find(f"bpmn:process[@id='{process_id}']", NS) is not None:
                return name
    return None


def diagrams(engine: Engine, username: str, audit_id: int) -> list[Diagram]:
    """The audit's process diagrams (its own first, then the pathways it has entered), marked up."""
    with engine.transaction() as s:
        me, now = _me(s, username), engine.now()
        inst = _visible(s, me, audit_id)
        pd = engine.definition(s, inst.process_version)
        wf, _ = engine._load(s, inst)
        engine._remember(s, inst, wf)
        marks: dict[str, dict[str, set[str]]] = {}
        for t in wf.get_tasks():
            bpmn_id = getattr(t.task_spec, "bpmn_id", None)
            if not bpmn_id:
                continue
            state = marks.setdefault(t.workflow.spec.name, {"completed": set(), "current": set()})
            if t.state == TaskState.COMPLETED:
                state["completed"].add(bpmn_id)
            elif t.state in (TaskState.READY, TaskState.STARTED):
                state["current"].add(bpmn_id)
        late = {t.spec_name for t in s.execute(select(HumanTask).where(
            HumanTask.instance_id == inst.id, HumanTask.status == "open")).scalars()
            if _overdue(t.escalated_at, t.due_at, now)}
        out: list[Diagram] = []
        for pid in [inst.process_id, *sorted(set(marks) - {inst.process_id})]:
            fname = _file_of(pd.files, pid)
            if fname is None or any(d.xml == pd.files[fname].decode() for d in out):
                continue
            m = marks.get(pid, {"completed": set(), "current": set()})
            name = pd.name if pid == inst.process_id else pid.replace("_", " ").capitalize()
            out.append(Diagram(pid, name, pd.files[fname].decode(), sorted(m["completed"]),
                               sorted(m["current"] - m["completed"]),
                               sorted(late & m["current"])))
        return out


def _choices(people: list[Person]) -> list[PersonChoice]:
    return [PersonChoice(p.username, ", ".join(x for x in (
        p.name, p.job_title, p.team.name if p.team else "") if x)) for p in people]


def start_choices(engine: Engine) -> tuple[list[PersonChoice], list[PersonChoice]]:
    """Who may audit (anyone who manages someone) and whose work may be audited (practitioners)."""
    with engine.transaction() as s:
        report = aliased(Person)
        is_manager = exists().where(report.manager_id == Person.id, report.active.is_(True))
        active = select(Person).where(Person.active.is_(True)).order_by(Person.name)
        managers = s.execute(active.where(is_manager)).scalars().all()
        practitioners = s.execute(active.where(~is_manager, Person.team_id.is_not(None),
                                               Person.manager_id.is_not(None))).scalars().all()
        return _choices(list(managers)), _choices(list(practitioners))


def deployed(engine: Engine, process_id: str) -> bool:
    """Return True if some version of the process has been deployed."""
    with engine.transaction() as s:
        return s.execute(select(ProcessVersion.id).where(
            ProcessVersion.process_id == process_id).limit(1)).first() is not None


may_start = org.may_start


def may_see_outbox(roles: frozenset[str]) -> bool:
    return bool(roles & {CPP, HOS_SPQA})


def notifications(engine: Engine, username: str | None, limit: int = 200) -> list[NotificationRow]:
    """Notifications sent to me, newest first; username None means the whole outbox."""
    with engine.transaction() as s:
        q = (select(Notification, Person.name).outerjoin(Person, Notification.recipient_id
                                                         == Person.id)
             .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit))
        if username is not None:
            q = q.where(Notification.recipient_id == _me(s, username).id)
        return [NotificationRow(n.created_at, name or n.email, n.subject, n.body, n.status,
                                n.instance_id) for n, name in s.execute(q).all()]
