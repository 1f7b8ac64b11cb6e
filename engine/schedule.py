"""The monthly audit schedule and themed samples: draw, review, adjust, confirm.

A draw is reproducible: the same register, settings, month and seed give the same files and
auditors. Files with an audit still open, or audited within the rest period, are left out;
files are spread across service areas; no auditor audits a file of their own team or of
anyone they line-manage.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from engine import audit, org
from engine.errors import EngineError, NotAllowed, NotFound
from engine.models import Instance, Person, ServiceArea, Team
from engine.register import require_cpp, setting
from engine.register_models import ChildRecord, ScheduleAllocation, ScheduleBatch
from engine.roles import CPP
from engine.workdays import LONDON, is_working_day

if TYPE_CHECKING:
    from engine.service import Engine

KINDS = ("monthly", "targeted")
SYSTEM = "system"  # the worker, opening a month's schedule for CPP to review


@dataclass(frozen=True)
class Criteria:
    """Which files a themed sample may choose from (empty means any)."""

    statuses: tuple[str, ...] = ()
    service_area_ids: tuple[int, ...] = ()
    team_ids: tuple[int, ...] = ()
    placement_move_since: date | None = None
    started_since: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {"statuses": list(self.statuses), "service_area_ids": list(self.service_area_ids),
                "team_ids": list(self.team_ids),
                "placement_move_since": self.placement_move_since.isoformat()
                if self.placement_move_since else None,
                "started_since": self.started_since.isoformat() if self.started_since else None}


@dataclass(frozen=True)
class AllocationRow:
    id: int
    child_ref: str
    child_status: str
    service_area: str
    team: str
    practitioner: str
    auditor: str
    auditor_username: str
    audit_id: int | None
    error: str | None


@dataclass(frozen=True)
class BatchView:
    id: int
    month: str
    kind: str
    theme: str
    seed: int
    size: int
    status: str
    criteria: dict[str, Any]
    notes: list[str]
    created_by: str
    confirmed_at: datetime | None
    rows: list[AllocationRow] = field(default_factory=list)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """Return the first moment of the month and of the next, in London time."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=LONDON)
    except ValueError:
        raise NotFound(f"'{month}' is not a month (YYYY-MM)") from None
    nxt = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=LONDON)
    return start, nxt


def months_before(month_start: datetime, n: int) -> datetime:
    y, m = month_start.year, month_start.month - n
    while m < 1:
        y, m = y - 1, m + 12
    return datetime.combine(date(y, m, 1), time(0), LONDON)


def auditors(s: Session) -> list[Person]:
    """Managers (anyone who manages someone, so Team Manager and above) who may audit."""
    report = aliased(Person)
    return list(s.execute(
        select(Person).where(Person.active.is_(True),
                             exists().where(report.manager_id == Person.id, report.active.is_(True)))
        .order_by(Person.username)).scalars())


def may_audit(auditor: Person, practitioner: Person) -> str | None:
    """Return why this auditor may not audit this practitioner's file, or None if they may."""
    if auditor.id == practitioner.id:
        return "an auditor cannot audit their own file"
    if practitioner.team_id is not None and auditor.team_id == practitioner.team_id:
        return f"{auditor.name} is in {practitioner.name}'s own team"
    if any(m.id == auditor.id for m in org.line_managers(practitioner)):
        return f"{auditor.name} line-manages {practitioner.name}"
    return None


def _candidates(s: Session, month: str, criteria: Criteria, process_id: str) -> list[ChildRecord]:
    start, _ = month_bounds(month)
    rested_since = months_before(start, setting(s, "rest_months"))
    recent = exists().where(
        Instance.child_ref == ChildRecord.reference, Instance.process_id == process_id,
        or_(Instance.status == "running", Instance.started_at >= rested_since))
    q = select(ChildRecord).where(ChildRecord.in_latest_import.is_(True), ~recent)
    if criteria.statuses:
        q = q.where(ChildRecord.status.in_(criteria.statuses))
    if criteria.service_area_ids:
        q = q.where(ChildRecord.service_area_id.in_(criteria.service_area_ids))
    if criteria.team_ids:
        q = q.where(ChildRecord.team_id.in_(criteria.team_ids))
    if criteria.placement_move_since:
        q = q.where(ChildRecord.last_placement_move >= criteria.placement_move_since)
    if criteria.started_since:
        q = q.where(ChildRecord.start_date >= criteria.started_since)
    return list(s.execute(q.order_by(ChildRecord.reference)).scalars())


