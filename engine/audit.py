"""The audit trail: an append-only, hash-chained event log, its verification, and redaction.

Each event's personal content (the child's reference and the detail) is hashed on its own
(`content_hash`), and the chain runs over that hash rather than over the content. Purging a
closed audit past retention can then blank the content while every link still verifies; a
blanked event is accepted only in the exact redacted form and only when a later `purged` event,
itself in the chain, names its audit.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Integer, Table, bindparam, event, insert, or_, select, update
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql import visitors

from engine.db import UseCase, connection_of
from engine.models import AuditEvent, AuditHead
from engine.prepared import Prepared

T = TypeVar("T")
GENESIS = "0" * 64
REDACTED = '{"redacted":true}'
PURGED = "purged"


# The encoders the trail's JSON is written with, made once: `json.dumps` with any option makes
# a new encoder at every call, and a completion records several events.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_DETAIL = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False).encode


def content_hash(child_ref: str, detail: str) -> str:
    """Hash the part of an event that retention may later blank."""
    body = _COMPACT([child_ref, detail])
    return hashlib.sha256(body.encode()).hexdigest()


def _digest(prev_hash: str, event_id: int, at: datetime, actor: str, kind: str,
            instance_id: int | None, content: str) -> str:
    body = _COMPACT([event_id, at.isoformat(), actor, kind, instance_id, content])
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(
    s: UseCase, at: datetime, actor: str, kind: str, detail: dict[str, Any] | None = None,
    instance_id: int | None = None, child_ref: str = "",
) -> None:
    """Record one event; it joins the chain when the transaction commits (or is next read).

    Events wait in the session and are chained in one batch: the head row is locked only then,
    for the moment it takes, not from a use case's first event to its commit.
    """
    text = _DETAIL(detail or {})
    s.info.setdefault(_PENDING, []).append(
        (at.astimezone(UTC), actor, kind, instance_id, child_ref or "", text))


_PENDING = "qaflow_audit_pending"
_MARKS = "qaflow_audit_savepoints"
_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_TAKE_IDS = (update(_HEAD).where(_HEAD.c.id == 1)
             .values(last_id=_HEAD.c.last_id + bindparam("n", type_=Integer))
             .returning(_HEAD.c.last_id, _HEAD.c.last_hash))
_INSERT_EVENTS = Prepared(insert(_EVENTS))
_SET_HEAD_HASH = Prepared(update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=bindparam("hash")))
# Move the head on from where this process last left it, only if it is still there.
_ADVANCE_HEAD = Prepared(
    update(_HEAD).where(_HEAD.c.id == 1, _HEAD.c.last_id == bindparam("was_id"),
                        _HEAD.c.last_hash == bindparam("was_hash"))
    .values(last_id=bindparam("to_id"), last_hash=bindparam("to_hash")))
_HEAD_AFTER = "qaflow_audit_head_after"
# The head as this process's last commit left it, per database: (last id, last hash).
_HEADS: weakref.WeakKeyDictionary[Engine, tuple[int, str]] = weakref.WeakKeyDictionary()


def _chain(pending: list[tuple[Any, ...]], last_id: int, prev: str) -> tuple[list[dict[str, Any]], str]:
    """The rows of the pending events, numbered on from `last_id` and chained on from `prev`,
    and the last one's hash."""
    rows = []
    for event_id, (at, actor, kind, instance_id, child_ref, text) in enumerate(
            pending, start=last_id + 1):
        content = content_hash(child_ref, text)
        digest = _digest(prev, event_id, at, actor, kind, instance_id, content)
        rows.append({"id": event_id, "at": at, "actor": actor, "kind": kind,
                     "instance_id": instance_id, "child_ref": child_ref, "detail": text,
                     "content_hash": content, "prev_hash": prev, "hash": digest})
        prev = digest
    return rows, prev


