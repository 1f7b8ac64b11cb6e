"""The engine: each use case (start, complete, fire timers, raise a concern) is one transaction."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, cast
from uuid import UUID

from sqlalchemy import (
    Connection,
    Row,
    Table,
    bindparam,
    event,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine import audit, clock, forms, org, spiff
from engine.clock import Clock, SystemClock
from engine.db import UseCase, connection_of, make_db, reading
from engine.definitions import Bundle, ParsedDefinition, parse_bundle, sha256
from engine.errors import (
    AccessRefused,
    ConcurrentUpdate,
    EngineError,
    FormInvalid,
    NotAllowed,
    NotFound,
    ProcessFailed,
)
from engine.models import (
    DefinitionFile,
    HumanTask,
    Instance,
    InstanceChange,
    InstanceState,
    Notification,
    Participant,
    Person,
    PersonRole,
    ProcessVersion,
    ProcessVersionFile,
)
from engine.prepared import Prepared
from engine.roles import AUDITOR, GROUP_ROLES, HOS_SPQA, PARTICIPANT_ROLES, POLICY_OWNER
from engine.sandbox import Effects
from engine.timeline import all_tasks, scan, task_due_at, waiting_timers

SAFETY_SIGNAL = "safety_concern_raised"
HUMAN_TASK = cast(Table, HumanTask.__table__)
INSTANCE = cast(Table, Instance.__table__)
INSTANCE_STATE = cast(Table, InstanceState.__table__)
INSTANCE_CHANGE = cast(Table, InstanceChange.__table__)
# Keys in Session.info and on a live workflow (see _remember and _project_tasks).
_LIVE_PENDING = "qaflow_live_pending"
_OPEN_ROWS = "_qaflow_open_rows"
_WAITING = "_qaflow_waiting_timers"
_NEW = "_qaflow_not_stored_yet"
RETRY_FAILED_TIMER = timedelta(hours=1)
# Values copied out of the workflow's data onto the instance row, for lists and reports.
SUMMARY_KEYS = ("grade", "child_ref", "child_status", "audit_type")


# The statements of the busiest use case, built once.
_TASK_TO_COMPLETE = Prepared(
    select(HUMAN_TASK.c.instance_id, HUMAN_TASK.c.task_uuid, HUMAN_TASK.c.spec_name,
           HUMAN_TASK.c.name, HUMAN_TASK.c.status, HUMAN_TASK.c.group_role,
           HUMAN_TASK.c.assignee_id, HUMAN_TASK.c.claimed_by_id, HUMAN_TASK.c.form_file,
           HUMAN_TASK.c.completed_by_id, Person.id, Person.active, INSTANCE.c.version,
           INSTANCE.c.process_version_id, INSTANCE.c.process_id, INSTANCE.c.child_ref,
           INSTANCE.c.grade, INSTANCE.c.next_timer_at)
    .join(INSTANCE, INSTANCE.c.id == HUMAN_TASK.c.instance_id)
    .join(Person, Person.username == bindparam("username"))
    .where(HUMAN_TASK.c.id == bindparam("task_id")))
_MARK_COMPLETED = Prepared(
    update(HUMAN_TASK).where(HUMAN_TASK.c.id == bindparam("task_id"), HUMAN_TASK.c.status == "open")
    .values(status="completed", completed_at=bindparam("at"), completed_by_id=bindparam("by"),
            draft=None))
_CLAIMER = aliased(Person, name="claimer")
_TASK_TO_CLAIM = Prepared(
    select(HUMAN_TASK.c.instance_id, HUMAN_TASK.c.name, HUMAN_TASK.c.status,
           HUMAN_TASK.c.group_role, HUMAN_TASK.c.assignee_id, HUMAN_TASK.c.claimed_by_id,
           INSTANCE.c.child_ref, Person.id.label("me"), Person.active,
           _CLAIMER.name.label("claimed_by_name"),
           exists().where(PersonRole.person_id == Person.id,
                          PersonRole.role == HUMAN_TASK.c.group_role).label("in_group"))
    .join(INSTANCE, INSTANCE.c.id == HUMAN_TASK.c.instance_id)
    .join(Person, Person.username == bindparam("username"))
    .outerjoin(_CLAIMER, _CLAIMER.id == HUMAN_TASK.c.claimed_by_id)
    .where(HUMAN_TASK.c.id == bindparam("task_id")))
_CLAIM = Prepared(update(HUMAN_TASK)
                  .where(HUMAN_TASK.c.id == bindparam("task_id"), HUMAN_TASK.c.status == "open",
                         or_(HUMAN_TASK.c.claimed_by_id.is_(None),
                             HUMAN_TASK.c.claimed_by_id == bindparam("me")))
                  .values(claimed_by_id=bindparam("me")))
# An overdue step's open tasks with their holder (assignee, else claimer) and the holder's manager.
_HELD_BY, _BOSS = aliased(Person, name="holder"), aliased(Person, name="boss")
_TO_ESCALATE = Prepared(
    select(HUMAN_TASK.c.id, HUMAN_TASK.c.name, HUMAN_TASK.c.role, HUMAN_TASK.c.due_at,
           _HELD_BY.username.label("holder_username"), _HELD_BY.name.label("holder_name"),
           _BOSS.id.label("boss_id"), _BOSS.username.label("boss_username"),
           _BOSS.email.label("boss_email"))
    .outerjoin(_HELD_BY, _HELD_BY.id == func.coalesce(HUMAN_TASK.c.assignee_id,
                                                      HUMAN_TASK.c.claimed_by_id))
    .outerjoin(_BOSS, _BOSS.id == _HELD_BY.manager_id)
    .where(HUMAN_TASK.c.instance_id == bindparam("iid"), HUMAN_TASK.c.spec_name == bindparam("spec"),
           HUMAN_TASK.c.status == "open").order_by(HUMAN_TASK.c.id))
_MARK_ESCALATED = Prepared(update(HUMAN_TASK).where(HUMAN_TASK.c.id == bindparam("task_id"))
                           .values(escalated_at=bindparam("at")))
_OPEN_TASKS = select(HUMAN_TASK.c.task_uuid, HUMAN_TASK.c.due_at).where(
    HUMAN_TASK.c.instance_id == bindparam("iid"), HUMAN_TASK.c.status == "open")
_INSERT_TASK = Prepared(insert(HUMAN_TASK))
_PARTICIPANTS = Prepared(select(Participant.role, Participant.person_id).where(
    Participant.instance_id == bindparam("iid")))
# The outbox, written in one statement however many are told; and a participant as a recipient.
_INSERT_NOTIFICATIONS = Prepared(insert(cast(Table, Notification.__table__)))
_RECIPIENT = Prepared(select(Person.id, Person.username, Person.email)
                      .where(Person.id == bindparam("pid")))
# The audit whose timer is due soonest; on PostgreSQL locked, skipping audits another worker
# has locked, so each fires once.
_NEXT_DUE_SELECT = (
    select(INSTANCE.c.id, INSTANCE.c.version, INSTANCE.c.process_version_id,
           INSTANCE.c.process_id, INSTANCE.c.child_ref, INSTANCE.c.grade, INSTANCE.c.next_timer_at)
    .where(INSTANCE.c.status == "running", INSTANCE.c.next_timer_at <= bindparam("now"))
    .order_by(INSTANCE.c.next_timer_at).limit(1))
_NEXT_DUE = Prepared(_NEXT_DUE_SELECT)
_NEXT_DUE_SKIP_LOCKED = Prepared(_NEXT_DUE_SELECT.with_for_update(skip_locked=True, of=INSTANCE))
_ANY_DUE = Prepared(select(INSTANCE.c.id).where(
    INSTANCE.c.status == "running", INSTANCE.c.next_timer_at <= bindparam("now")).limit(1))
# SET takes the columns named in the parameters; the WHERE is the optimistic lock.
_SAVE_INSTANCE = Prepared(update(INSTANCE).where(INSTANCE.c.id == bindparam("iid"),
                                                 INSTANCE.c.version == bindparam("read_version")))
_SAVE_WHOLE = Prepared(update(INSTANCE_STATE).where(
    INSTANCE_STATE.c.instance_id == bindparam("iid")))
_INSERT_WHOLE = Prepared(insert(INSTANCE_STATE).values(instance_id=bindparam("iid")))
# A step's change set, beside those before it; and those dropped once the whole state is stored.
_INSERT_CHANGE = Prepared(insert(INSTANCE_CHANGE))
_DROP_CHANGES = Prepared(INSTANCE_CHANGE.delete().where(
    INSTANCE_CHANGE.c.instance_id == bindparam("iid")))
# A version's files with their content, for parsing it.
_VERSION_FILES = (select(ProcessVersion.process_id, ProcessVersion.digest, ProcessVersionFile.name,
                         DefinitionFile.content)
                  .join(ProcessVersionFile, ProcessVersionFile.process_version_id == ProcessVersion.id)
                  .join(DefinitionFile, DefinitionFile.sha256 == ProcessVersionFile.sha256)
                  .where(ProcessVersion.id == bindparam("pv")))
_PERSON_NAME = select(Person.name).where(Person.id == bindparam("pid"))
_LATEST_VERSION = Prepared(select(ProcessVersion.id, ProcessVersion.version, ProcessVersion.digest)
                           .where(ProcessVersion.process_id == bindparam("pid"))
                           .order_by(ProcessVersion.version.desc()).limit(1))
_INSERT_INSTANCE = insert(INSTANCE)
_INSERT_PARTICIPANTS = Prepared(insert(cast(Table, Participant.__table__)))
# An audit's stored state in one read: its whole state first (numbered 0), then its change sets
# in the order they were stored.
_STORED_STATE = union_all(
    select(INSTANCE_STATE.c.state.label("text"), literal(0).label("version"))
    .where(INSTANCE_STATE.c.instance_id == bindparam("iid")),
    select(INSTANCE_CHANGE.c.changes, INSTANCE_CHANGE.c.version)
    .where(INSTANCE_CHANGE.c.instance_id == bindparam("iid")),
).order_by("version")


def stored_state_of(conn: Connection, instance_id: int) -> tuple[str, list[str]]:
    """An audit's workflow state as stored: its last whole state and the change sets stored
    since, in order (spiff.stored_state applies them)."""
    rows = conn.execute(_STORED_STATE, {"iid": instance_id}).all()
    if not rows or rows[0][1] != 0:
        raise NotFound(f"Audit {instance_id} has no stored state")
    return rows[0][0], [row[0] for row in rows[1:]]


# Reads a task's answers from what was posted, given its form as the child's task shows it.
Answers = Callable[[dict[str, Any]], dict[str, Any]]


class Completed(NamedTuple):
    """The task a completion completed, for the page that says so."""
    name: str
    child_ref: str


class Recipient(Protocol):
    """Whom a notification goes to: a person, or their row as a query read it."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def email(self) -> str: ...


