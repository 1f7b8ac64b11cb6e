"""The audit trail: an append-only, hash-chained event log, and its verification."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def _digest(prev_hash: str, event_id: int, at: datetime, actor: str, kind: str,
            instance_id: int | None, child_ref: str, detail: str) -> str:
    body = json.dumps(
        [event_id, at.isoformat(), actor, kind, instance_id, child_ref, detail],
        separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(
    s: Session, at: datetime, actor: str, kind: str, detail: dict[str, Any] | None = None,
    instance_id: int | None = None, child_ref: str = "",
) -> AuditEvent:
    """Append one event, chained to the last; the head row lock keeps the chain a single line."""
    head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, last_id=0, last_hash=GENESIS)
        s.add(head)
        s.flush()
    text = json.dumps(detail or {}, sort_keys=True, default=str, ensure_ascii=False)
    at = at.astimezone(UTC)
    event_id = head.last_id + 1
    event = AuditEvent(
        id=event_id, at=at, actor=actor, kind=kind, instance_id=instance_id,
        child_ref=child_ref or "", detail=text, prev_hash=head.last_hash,
    )
    event.hash = _digest(head.last_hash, event_id, at, actor, kind, instance_id,
                         child_ref or "", text)
    head.last_id, head.last_hash = event_id, event.hash
    s.add(event)
    return event


@dataclass
class Verdict:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.checked} events verified"
        return f"audit trail BROKEN at event {self.first_broken_id}: {self.reason}"


def verify(s: Session, batch: int = 5000) -> Verdict:
    """Walk the chain in order; report the first event that was edited, deleted or reordered."""
    prev_hash, expected_id, checked, last_id = GENESIS, 1, 0, 0
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
                       ev.child_ref, ev.detail) != ev.hash:
                return Verdict(False, checked, ev.id, "its content was changed")
            prev_hash, expected_id, checked, last_id = ev.hash, ev.id + 1, checked + 1, ev.id
        s.expunge_all()
    head = s.get(AuditHead, 1)
    if head is not None and (head.last_id != last_id or head.last_hash != prev_hash):
        return Verdict(False, checked, last_id + 1, "events after this one were removed")
    return Verdict(True, checked)