def write_pending(s: UseCase) -> None:
    """Chain and insert the events this transaction recorded.

    Two statements when the head is where this process's last commit left it: the head moved on
    only if it is still there (else nothing moves), then the events. Otherwise (another process
    wrote since, a restore, the first write) three: take the ids, which also reads the head,
    insert, set the head's hash. Either way the head row is locked (PostgreSQL) from that first
    statement until commit: one chain, one line.
    """
    pending = s.info.pop(_PENDING, None)
    if not pending:
        return
    conn = connection_of(s)
    known = _HEADS.get(conn.engine)
    if known is not None:
        rows, last_hash = _chain(pending, *known)
        to_id = known[0] + len(pending)
        moved = _ADVANCE_HEAD.execute(conn, {"was_id": known[0], "was_hash": known[1],
                                             "to_id": to_id, "to_hash": last_hash})
        if moved == 1:
            _INSERT_EVENTS.execute(conn, rows)
            s.info[_HEAD_AFTER] = (conn.engine, (to_id, last_hash))
            return
    head = conn.execute(_TAKE_IDS, {"n": len(pending)}).first()
    if head is None:  # a database restored without its head row starts the chain afresh
        conn.execute(insert(_HEAD).values(id=1, last_id=0, last_hash=GENESIS))
        head = conn.execute(_TAKE_IDS, {"n": len(pending)}).one()
    rows, last_hash = _chain(pending, head[0] - len(pending), head[1])
    _INSERT_EVENTS.execute(conn, rows)
    _SET_HEAD_HASH.execute(conn, {"hash": last_hash})
    s.info[_HEAD_AFTER] = (conn.engine, (head[0], last_hash))


@event.listens_for(Session, "after_commit")
def committed(s: UseCase) -> None:
    """After the commit: the head as this commit left it is where the next one starts from."""
    after = s.info.pop(_HEAD_AFTER, None)
    if after is not None:
        _HEADS[after[0]] = after[1]


@event.listens_for(Session, "before_commit")
def _before_commit(s: Session) -> None:
    write_pending(s)


@event.listens_for(Session, "do_orm_execute")
def _before_read(state: ORMExecuteState) -> None:
    # A query later in the same use case that reads the trail sees the events recorded before
    # it; the others (a person, a team's members) leave them to be chained in one batch.
    if state.session.info.get(_PENDING) and _may_read_trail(state):
        write_pending(state.session)


_TRAIL = frozenset({AuditEvent.__tablename__, AuditHead.__tablename__})


_SEEN: dict[int, tuple[Any, bool]] = {}  # by id(statement), for the statements built once


def _may_read_trail(state: ORMExecuteState) -> bool:
    if state.is_relationship_load or state.is_column_load:
        return False  # the trail's tables have no relationships and no deferred columns
    statement = state.statement
    seen = _SEEN.get(id(statement))
    if seen is not None and seen[0] is statement:
        return seen[1]
    found = any(isinstance(element, Table) and element.name in _TRAIL
                for element in visitors.iterate(cast(visitors.ExternallyTraversible, statement)))
    if len(_SEEN) > 1000:
        _SEEN.clear()
    _SEEN[id(statement)] = (statement, found)
    return found