class _Contact(NamedTuple):
    id: int
    username: str
    email: str


@dataclass
class InstanceRow:
    """The columns of an instance a use case needs, read without loading the ORM object."""

    id: int
    version: int
    process_version_id: int
    process_id: str
    child_ref: str
    grade: str | None
    next_timer_at: datetime | None


@event.listens_for(Session, "after_commit")
def _keep_live_workflows(s: UseCase) -> None:
    for engine, instance_id, version, wf in s.info.pop(_LIVE_PENDING, ()):
        engine._keep_live(instance_id, version, wf)


@event.listens_for(Session, "after_rollback")
def _forget_live_workflows(s: Session) -> None:
    s.info.pop(_LIVE_PENDING, None)


class _OnConnection:
    """A use case run on a Core connection's transaction: what the busiest use case (a task's
    completion) asks of its transaction, `info` and the connection, without a Session's
    bookkeeping (an empty Session transaction that asks for its connection costs about 75 us
    here, a Core one 27 us). Engine._on_connection does at the commit what the Session's hooks
    do: the audit events are chained before it, the head and the live workflow kept after it."""

    __slots__ = ("info", "_conn")

    def __init__(self, conn: Connection):
        self.info: dict[Any, Any] = {}
        self._conn = conn

    def connection(self) -> Connection:
        return self._conn