def _spread(rng: random.Random, groups: dict[int, list[ChildRecord]], size: int) -> list[ChildRecord]:
    """Take `size` files across the groups: one from each first, the rest in proportion."""
    keys = sorted(groups)
    for k in keys:
        rng.shuffle(groups[k])
    total = sum(len(v) for v in groups.values())
    size = min(size, total)
    quota = dict.fromkeys(keys, 0)
    order = keys[:]
    rng.shuffle(order)
    for k in order[:size]:
        quota[k] = 1
    left = size - sum(quota.values())
    if left > 0:
        spare = {k: len(groups[k]) - quota[k] for k in keys}
        share = {k: left * spare[k] / max(1, sum(spare.values())) for k in keys}
        for k in keys:
            quota[k] += min(spare[k], int(share[k]))
        for k in sorted(keys, key=lambda k: (-(share[k] - int(share[k])), k)):
            if sum(quota.values()) >= size:
                break
            if quota[k] < len(groups[k]):
                quota[k] += 1
        for k in keys:  # anything still short goes to groups with files to spare
            while sum(quota.values()) < size and quota[k] < len(groups[k]):
                quota[k] += 1
    picked: list[ChildRecord] = []
    for k in keys:
        picked.extend(groups[k][:quota[k]])
    rng.shuffle(picked)
    return picked


def draw(engine: Engine, actor: str, month: str, *, kind: str = "monthly", size: int | None = None,
         seed: int | None = None, theme: str = "", criteria: Criteria | None = None,
         supplementary_reading: str = "", process_id: str = "deep_dive_audit") -> int:
    """Draw a month's allocations (replacing an unconfirmed draw of the same kind); return its id."""
    if kind not in KINDS:
        raise NotAllowed(f"A schedule is 'monthly' or 'targeted', not '{kind}'")
    if kind == "targeted" and not theme.strip():
        raise NotAllowed("Name the theme of a targeted sample")
    criteria = criteria or Criteria()
    seed = secrets.randbelow(1_000_000) if seed is None else int(seed)
    with engine.transaction() as s:
        if actor != SYSTEM:
            require_cpp(s, actor)
        if kind == "monthly":
            for old in s.execute(select(ScheduleBatch).where(
                    ScheduleBatch.month == month, ScheduleBatch.kind == "monthly")).scalars():
                if old.status == "confirmed":
                    raise NotAllowed(f"The schedule for {month} is already confirmed")
                s.delete(old)
            s.flush()
        pool = auditors(s)
        if size is None:
            size = len(pool)
        rng = random.Random(f"{month}|{kind}|{seed}")
        groups: dict[int, list[ChildRecord]] = {}
        for child in _candidates(s, month, criteria, process_id):
            groups.setdefault(child.service_area_id, []).append(child)
        notes: list[str] = []
        available = sum(len(g) for g in groups.values())
        if available < size:
            notes.append(f"Only {available} files could be chosen: the rest of the register has "
                         "an audit open or was audited within the rest period")
        batch = ScheduleBatch(
            month=month, kind=kind, theme=theme.strip(), criteria=criteria.to_json(), seed=seed,
            size=size, status="draft", supplementary_reading=supplementary_reading,
            created_by=actor, created_at=engine.now(), notes=notes)
        load = {p.id: 0 for p in pool}
        position = 0
        for child in _spread(rng, groups, size):
            prac = child.practitioner
            fit = [p for p in pool if may_audit(p, prac) is None]
            if not fit:
                notes.append(f"{child.reference}: no auditor outside {prac.name}'s team and line")
                continue
            least = min(load[p.id] for p in fit)
            chosen = rng.choice([p for p in fit if load[p.id] == least])
            load[chosen.id] += 1
            position += 1
            batch.allocations.append(ScheduleAllocation(
                position=position, child_id=child.id, child_ref=child.reference,
                child_status=child.status, practitioner_id=prac.id, auditor_id=chosen.id))
        batch.notes = notes
        s.add(batch)
        s.flush()
        audit.append(s, engine.now(), actor, "schedule_drawn",
                     {"batch": batch.id, "month": month, "kind": kind, "seed": seed,
                      "size": size, "allocated": position, "theme": batch.theme})
        return batch.id


