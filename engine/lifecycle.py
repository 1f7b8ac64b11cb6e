"""A child's data over its life: everything held (for a subject access request), and its purge.

Retention: a closed audit is kept for `QAFLOW_RETENTION_YEARS` (default 75) whole years after
it closed, then purged: its instance, tasks, participants and notifications are deleted, links
to it from other tables are cleared, and the personal content of its audit events is blanked,
leaving the hash chain verifiable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from engine import (
    audit,
    register_models,  # noqa: F401  (its tables join Base.metadata)
)
from engine.models import (
    AuditEvent,
    Base,
    HumanTask,
    Instance,
    InstanceChange,
    InstanceState,
    Notification,
    Participant,
    Person,
)
from engine.register_models import ChildRecord, ScheduleAllocation
from engine.workdays import add_months

if TYPE_CHECKING:
    from engine.service import Engine

DEFAULT_RETENTION_YEARS = 75
EXPORT_FORMAT = "qaflow-child-export/1"


def retention_years(value: str | None = None) -> int:
    """Return the retention period in years from the argument or QAFLOW_RETENTION_YEARS."""
    raw = value if value is not None else os.environ.get("QAFLOW_RETENTION_YEARS", "")
    if not raw.strip():
        return DEFAULT_RETENTION_YEARS
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(f"QAFLOW_RETENTION_YEARS must be a whole number of years, not {raw!r}")
    return int(raw)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _latest_data(state: str) -> dict[str, Any]:
    """Merge the data of every task in a stored workflow, later changes winning, then its own."""
    doc = json.loads(state or "{}")
    workflows = [doc, *doc.get("subprocesses", {}).values()]
    tasks = [t for wf in workflows for t in wf.get("tasks", {}).values()]
    merged: dict[str, Any] = {}
    for task in sorted(tasks, key=lambda t: t.get("last_state_change") or 0):
        merged.update(task.get("data") or {})
    for wf in workflows:
        merged.update(wf.get("data") or {})
    return merged


def _person(p: Person | None) -> str | None:
    return p.username if p is not None else None


def _audit(s: Session, inst: Instance) -> dict[str, Any]:
    events = s.execute(select(AuditEvent).where(AuditEvent.instance_id == inst.id)
                       .order_by(AuditEvent.id)).scalars().all()
    submitted: dict[tuple[str | None, datetime | None], Any] = {
        (e.actor, e.at): json.loads(e.detail).get("data")
        for e in events if e.kind == "task_completed"}
    tasks = s.execute(select(HumanTask).where(HumanTask.instance_id == inst.id)
                      .order_by(HumanTask.id)).scalars().all()
    notes = s.execute(select(Notification).where(Notification.instance_id == inst.id)
                      .order_by(Notification.id)).scalars().all()
    return {
        "id": inst.id, "process_id": inst.process_id, "process_name": inst.process_version.name,
        "process_version": inst.process_version.version, "status": inst.status,
        "child_status": inst.child_status, "audit_type": inst.audit_type, "grade": inst.grade,
        "started_by": inst.started_by, "started_at": _iso(inst.started_at),
        "updated_at": _iso(inst.updated_at), "completed_at": _iso(inst.completed_at),
        "participants": [{"role": p.role, "username": p.person.username, "name": p.person.name,
                          "job_title": p.person.job_title} for p in inst.participants],
        "tasks": [{
            "id": t.id, "name": t.name, "role": t.role, "status": t.status,
            "assignee": _person(t.assignee), "group": t.group_role,
            "claimed_by": _person(t.claimed_by), "due_at": _iso(t.due_at),
            "escalated_at": _iso(t.escalated_at), "created_at": _iso(t.created_at),
            "completed_at": _iso(t.completed_at), "completed_by": _person(t.completed_by),
            "draft": t.draft,
            "submitted": submitted.get((_person(t.completed_by), t.completed_at)),
        } for t in tasks],
        "data": _latest_data(inst.workflow_state()),
        "notifications": [{
            "to": _person(n.recipient), "email": n.email, "subject": n.subject, "body": n.body,
            "created_at": _iso(n.created_at), "status": n.status, "sent_at": _iso(n.sent_at),
        } for n in notes],
        "events": [_event(e) for e in events],
    }


def _event(e: AuditEvent) -> dict[str, Any]:
    return {"id": e.id, "at": _iso(e.at), "actor": e.actor, "kind": e.kind,
            "detail": json.loads(e.detail)}


# Tables handled one by one above; any other table naming a child is exported whole.
_OWN_TABLES = {"instance", "instance_state", "instance_change", "audit_event", "human_task",
               "participant", "notification"}


def _mentions(s: Session, child_ref: str) -> dict[str, list[dict[str, Any]]]:
    """Return the rows of every other table that name the child (the register, schedules...)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for table in Base.metadata.sorted_tables:
        column = table.c.get("child_ref") if "child_ref" in table.c else table.c.get("reference")
        if table.name in _OWN_TABLES or column is None:
            continue
        rows = s.execute(select(table).where(column == child_ref)).mappings().all()
        if rows:
            found[table.name] = [{k: _plain(v) for k, v in row.items()} for row in rows]
    return found


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _detach(s: Session, instance_ids: list[int]) -> None:
    """Clear links to purged audits from other tables; delete rows that cannot stand without one."""
    instance: Table = Base.metadata.tables["instance"]
    for table in reversed(Base.metadata.sorted_tables):
        for fk in table.foreign_keys:
            if fk.column.table is not instance or table.name in _OWN_TABLES:
                continue
            column = fk.parent
            if column.nullable:
                s.execute(update(table).where(column.in_(instance_ids)).values({column.name: None}))
            else:
                s.execute(delete(table).where(column.in_(instance_ids)))