@event.listens_for(Session, "after_rollback")
def _after_rollback(s: Session) -> None:
    s.info.pop(_PENDING, None)
    s.info.pop(_HEAD_AFTER, None)


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(s: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        pending = s.info.setdefault(_PENDING, [])
        s.info.setdefault(_MARKS, {})[id(transaction)] = (pending, len(pending))


@event.listens_for(Session, "after_soft_rollback")
def _forget_savepoint_events(s: Session, previous: SessionTransaction) -> None:
    # Back to what was pending when the savepoint began: events recorded inside it never
    # happened, and any written inside it (with the head row) were rolled back with it, those
    # recorded before it included, so these are pending again.
    mark = s.info.get(_MARKS, {}).pop(id(previous), None)
    if not previous.nested or mark is None:
        return
    s.info.pop(_HEAD_AFTER, None)  # a head moved inside it was moved back with it
    listed, length = mark
    s.info[_PENDING] = listed[:length]


def redact(s: Session, instance_ids: list[int], event_ids: list[int]) -> int:
    """Blank the personal content of an audit's events (and of the listed ones); links stay."""
    redacted = 0
    for chunk in chunks(instance_ids):
        done = s.execute(update(AuditEvent).where(AuditEvent.instance_id.in_(chunk))
                         .values(child_ref="", detail=REDACTED))
        redacted += done.rowcount  # type: ignore[attr-defined]
    for chunk in chunks(event_ids):
        done = s.execute(update(AuditEvent).where(AuditEvent.id.in_(chunk))
                         .values(child_ref="", detail=REDACTED))
        redacted += done.rowcount  # type: ignore[attr-defined]
    return redacted


def chunks(items: list[T], size: int = 500) -> list[list[T]]:
    """`items` in slices small enough for one IN (...) each."""
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass
class Verdict:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""
    head_hash: str = GENESIS

    def __str__(self) -> str:
        if self.ok:
            return (f"audit trail intact: {self.checked} events verified; "
                    f"head {self.head_hash}")
        return f"audit trail BROKEN at event {self.first_broken_id}: {self.reason}"


def verify(s: Session, batch: int = 5000) -> Verdict:
    """Walk the chain in order; report the first event that was edited, deleted or reordered."""
    prev_hash, expected_id, checked, last_id = GENESIS, 1, 0, 0
    # Redacted events awaiting the purge record that names them: by audit, and one by one.
    blanked: dict[int, int] = {}
    blanked_alone: set[int] = set()
    while True:
        rows = s.execute(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for ev in rows:
            if ev.id != expected_id:
                return Verdict(False, checked, expected_id, f"event {expected_id} is missing")
            if ev.prev_hash != prev_hash:
                return Verdict(False, checked, ev.id, "does not follow the event before it")
            if _digest(prev_hash, ev.id, ev.at, ev.actor, ev.kind, ev.instance_id,
                       ev.content_hash) != ev.hash:
                return Verdict(False, checked, ev.id, "its content was changed")
            if content_hash(ev.child_ref, ev.detail) != ev.content_hash:
                if (ev.child_ref, ev.detail) != ("", REDACTED):
                    return Verdict(False, checked, ev.id, "its content was changed")
                if ev.instance_id is None:
                    blanked_alone.add(ev.id)
                else:
                    blanked.setdefault(ev.instance_id, ev.id)
            elif ev.kind == PURGED:
                record = json.loads(ev.detail)
                for instance_id in record.get("instances", []):
                    blanked.pop(instance_id, None)
                blanked_alone.difference_update(record.get("events", []))
            prev_hash, expected_id, checked, last_id = ev.hash, ev.id + 1, checked + 1, ev.id
        s.expunge_all()
    head = s.get(AuditHead, 1)
    if head is not None and (head.last_id != last_id or head.last_hash != prev_hash):
        return Verdict(False, checked, last_id + 1, "events after this one were removed")
    if blanked or blanked_alone:
        return Verdict(False, checked, min([*blanked.values(), *blanked_alone]),
                       "its content was blanked but no purge records it")
    return Verdict(True, checked, head_hash=prev_hash)


# What each kind of event means for a child's record, as (action, description).
_ACCESS: dict[str, tuple[str, str]] = {
    "viewed": ("viewed", "viewed the audit"),
    "view_refused": ("refused", "asked to see the audit and was refused"),
    "started": ("changed", "started the audit"),
    "task_completed": ("changed", "completed '{task}'"),
    "draft_saved": ("changed", "saved a draft of '{task}'"),
    "claimed": ("changed", "claimed '{task}'"),
    "released": ("changed", "released '{task}'"),
    "signal": ("changed", "sent '{signal}'"),
    "completed": ("changed", "finished the audit"),
    "notification": ("notified", "was sent '{subject}'"),
    "exported": ("exported", "exported everything held about the child"),
    "access_report": ("reported", "listed who has seen the child's audits"),
}


@dataclass(frozen=True)
class Access:
    """One person seeing, changing or being sent something of a child's audit."""

    at: datetime
    username: str
    name: str
    action: str
    what: str
    audit_id: int | None

    def __str__(self) -> str:
        audit = f"audit {self.audit_id}" if self.audit_id else "-"
        return (f"{self.at:%Y-%m-%d %H:%M:%S} UTC  {self.username} ({self.name})  "
                f"{self.action}  {audit}  {self.what}")


def access_report(s: Session, child_ref: str) -> list[Access]:
    """List everyone who viewed, changed or was sent any of a child's audits, oldest first."""
    from engine.models import Instance, Person

    audits = select(Instance.id).where(Instance.child_ref == child_ref)
    events = s.execute(select(AuditEvent).where(or_(
        AuditEvent.child_ref == child_ref, AuditEvent.instance_id.in_(audits)))
        .order_by(AuditEvent.id)).scalars().all()
    rows: list[tuple[AuditEvent, str, str, str]] = []
    for ev in events:
        detail = json.loads(ev.detail)
        action, what = _ACCESS.get(ev.kind, ("changed", ev.kind.replace("_", " ")))
        who = str(detail.get("to", "")) if ev.kind == "notification" else ev.actor
        if not who or who == "system":
            continue
        rows.append((ev, who, action, what.format_map(_Blank(detail))))
    names = dict(s.execute(select(Person.username, Person.name).where(
        Person.username.in_({who for _, who, _, _ in rows}))).all())
    return [Access(ev.at, who, names.get(who, "not a known person"), action, what,
                   ev.instance_id) for ev, who, action, what in rows]


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"