def _batch(s: Session, batch_id: int) -> ScheduleBatch:
    batch = s.get(ScheduleBatch, batch_id)
    if batch is None:
        raise NotFound("There is no such schedule")
    return batch


def _unstarted(s: Session, actor: str, allocation_id: int, started: str) -> ScheduleAllocation:
    """The allocation CPP asks to change, refused (with `started`) once its audit has started."""
    require_cpp(s, actor)
    row = s.get(ScheduleAllocation, allocation_id)
    if row is None:
        raise NotFound("There is no such allocation")
    if row.instance_id is not None:
        raise NotAllowed(started)
    return row


def change_auditor(engine: Engine, actor: str, allocation_id: int, auditor: str) -> None:
    """Give an allocation to another auditor, within the same rules as the draw."""
    with engine.transaction() as s:
        row = _unstarted(s, actor, allocation_id,
                         "This audit has started: change its auditor on the audit itself")
        person = org.person(s, auditor)
        if person.id not in {p.id for p in auditors(s)}:
            raise NotAllowed(f"{person.name} does not manage anyone, so cannot audit")
        why = may_audit(person, row.practitioner)
        if why:
            raise NotAllowed(f"{person.name} cannot audit {row.child_ref}: {why}")
        old = row.auditor.username
        row.auditor_id = person.id
        audit.append(s, engine.now(), actor, "schedule_changed",
                     {"batch": row.batch_id, "allocation": row.id, "auditor_from": old,
                      "auditor_to": person.username})


def remove(engine: Engine, actor: str, allocation_id: int) -> None:
    """Take a file out of an unconfirmed allocation list."""
    with engine.transaction() as s:
        row = _unstarted(s, actor, allocation_id,
                         "This audit has started; it cannot be taken out of the schedule")
        audit.append(s, engine.now(), actor, "schedule_changed",
                     {"batch": row.batch_id, "allocation": row.id, "removed": True})
        s.delete(row)


def start_each(engine: Engine, model: type[Any], link: str,
               starts: list[tuple[int, Callable[[], int]]]) -> int:
    """Start each audit in its own transaction and record on its row (of `model`, by id) the
    audit started (in column `link`) or why it could not start; return how many started."""
    started = 0
    for row_id, start in starts:
        instance_id, error = None, None
        try:
            instance_id = start()
            started += 1
        except EngineError as exc:
            error = str(exc)
        with engine.transaction() as s:
            row = s.get(model, row_id)
            if row is not None:
                setattr(row, link, instance_id)
                row.error = error
    return started