@dataclass(frozen=True)
class Deployed:
    process_id: str
    version: int
    created: bool

    def __str__(self) -> str:
        return f"{self.process_id} v{self.version}" + ("" if self.created else " (unchanged)")


# The workflows of the last this many audits used stay live in memory: the next use case on one
# of them, if this process serves it, skips rebuilding it from storage (a few milliseconds). Kept
# small on purpose: a live workflow is about a thousand objects that every full garbage
# collection walks, and under many staff at once few are used twice by one process
# (bench/web_load.py: no hits in 350 per gunicorn worker, with 512 kept).
LIVE_CACHE_SIZE = 64


class Engine:
    """Runs deployed processes against the database, on one injectable clock."""

    def __init__(self, database_url: str | None = None, clock: Clock | None = None,
                 live_cache_size: int = LIVE_CACHE_SIZE):
        self.db = make_db(database_url)
        self.sessions = sessionmaker(self.db, expire_on_commit=False)
        self.clock: Clock = clock or SystemClock()
        self._definitions: dict[str, ParsedDefinition] = {}  # by digest
        self._version_digest: dict[int, str] = {}
        self._live: OrderedDict[int, tuple[int, spiff.BpmnWorkflow]] = OrderedDict()
        self._participants: OrderedDict[int, dict[str, int]] = OrderedDict()
        self._live_size = live_cache_size
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One use case: commit at the end, roll back and re-raise on any failure."""
        try:
            with clock.using(self.clock), self.sessions() as s:
                try:
                    with s.begin():
                        yield s
                except StaleDataError:
                    raise ConcurrentUpdate(
                        "Someone else updated this audit a moment ago. Nothing you submitted was "
                        "lost: reload the page to see the latest and try again.") from None
        except AccessRefused as refused:
            # The use case rolled back; the attempt itself is recorded on its own.
            with clock.using(self.clock), self.sessions() as s, s.begin():
                audit.append(s, self.now(), refused.username, "view_refused", {},
                             refused.instance_id, refused.child_ref)
            raise

    @contextmanager
    def _on_connection(self) -> Iterator[_OnConnection]:
        """One use case on a Core transaction: committed at the end, rolled back on any failure,
        with nothing of it kept (no audit event, no live workflow) unless it committed."""
        with clock.using(self.clock), self.db.connect() as conn:
            use_case = _OnConnection(conn)
            with conn.begin():
                yield use_case
                audit.write_pending(use_case)
            audit.committed(use_case)
            _keep_live_workflows(use_case)

    def create_schema(self) -> None:
        from engine.migrate import upgrade

        upgrade(self.db)

    # -- definitions ------------------------------------------------------------------------

    def deploy(self, bundle: Bundle, actor: str, note: str = "") -> list[Deployed]:
        """Validate, then store each process as its next version unless its content is unchanged."""
        parsed = parse_bundle(bundle)
        results: list[Deployed] = []
        with self.transaction() as s:
            for pid, pd in sorted(parsed.items()):
                latest = self._latest_version(s, pid)
                if latest is not None and latest.digest == pd.digest:
                    results.append(Deployed(pid, latest.version, False))
                    continue
                for _fname, data in pd.files.items():
                    digest = sha256(data)
                    if s.get(DefinitionFile, digest) is None:
                        s.add(DefinitionFile(sha256=digest, content=data))
                pv = ProcessVersion(
                    process_id=pid, name=pd.name, version=(latest.version + 1 if latest else 1),
                    digest=pd.digest, note=note, deployed_by=actor, deployed_at=self.now(),
                    files=[ProcessVersionFile(name=f, sha256=sha256(d)) for f, d in pd.files.items()],
                )
                s.add(pv)
                s.flush()
                self._definitions.setdefault(pd.digest, pd)
                self._version_digest[pv.id] = pd.digest
                audit.append(s, self.now(), actor, "deploy",
                             {"process_id": pid, "version": pv.version, "digest": pd.digest,
                              "note": note, "files": {f: sha256(d) for f, d in pd.files.items()}})
                results.append(Deployed(pid, pv.version, True))
        return results

    def _latest_version(self, s: UseCase, process_id: str) -> Row[int, int, str] | None:
        """The newest version of a process: its id, version number and digest."""
        return _LATEST_VERSION.first(connection_of(s), {"pid": process_id})

    def load_definitions(self) -> int:
        """Parse the newest version of every deployed process into the cache, as a serving
        process starts (older versions, which only running audits use, are parsed when needed);
        return how many."""
        with self.transaction() as s:
            newest: dict[str, ProcessVersion] = {}
            for pv in s.execute(select(ProcessVersion)
                                .order_by(ProcessVersion.process_id, ProcessVersion.version)).scalars():
                newest[pv.process_id] = pv
            for pv in newest.values():
                self.definition(s, pv)
        return len(newest)

    def definition(self, s: Session, pv: ProcessVersion) -> ParsedDefinition:
        """Return the parsed definition of a version; parsed once per content, then cached."""
        return self.definition_of(s, pv.id)

    # -- loading and saving workflows -------------------------------------------------------

    def _cached_definition(self, process_version_id: int) -> ParsedDefinition | None:
        digest = self._version_digest.get(process_version_id)
        return self._definitions.get(digest) if digest is not None else None

    def definition_of_version(self, process_version_id: int) -> ParsedDefinition:
        """`definition_of` for a reader holding no session: one only if it is not cached."""
        cached = self._cached_definition(process_version_id)
        if cached is not None:
            return cached
        with self.transaction() as s:
            return self.definition_of(s, process_version_id)

    def definition_of(self, s: UseCase, process_version_id: int) -> ParsedDefinition:
        """Return the parsed definition of a version by its id: from the cache, else parsed from
        its files (once per content) and cached."""
        cached = self._cached_definition(process_version_id)
        if cached is not None:
            return cached
        rows = connection_of(s).execute(_VERSION_FILES, {"pv": process_version_id}).all()
        if not rows:
            raise NotFound(f"No deployed process version {process_version_id}")
        digest = rows[0].digest
        pd = self._definitions.get(digest)
        if pd is None:
            pd = parse_bundle(Bundle({row.name: row.content for row in rows}))[rows[0].process_id]
        with self._lock:
            self._definitions.setdefault(digest, pd)
            self._version_digest[process_version_id] = digest
        return pd

    def _load(self, s: UseCase, inst: Any) -> tuple[spiff.BpmnWorkflow, ParsedDefinition]:
        """Take the instance's live workflow out of the cache if it is still this version, else
        rebuild it from the stored state. Taken out: a use case that fails leaves no half-run
        workflow behind for the next one."""
        pd = self.definition_of(s, inst.process_version_id)
        with self._lock:
            cached = self._live.pop(inst.id, None)
        if cached is not None and cached[0] == inst.version:
            return cached[1], pd
        state, changes = stored_state_of(connection_of(s), inst.id)
        return spiff.state_from_json(state, pd.spec, pd.subprocess_specs, changes), pd

    def _remember(self, s: UseCase, inst: Any, wf: spiff.BpmnWorkflow) -> None:
        """Keep the live workflow for the next use case, but only once this one has committed."""
        s.info.setdefault(_LIVE_PENDING, []).append((self, inst.id, inst.version, wf))

    def _keep_live(self, instance_id: int, version: int, wf: spiff.BpmnWorkflow) -> None:
        with self._lock:
            self._live[instance_id] = (version, wf)
            self._live.move_to_end(instance_id)
            while len(self._live) > self._live_size:
                self._live.popitem(last=False)

    def _run(self, s: UseCase, inst: Any, wf: spiff.BpmnWorkflow, pd: ParsedDefinition,
             actor: str) -> None:
        """Run engine steps and due timers, apply their effects, project tasks, save the state.

        `inst` is the ORM instance or an `InstanceRow`; either way the state is saved by one
        UPDATE guarded by the version read at the start, so a racing use case fails cleanly.
        """
        effects = Effects()
        token = spiff.collect_effects(effects)
        started = time.time()
        try:
            # The timers waiting when the workflow was last saved (carried on a live workflow).
            waiting = wf.__dict__.get(_WAITING)
            if waiting is None:
                waiting = waiting_timers(all_tasks(wf))
            while True:
                try:
                    wf.do_engine_steps()
                except spiff.SpiffWorkflowException as exc:
                    raise ProcessFailed(spiff.explain(exc)) from exc
                found = scan(wf, started)
                # Timers refreshed at the end of the steps may have made more work ready.
                if not found.more_to_run:
                    break
            # Timers that were waiting and fired, and any set and fired within this run (a task
            # opened after its deadline had already passed).
            fired = {id(t): t for t in waiting if t.has_state(spiff.TaskState.COMPLETED)}
            fired.update((id(t), t) for t in found.fired_since)
            for task in fired.values():
                audit.append(s, self.now(), "system", "timer_fired",
                             {"timer": task.task_spec.bpmn_name or task.task_spec.name,
                              "due": task.internal_data.get("event_value")},
                             inst.id, inst.child_ref)
        finally:
            spiff.stop_collecting(token)
        # Tasks first: an escalation in this run may be for a task this run has just opened.
        self._project_tasks(s, inst, pd, wf, found.ready_user_tasks)
        if effects.notifications or effects.escalations:
            self._apply_effects(s, inst, effects)
        now = self.now()
        # Only what changed is set: an indexed column set to the value it holds still has its
        # index rewritten, a page more in the commit (the next deadline and the child's
        # reference stay the same through most steps).
        values: dict[str, Any] = {"updated_at": now}
        if found.next_timer_at != inst.next_timer_at:
            values["next_timer_at"] = found.next_timer_at
        data = found.latest_completed.data if found.latest_completed is not None else {}
        for key in SUMMARY_KEYS:
            if key in data and data[key] is not None:
                value = str(data[key])
                if value != getattr(inst, key, None):
                    values[key] = value
        if wf.completed:
            values.update(status="completed", completed_at=now, next_timer_at=None)
            audit.append(s, now, actor, "completed", {"grade": values.get("grade", inst.grade)},
                         inst.id, inst.child_ref)
        if isinstance(inst, Instance):  # only ever in a Session
            assert isinstance(s, Session)
            s.flush()  # the ORM's own pending changes to this row go first, under its version
        whole, changes = spiff.state_to_save(wf)
        conn = connection_of(s)
        saved = _SAVE_INSTANCE.execute(conn, {"iid": inst.id, "read_version": inst.version,
                                              "version": inst.version + 1, **values})
        if saved != 1:
            raise ConcurrentUpdate(
                "Someone else updated this audit a moment ago. Nothing you submitted was "
                "lost: reload the page to see the latest and try again.")
        if whole is not None:
            if wf.__dict__.pop(_NEW, False):  # a new audit's first state: inserted
                _INSERT_WHOLE.execute(conn, {"iid": inst.id, "state": whole})
            else:  # stored whole again: the change sets before it are in it
                _SAVE_WHOLE.execute(conn, {"iid": inst.id, "state": whole})
                _DROP_CHANGES.execute(conn, {"iid": inst.id})
            if isinstance(inst, Instance) and "whole" in inst.__dict__:
                set_committed_value(inst.__dict__["whole"], "state", whole)
        elif changes is not None:  # this step's changes, beside those before it
            _INSERT_CHANGE.execute(conn, {"instance_id": inst.id, "version": inst.version + 1,
                                          "changes": changes})
        if isinstance(inst, Instance) and "changes" in inst.__dict__:
            assert isinstance(s, Session)
            s.expire(inst, ["changes"])  # written here past the ORM: read afresh if asked
        values["version"] = inst.version + 1
        for key, value in values.items():
            if isinstance(inst, Instance):
                set_committed_value(inst, key, value)
            elif hasattr(inst, key):
                setattr(inst, key, value)
        wf.__dict__[_WAITING] = found.waiting_timers
        self._remember(s, inst, wf)

    # -- people and roles -------------------------------------------------------------------

    def _holders(self, s: UseCase, inst: Any, role: str) -> Sequence[Recipient]:
        if role in GROUP_ROLES:
            return org.recipients_of(connection_of(s), role)
        person_id = self._participant_ids(s, inst.id).get(role)
        if person_id is None:
            return []
        return _RECIPIENT.all(connection_of(s), {"pid": person_id})

    def _notify(self, s: UseCase, inst: Any, people: Sequence[Recipient], subject: str,
                body: str) -> None:
        if not people:
            return
        now = self.now()
        _INSERT_NOTIFICATIONS.execute(connection_of(s), [{
            "message_id": f"<{uuid.uuid4()}@qaflow>", "instance_id": inst.id if inst else None,
            "recipient_id": person.id, "email": person.email, "subject": subject, "body": body,
            "created_at": now, "status": "pending", "attempts": 0, "next_attempt_at": now,
        } for person in people])
        for person in people:
            audit.append(s, now, "system", "notification",
                         {"to": person.username, "subject": subject},
                         inst.id if inst else None, inst.child_ref if inst else "")

    def tell(self, s: Session, people: list[Person], subject: str, body: str) -> None:
        """Queue a notification to people about no one audit (the schedule, the register...)."""
        self._notify(s, None, people, subject, body)

    def _apply_effects(self, s: UseCase, inst: Any, effects: Effects) -> None:
        for roles, subject, body in effects.notifications:
            people: dict[int, Recipient] = {}
            for role in roles:
                for p in self._holders(s, inst, role):
                    people[p.id] = p
            self._notify(s, inst, list(people.values()), subject, body)
        for spec_name in effects.escalations:
            self._escalate(s, inst, spec_name)

    def _escalate(self, s: UseCase, inst: Any, spec_name: str) -> None:
        """Mark an open task overdue and tell the next manager up; the task stays open."""
        conn = connection_of(s)
        tasks = _TO_ESCALATE.all(conn, {"iid": inst.id, "spec": spec_name})
        if tasks:
            _MARK_ESCALATED.execute(conn, [{"task_id": t.id, "at": self.now()} for t in tasks])
        for task in tasks:
            managers: Sequence[Recipient] = (
                [_Contact(task.boss_id, task.boss_username, task.boss_email)]
                if task.boss_id is not None else org.recipients_of(conn, HOS_SPQA))
            due = task.due_at.isoformat() if task.due_at else "its deadline"
            who = task.holder_name or f"the {task.role} group"
            self._notify(
                s, inst, managers, f"Overdue: {task.name} (child {inst.child_ref})",
                f"{who} has not completed '{task.name}' for child {inst.child_ref}, due {due}. "
                "It is still open and now marked overdue.")
            audit.append(s, self.now(), "system", "escalation",
                         {"task": task.name, "spec": spec_name, "holder": task.holder_username,
                          "escalated_to": [m.username for m in managers]},
                         inst.id, inst.child_ref)

    def _assignee(self, s: UseCase, inst: Any, lane: str | None, expr: str | None,
                  data: dict[str, Any]) -> tuple[int | None, str | None]:
        """Return who holds a new task: a person's id, or the group whose members may claim it."""
        if expr:
            from engine import sandbox

            username = sandbox.evaluate(expr, data)
            if username:
                return org.holder(connection_of(s), str(username)).id, None
        if lane in GROUP_ROLES:
            return None, lane
        holder = self._participant_ids(s, inst.id).get(lane or "")
        if holder is None:
            raise EngineError(f"No participant holds the role '{lane}' on this audit")
        return holder, None

    def _participant_ids(self, s: UseCase, instance_id: int) -> dict[str, int]:
        """Role -> person id for an audit; participants are fixed at the start, so cached."""
        found = self._participants.get(instance_id)
        if found is None:
            found = dict(_PARTICIPANTS.all(connection_of(s), {"iid": instance_id}))
            with self._lock:
                self._participants[instance_id] = found
                while len(self._participants) > self._live_size * 8:
                    self._participants.popitem(last=False)
        return found

    def _project_tasks(self, s: UseCase, inst: Any, pd: ParsedDefinition,
                       wf: spiff.BpmnWorkflow, ready_tasks: list[Any]) -> None:
        """Mirror the workflow's ready user tasks into human_task: new ones in, vanished ones out.

        The open rows are known without asking when the live workflow carries them from the use
        case that wrote them (only the engine opens and closes task rows, always with a new
        instance version); a workflow rebuilt from storage reads them once.
        """
        ht = HUMAN_TASK
        conn = connection_of(s)
        open_rows: dict[str, datetime | None] | None = wf.__dict__.get(_OPEN_ROWS)
        if open_rows is None:
            open_rows = dict(conn.execute(  # type: ignore[arg-type]
                _OPEN_TASKS, {"iid": inst.id}).all())
        ready = {str(t.id): t for t in ready_tasks}
        now = self.now()
        gone = [uid for uid in open_rows if uid not in ready]
        if gone:
            conn.execute(update(ht).where(ht.c.instance_id == inst.id, ht.c.task_uuid.in_(gone),
                                          ht.c.status == "open")
                         .values(status="cancelled", completed_at=now))
        rows = []
        still_open: dict[str, datetime | None] = {}
        for uid, task in ready.items():
            due = task_due_at(task)
            if uid in open_rows:
                if due is not None and due != open_rows[uid]:
                    conn.execute(update(ht).where(ht.c.instance_id == inst.id,
                                                  ht.c.task_uuid == uid).values(due_at=due))
                still_open[uid] = due if due is not None else open_rows[uid]
                continue
            still_open[uid] = due
            info = pd.user_tasks.get(task.task_spec.name)
            lane = info.lane if info else task.task_spec.lane
            person_id, group = self._assignee(s, inst, lane,
                                              info.assignee_expr if info else None, task.data)
            rows.append({
                "instance_id": inst.id, "task_uuid": uid, "spec_name": task.task_spec.name,
                "name": (info.name if info else task.task_spec.bpmn_name) or task.task_spec.name,
                "process_id": info.process_id if info else inst.process_id, "role": lane or "",
                "assignee_id": person_id, "group_role": group,
                "claimed_by_id": None, "form_file": info.form_file if info else None,
                "due_at": due, "escalated_at": None, "status": "open",
                "created_at": now, "completed_at": None, "completed_by_id": None, "draft": None,
            })
        if rows:
            _INSERT_TASK.execute(conn, rows)
        wf.__dict__[_OPEN_ROWS] = still_open

    # -- use cases --------------------------------------------------------------------------

    def start(self, process_id: str, actor: str, data: dict[str, Any],
              participants: dict[str, str] | None = None, practitioner: str | None = None,
              auditor: str | None = None) -> int:
        """Start an instance on the newest version; participants are derived from the practitioner."""
        with self._on_connection() as s:
            conn = connection_of(s)
            pv = self._latest_version(s, process_id)
            if pv is None:
                raise NotFound(f"No process '{process_id}' has been deployed")
            pd = self.definition_of(s, pv.id)
            starter = org.holder(conn, actor)
            if not starter.active or not org.may_start(
                    org.roles_of(conn, starter.id), str(data.get("audit_type", "monthly"))):
                raise NotAllowed("Only CPP allocate audits; the Senior Leadership Team may "
                                 "request a bespoke audit")
            people: dict[str, org.Holder] = {}
            if practitioner and auditor:
                people.update(org.participants_for(conn, org.holder(conn, practitioner),
                                                   org.holder(conn, auditor)))
            for role, username in (participants or {}).items():
                people[role] = org.holder(conn, username)
            if AUDITOR in people and people[AUDITOR].id in {
                people[r].id for r in PARTICIPANT_ROLES[1:3] if r in people
            }:
                raise NotAllowed("An auditor cannot audit their own or their own team's work")
            now = self.now()
            start_data = {"allocated_at": now.isoformat(), **data}
            prac = people.get("Practitioner")
            child_ref = str(start_data.get("child_ref", ""))
            new_id = conn.execute(_INSERT_INSTANCE, {
                "process_version_id": pv.id, "process_id": process_id, "status": "running",
                "version": 1, "started_by": actor, "started_at": now, "updated_at": now,
                "child_ref": child_ref, "team_id": prac.team_id if prac else None,
                "service_area_id": prac.service_area_id if prac else None,
            }).inserted_primary_key
            assert new_id is not None
            inst = InstanceRow(new_id[0], 1, pv.id, process_id, child_ref, None, None)
            if people:
                _INSERT_PARTICIPANTS.execute(conn, [
                    {"instance_id": inst.id, "role": r, "person_id": p.id}
                    for r, p in people.items()])
            with self._lock:  # a new audit: its roles are these, and it holds no task rows yet
                self._participants[inst.id] = {r: p.id for r, p in people.items()}
            wf = spiff.make_workflow(pd.spec, pd.subprocess_specs)
            wf.__dict__[_OPEN_ROWS] = {}
            wf.__dict__[_NEW] = True
            for task in wf.get_tasks(state=spiff.TaskState.READY):
                task.data.update(start_data)
            audit.append(s, now, actor, "started",
                         {"process_id": process_id, "version": pv.version, "data": start_data,
                          "participants": {r: p.username for r, p in people.items()}},
                         inst.id, inst.child_ref)
            self._run(s, inst, wf, pd, actor)
            return inst.id

    def _open_task(self, s: Session, task_id: int, username: str) -> tuple[HumanTask, Person]:
        task = s.get(HumanTask, task_id)
        me = org.person(s, username)
        if not me.active:  # a leaver's account does nothing, whatever its session says
            raise NotFound("There is no such task for you")
        if task is None or not (task.assignee_id == me.id or task.claimed_by_id == me.id
                                or (task.group_role and task.group_role in me.role_names)):
            raise NotFound("There is no such task for you")
        return task, me

    def complete_task(self, task_id: int, username: str, submitted: dict[str, Any] | Answers
                      ) -> Completed:
        """Validate the form, complete the task and run on to the next wait, in one transaction.

        `submitted` is the answers, or a function that reads them from what was posted given
        the form as this child's task shows it (`forms.for_task`): a web form is then read
        against the task's own live data, in the same transaction, with no second look-up.
        """
        try:
            return self._complete_task(task_id, username, submitted)
        except ProcessFailed as exc:
            # The completion rolled back; record the failure and tell the policy owners.
            with self.transaction() as s:
                inst = s.execute(select(Instance).join(HumanTask, HumanTask.instance_id == Instance.id)
                                 .where(HumanTask.id == task_id)).scalar_one()
                audit.append(s, self.now(), username, "step_failed", {"reason": str(exc)},
                             inst.id, inst.child_ref)
                self._notify(s, inst, org.recipients_of(connection_of(s), POLICY_OWNER),
                             f"A step could not be completed (child {inst.child_ref})",
                             f"{username} could not complete a task: {exc}. The audit is unchanged.")
            raise

    def _complete_task(self, task_id: int, username: str, submitted: dict[str, Any] | Answers
                       ) -> Completed:
        with self._on_connection() as s:
            conn = connection_of(s)
            row = _TASK_TO_COMPLETE.first(conn, {"task_id": task_id, "username": username})
            if row is None or not row.active:
                raise NotFound("There is no such task for you")
            me_id = row[10]
            if row.group_role is None and row.assignee_id != me_id and row.claimed_by_id != me_id:
                raise NotFound("There is no such task for you")
            if row.group_role is not None and row.claimed_by_id != me_id:
                if row.group_role in org.roles_of(conn, me_id):
                    raise NotAllowed("Claim this task before completing it")
                raise NotFound("There is no such task for you")
            if row.status != "open":
                by = (conn.execute(_PERSON_NAME, {"pid": row.completed_by_id}).scalar()
                      if row.completed_by_id else None)
                raise ConcurrentUpdate(f"'{row.name}' was already {row.status} by {by or 'the process'}.")
            inst = InstanceRow(row.instance_id, row.version, row.process_version_id,
                               row.process_id, row.child_ref, row.grade, row.next_timer_at)
            wf, pd = self._load(s, inst)
            spiff_task = wf.get_task_from_id(UUID(row.task_uuid))
            if spiff_task is None or spiff_task.state != spiff.TaskState.READY:
                raise ConcurrentUpdate(f"'{row.name}' is no longer waiting to be done.")
            schema = pd.form(row.form_file)
            if callable(submitted):
                submitted = submitted(forms.for_task(schema or {"type": "object"}, spiff_task.data))
            if schema is not None:
                errors = forms.validate(schema, submitted, spiff_task.data)
                if errors:
                    raise FormInvalid(errors)
            spiff_task.set_data(**submitted)
            try:
                spiff_task.run()
            except spiff.SpiffWorkflowException as exc:
                raise ProcessFailed(spiff.explain(exc)) from exc
            done = _MARK_COMPLETED.execute(conn, {"task_id": task_id, "at": self.now(), "by": me_id})
            if done != 1:
                raise ConcurrentUpdate(f"'{row.name}' was completed by someone else a moment ago.")
            wf.__dict__.get(_OPEN_ROWS, {}).pop(row.task_uuid, None)
            audit.append(s, self.now(), username, "task_completed",
                         {"task": row.name, "spec": row.spec_name, "data": submitted},
                         inst.id, inst.child_ref)
            self._run(s, inst, wf, pd, username)
            return Completed(row.name, row.child_ref)

    def save_draft(self, task_id: int, username: str, submitted: dict[str, Any]) -> None:
        with self.transaction() as s:
            task, me = self._open_task(s, task_id, username)
            if task.status != "open":
                raise ConcurrentUpdate(f"'{task.name}' is no longer open.")
            task.draft = submitted
            audit.append(s, self.now(), username, "draft_saved", {"task": task.name},
                         task.instance_id, task.instance.child_ref)

    def claim(self, task_id: int, username: str) -> None:
        """Take a group task as one's own: one read, one guarded write (a racing claim loses)."""
        with self._on_connection() as s:
            conn = connection_of(s)
            row = _TASK_TO_CLAIM.first(conn, {"task_id": task_id, "username": username})
            if row is None or not row.active or not (
                    row.assignee_id == row.me or row.claimed_by_id == row.me or row.in_group):
                raise NotFound("There is no such task for you")
            if not row.group_role:
                raise NotAllowed("Only group tasks are claimed")
            if row.claimed_by_id not in (None, row.me):
                raise ConcurrentUpdate(f"{row.claimed_by_name} has already claimed this task")
            if row.status != "open":
                raise ConcurrentUpdate(f"'{row.name}' is no longer open.")
            if _CLAIM.execute(conn, {"task_id": task_id, "me": row.me}) != 1:
                raise ConcurrentUpdate("Someone else claimed this task a moment ago.")
            audit.append(s, self.now(), username, "claimed", {"task": row.name},
                         row.instance_id, row.child_ref)

    def release(self, task_id: int, username: str) -> None:
        with self.transaction() as s:
            task, me = self._open_task(s, task_id, username)
            if task.claimed_by_id != me.id:
                raise NotAllowed("You have not claimed this task")
            task.claimed_by_id = None
            audit.append(s, self.now(), username, "released", {"task": task.name},
                         task.instance_id, task.instance.child_ref)

    def send_signal(self, instance_id: int, name: str, payload: dict[str, Any], actor: str) -> None:
        with self.transaction() as s:
            inst = s.get(Instance, instance_id)
            if inst is None or inst.status != "running":
                raise NotFound("There is no open audit with that reference")
            wf, pd = self._load(s, inst)
            try:
                spiff.send_signal(wf, name, payload)
            except Exception as exc:
                raise NotAllowed(f"This audit cannot take '{name}' now: {exc}") from None
            audit.append(s, self.now(), actor, "signal", {"signal": name, "payload": payload},
                         inst.id, inst.child_ref)
            self._run(s, inst, wf, pd, actor)

    def raise_safety_concern(self, instance_id: int, username: str, concern: str) -> None:
        """The auditor alerts the Head of Service at once; the audit carries on."""
        if not concern.strip():
            raise FormInvalid({"concern": "Describe the concern about the child's safety"})
        with self.transaction() as s:
            inst = s.get(Instance, instance_id)
            me = org.person(s, username)
            if inst is None:
                raise NotFound("There is no open audit with that reference")
            if not org.can_view(me, inst):
                raise AccessRefused("There is no open audit with that reference", username,
                                    inst.id, inst.child_ref)
            if not any(p.role == AUDITOR and p.person_id == me.id for p in inst.participants):
                raise NotAllowed("Only the audit's auditor raises a safety concern here")
        self.send_signal(instance_id, SAFETY_SIGNAL, {"safety_concern": {
            "concern": concern, "raised_by": username, "raised_at": self.now().isoformat()}},
            username)

    def fire_due_timers(self, limit: int = 100) -> int:
        """Fire the timers that are due, one instance per transaction; return how many instances ran."""
        fired = 0
        while fired < limit:
            # Most calls find nothing due: say so from one indexed read, before any lock or ORM.
            with reading(self.db) as conn, conn.begin():
                if _ANY_DUE.first(conn, {"now": self.now()}) is None:
                    return fired
            failed: tuple[int, str] | None = None
            with self.transaction() as s:
                q = _NEXT_DUE_SKIP_LOCKED if self.db.dialect.name == "postgresql" else _NEXT_DUE
                row = q.first(connection_of(s), {"now": self.now()})
                if row is None:
                    return fired
                inst = InstanceRow(*row)
                try:
                    with s.begin_nested():
                        wf, pd = self._load(s, inst)
                        self._run(s, inst, wf, pd, "system")
                except ProcessFailed as exc:
                    failed = (inst.id, str(exc))
                if failed is not None:
                    self._postpone(s, inst, failed[1])
                fired += 1
        return fired

    def _postpone(self, s: Session, inst: InstanceRow, reason: str) -> None:
        """A broken step must not hold up every other audit's timers: retry in an hour, tell someone."""
        connection_of(s).execute(
            update(INSTANCE).where(INSTANCE.c.id == inst.id)
            .values(next_timer_at=self.now() + RETRY_FAILED_TIMER, version=INSTANCE.c.version + 1))
        audit.append(s, self.now(), "system", "timer_failed", {"reason": reason},
                     inst.id, inst.child_ref)
        self._notify(s, inst, org.recipients_of(connection_of(s), POLICY_OWNER),
                     f"A deadline could not be processed (child {inst.child_ref})",
                     f"The audit's process stopped at a deadline: {reason}. The audit is unchanged; "
                     "the engine will try again in an hour. Correct the process and redeploy.")

    def next_due(self) -> datetime | None:
        with self.transaction() as s:
            return s.execute(
                select(func.min(Instance.next_timer_at)).where(Instance.status == "running")
            ).scalar_one()