def export_child(engine: Engine, child_ref: str, actor: str = "cli") -> dict[str, Any]:
    """Return everything held about a child's audits; the export itself goes into the trail."""
    with engine.transaction() as s:
        insts = s.execute(select(Instance).where(Instance.child_ref == child_ref)
                          .order_by(Instance.id)).unique().scalars().all()
        loose = s.execute(select(AuditEvent).where(
            AuditEvent.child_ref == child_ref, AuditEvent.instance_id.is_(None))
            .order_by(AuditEvent.id)).scalars().all()
        doc = {
            "format": EXPORT_FORMAT, "child_ref": child_ref,
            "exported_at": _iso(engine.now()), "exported_by": actor,
            "audits": [_audit(s, inst) for inst in insts],
            "other_events": [_event(e) for e in loose],
            "other_records": _mentions(s, child_ref),
        }
        audit.append(s, engine.now(), actor, "exported",
                     {"audits": [i.id for i in insts]}, None, child_ref)
        return doc


@dataclass
class PurgeReport:
    """What a purge removed (or, on a dry run, would remove)."""

    cutoff: datetime
    years: int
    dry_run: bool
    instances: list[int] = field(default_factory=list)
    events_redacted: int = 0
    register_rows: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        return (f"{verb} {len(self.instances)} audits closed before {self.cutoff:%Y-%m-%d} "
                f"({self.years} years' retention); {self.events_redacted} audit events "
                f"{'to blank' if self.dry_run else 'blanked'}; {len(self.register_rows)} "
                "children's register rows (absent from the case-management export since then, "
                "no audit left)")


def purge(engine: Engine, actor: str = "cli", dry_run: bool = False,
          years: int | None = None) -> PurgeReport:
    """Delete closed audits past retention and blank their events, in one transaction."""
    years = years or retention_years()
    now = engine.now()
    cutoff = add_months(now, -12 * years)
    report = PurgeReport(cutoff, years, dry_run)
    with engine.transaction() as s:
        due = s.execute(select(Instance.id, Instance.child_ref).where(
            Instance.status != "running", Instance.completed_at.is_not(None),
            Instance.completed_at < cutoff).order_by(Instance.id)).all()
        report.instances = [i for i, _ in due]
        children = {ref for _, ref in due if ref}
        kept = set(s.execute(select(Instance.child_ref).where(
            Instance.child_ref.in_(children), Instance.id.not_in(report.instances))).scalars())
        # Events about a child but no one audit (an export, say) go once none of theirs is left.
        loose = list(s.execute(select(AuditEvent.id).where(
            AuditEvent.instance_id.is_(None), AuditEvent.child_ref.in_(children - kept))
            .order_by(AuditEvent.id)).scalars())
        tied = s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id.in_(report.instances))).scalar_one() if due else 0
        report.events_redacted = tied + len(loose)
        # A child gone from the case-management export for the whole retention period, with no
        # audit left once these go, leaves the register too (with any allocation never started).
        audited = select(Instance.child_ref).where(Instance.id.not_in(report.instances))
        report.register_rows = list(s.execute(select(ChildRecord.reference).where(
            ChildRecord.in_latest_import.is_(False), ChildRecord.updated_at < cutoff,
            ChildRecord.reference.not_in(audited)).order_by(ChildRecord.reference)).scalars())
        if dry_run or not (due or report.register_rows):
            return report
        for chunk in audit.chunks(report.instances):
            # The allocation that started a purged audit names the child: it goes with the audit.
            s.execute(delete(ScheduleAllocation).where(ScheduleAllocation.instance_id.in_(chunk)))
            _detach(s, chunk)
            for table in (HumanTask, Participant, Notification, InstanceState, InstanceChange):
                s.execute(delete(table).where(table.instance_id.in_(chunk)))
            s.execute(delete(Instance).where(Instance.id.in_(chunk)))
        for refs in audit.chunks(report.register_rows):
            ids = select(ChildRecord.id).where(ChildRecord.reference.in_(refs))
            s.execute(delete(ScheduleAllocation).where(ScheduleAllocation.child_id.in_(ids)))
            s.execute(delete(ChildRecord).where(ChildRecord.reference.in_(refs)))
        audit.redact(s, report.instances, loose)
        audit.append(s, now, actor, audit.PURGED, {
            "instances": report.instances, "events": loose, "retention_years": years,
            "cutoff": cutoff.isoformat(), "events_redacted": report.events_redacted,
            "register_rows": len(report.register_rows)})
    return report