def confirm(engine: Engine, actor: str, batch_id: int, process_id: str = "deep_dive_audit") -> int:
    """Start an audit for every allocation not yet started; return how many started.

    Each audit starts in its own transaction, so one file that cannot start (say, its
    practitioner has no Team Manager on record) is reported and the others still start;
    confirming again retries only what is left.
    """
    with engine.transaction() as s:
        require_cpp(s, actor)
        batch = _batch(s, batch_id)
        todo = [(a.id, a.child_ref, a.child_status, a.practitioner.username, a.auditor.username)
                for a in batch.allocations if a.instance_id is None]
        base = {"audit_type": batch.kind, "supplementary_reading": batch.supplementary_reading,
                "schedule_month": batch.month}
        if batch.kind == "targeted":
            base["audit_theme"] = batch.theme
    started = start_each(engine, ScheduleAllocation, "instance_id", [
        (alloc_id, partial(engine.start, process_id, actor,
                           {"child_ref": ref, "child_status": status, **base},
                           practitioner=practitioner, auditor=auditor))
        for alloc_id, ref, status, practitioner, auditor in todo])
    with engine.transaction() as s:
        batch = _batch(s, batch_id)
        if batch.confirmed_at is None:
            batch.confirmed_at, batch.confirmed_by = engine.now(), actor
        batch.status = "confirmed"
        audit.append(s, engine.now(), actor, "schedule_confirmed",
                     {"batch": batch.id, "month": batch.month, "started": started})
    return started


def batches(engine: Engine, month: str) -> list[BatchView]:
    """The month's schedule and themed samples, with each allocation spelled out."""
    month_bounds(month)
    with engine.transaction() as s:
        areas = {r[0]: r[1] for r in s.execute(select(ServiceArea.id, ServiceArea.name))}
        teams = {t.id: (t.name, t.service_area_id) for t in s.execute(select(Team)).scalars()}
        out = []
        for b in s.execute(select(ScheduleBatch).where(ScheduleBatch.month == month)
                           .order_by(ScheduleBatch.kind, ScheduleBatch.id)).scalars():
            rows = []
            for a in b.allocations:
                team_name, area_id = teams.get(a.practitioner.team_id or -1, ("", -1))
                rows.append(AllocationRow(
                    a.id, a.child_ref, a.child_status, areas.get(area_id, ""), team_name,
                    a.practitioner.name, a.auditor.name, a.auditor.username, a.instance_id,
                    a.error))
            out.append(BatchView(b.id, b.month, b.kind, b.theme, b.seed, b.size, b.status,
                                 dict(b.criteria or {}), list(b.notes or []), b.created_by,
                                 b.confirmed_at, rows))
        return out


def auditor_choices(engine: Engine) -> list[tuple[str, str]]:
    with engine.transaction() as s:
        return [(p.username, f"{p.name}, {p.job_title}" if p.job_title else p.name)
                for p in sorted(auditors(s), key=lambda p: p.name)]


@lru_cache(maxsize=8)
def month_to_open(today: date) -> str | None:
    """The month (YYYY-MM) whose schedule may be drawn today: from its first working day on."""
    first = today.replace(day=1)
    while not is_working_day(first):
        first = first.replace(day=first.day + 1)
    return None if today < first else f"{today:%Y-%m}"


def needs_drawing(month: str | ColumnElement[str]) -> ColumnElement[bool]:
    """True when the month has no monthly schedule yet and the children register is not empty.

    An SQL expression, so the worker can ask it in the same query as its other checks.
    """
    drawn = exists().where(ScheduleBatch.month == month, ScheduleBatch.kind == "monthly")
    return and_(~drawn, exists().where(ChildRecord.id.is_not(None)))


def open_month(engine: Engine) -> int | None:
    """On a month's first working day or later, draw its schedule for CPP to review (once).

    The worker calls this each pass; it does nothing when the month already has a monthly
    schedule, or when the children register is empty. CPP are told the draft is waiting.
    """
    today = engine.now().astimezone(LONDON).date()
    month = month_to_open(today)
    if month is None:
        return None
    with engine.transaction() as s:
        if not s.execute(select(needs_drawing(month))).scalar():
            return None
    batch_id = draw(engine, SYSTEM, month)
    with engine.transaction() as s:
        batch = s.get(ScheduleBatch, batch_id)
        assert batch is not None
        engine.tell(s, org.members_of(s, CPP),
                       f"The audit schedule for {today:%B %Y} is ready to review",
                       f"{len(batch.allocations)} files have been drawn at random (seed "
                       f"{batch.seed}) for this month's audits. Review the auditors, adjust and "
                       "confirm the schedule to start the audits.")
    return batch_id
