"""The monthly moderation sample: every audit graded Inadequate plus 20% of the rest.

Audits graded Inadequate are already moderated in their follow-up (the `grading_follow_up`
process's 'Moderate the audit'), which also makes sure the Head of Service knows. The sample
of the rest (rounded up, across the range of grades) each get a `moderation` process with a
task for CPP. A draw is reproducible from its month and seed.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import NotAllowed, NotFound
from engine.models import AuditEvent, HumanTask, Instance
from engine.register import require_cpp, setting
from engine.register_models import ModerationPick, ModerationSample
from engine.schedule import month_bounds, start_each

if TYPE_CHECKING:
    from engine.service import Engine

GRADES = ("Outstanding", "Good", "Requires Improvement", "Inadequate")
AUDIT_TOOL = "Activity_CompleteAuditTool"
FOLLOW_UP_MODERATION = "Activity_ModerateAudit"
SAMPLE_MODERATION = "Activity_ModerateSampledAudit"
MODERATION_PROCESS = "moderation"


@dataclass(frozen=True)
class Submitted:
    audit_id: int
    child_ref: str
    grade: str


@dataclass(frozen=True)
class PickRow:
    audit_id: int
    child_ref: str
    grade: str
    reason: str
    moderation_id: int | None
    state: str
    error: str | None


@dataclass(frozen=True)
class SampleView:
    id: int
    month: str
    seed: int
    status: str
    submitted: int
    inadequate: int
    rest: int
    sampled: int
    picks: list[PickRow]


def sample_size(rest: int, percent: int) -> int:
    """Round up: 20% of 11 audits is 3."""
    return (rest * percent + 99) // 100


def submitted_in(s: Session, month: str, process_id: str = "deep_dive_audit") -> list[Submitted]:
    """Audits whose audit tool was submitted in the month, with the grade the auditor gave."""
    start, end = month_bounds(month)
    rows = s.execute(
        select(HumanTask.instance_id, Instance.child_ref)
        .join(Instance, HumanTask.instance_id == Instance.id)
        .where(HumanTask.spec_name == AUDIT_TOOL, HumanTask.status == "completed",
               HumanTask.completed_at >= start, HumanTask.completed_at < end,
               Instance.process_id == process_id)
        .order_by(HumanTask.instance_id)).all()
    grades = audit_tool_grades(s, [r[0] for r in rows])
    return [Submitted(int(r[0]), r[1], grades[int(r[0])]) for r in rows if r[0] in grades]


def audit_tool_grades(s: Session, ids: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in audit.chunks(ids):
        for iid, detail in s.execute(select(AuditEvent.instance_id, AuditEvent.detail).where(
                AuditEvent.instance_id.in_(chunk), AuditEvent.kind == "task_completed")):
            if iid is None or AUDIT_TOOL not in detail:
                continue
            data = json.loads(detail)
            if data.get("spec") == AUDIT_TOOL and data.get("data", {}).get("grade") in GRADES:
                found[iid] = data["data"]["grade"]
    return found


def choose(rng: random.Random, rest: list[Submitted], n: int) -> list[Submitted]:
    """Choose n audits across the range of grades: one of each grade first, then in proportion."""
    by_grade: dict[str, list[Submitted]] = {g: [] for g in GRADES}
    for a in rest:
        by_grade[a.grade].append(a)
    for group in by_grade.values():
        rng.shuffle(group)
    present = [g for g in GRADES if by_grade[g]]
    quota = dict.fromkeys(present, 0)
    for g in present if n >= len(present) else rng.sample(present, n):
        quota[g] = 1
    while sum(quota.values()) < min(n, len(rest)):
        # Give the next pick to the grade furthest below its proportional share.
        g = max((g for g in present if quota[g] < len(by_grade[g])),
                key=lambda g: (len(by_grade[g]) / (quota[g] + 1), -GRADES.index(g)))
        quota[g] += 1
    return [a for g in present for a in by_grade[g][:quota[g]]]


def draw(engine: Engine, actor: str, month: str, seed: int | None = None,
         process_id: str = "deep_dive_audit") -> int:
    """Draw the month's moderation sample (replacing an unconfirmed one); return its id."""
    seed = secrets.randbelow(1_000_000) if seed is None else int(seed)
    with engine.transaction() as s:
        require_cpp(s, actor)
        for old in s.execute(select(ModerationSample).where(
                ModerationSample.month == month)).scalars():
            if old.status == "confirmed":
                raise NotAllowed(f"The moderation sample for {month} is already confirmed")
            s.delete(old)
        s.flush()
        audits = submitted_in(s, month, process_id)
        inadequate = [a for a in audits if a.grade == "Inadequate"]
        rest = [a for a in audits if a.grade != "Inadequate"]
        n = sample_size(len(rest), setting(s, "moderation_percent"))
        chosen = choose(random.Random(f"{month}|moderation|{seed}"), rest, n)
        sample = ModerationSample(month=month, seed=seed, status="draft", rest_count=len(rest),
                                  created_by=actor, created_at=engine.now())
        for a, reason in [*((a, "inadequate") for a in inadequate),
                          *((a, "sample") for a in sorted(chosen, key=lambda a: a.audit_id))]:
            sample.picks.append(ModerationPick(audit_id=a.audit_id, child_ref=a.child_ref,
                                               grade=a.grade, reason=reason))
        s.add(sample)
        s.flush()
        audit.append(s, engine.now(), actor, "moderation_sample_drawn",
                     {"sample": sample.id, "month": month, "seed": seed, "submitted": len(audits),
                      "inadequate": len(inadequate), "sampled": len(chosen)})
        return sample.id


def confirm(engine: Engine, actor: str, sample_id: int) -> int:
    """Give CPP a moderation task for each sampled audit not yet started; return how many."""
    with engine.transaction() as s:
        require_cpp(s, actor)
        sample = s.get(ModerationSample, sample_id)
        if sample is None:
            raise NotFound("There is no such moderation sample")
        todo = []
        for p in sample.picks:
            if p.reason != "sample" or p.moderation_instance_id is not None:
                continue
            inst = s.get(Instance, p.audit_id)
            assert inst is not None
            todo.append((p.id, {r.role: r.person.username for r in inst.participants}, {
                "child_ref": inst.child_ref, "child_status": inst.child_status,
                "audit_type": "moderation", "audited_grade": p.grade,
                "moderated_audit_id": p.audit_id, "sample_month": sample.month}))
    started = start_each(engine, ModerationPick, "moderation_instance_id", [
        (pick_id, partial(engine.start, MODERATION_PROCESS, actor, data, participants=participants))
        for pick_id, participants, data in todo])
    with engine.transaction() as s:
        sample = s.get(ModerationSample, sample_id)
        assert sample is not None
        sample.status = "confirmed"
        if sample.confirmed_at is None:
            sample.confirmed_at, sample.confirmed_by = engine.now(), actor
        audit.append(s, engine.now(), actor, "moderation_sample_confirmed",
                     {"sample": sample.id, "month": sample.month, "started": started})
    return started


def _state(s: Session, instance_id: int | None, spec: str) -> tuple[int | None, str]:
    if instance_id is None:
        return None, "Not started"
    task = s.execute(select(HumanTask.status).where(
        HumanTask.instance_id == instance_id, HumanTask.spec_name == spec)
        .order_by(HumanTask.id.desc()).limit(1)).scalar_one_or_none()
    if task is None:
        return instance_id, "Waiting for the follow-up to reach moderation"
    return instance_id, {"open": "To do", "completed": "Moderated"}.get(task, task.capitalize())


def view(engine: Engine, month: str, process_id: str = "deep_dive_audit") -> SampleView | None:
    """The month's moderation sample, with where each moderation has got to."""
    month_bounds(month)
    with engine.transaction() as s:
        sample = s.execute(select(ModerationSample).where(ModerationSample.month == month)
                           .order_by(ModerationSample.id.desc()).limit(1)).scalar_one_or_none()
        if sample is None:
            return None
        rows = []
        for p in sample.picks:
            if p.reason == "inadequate":
                mid, state = _state(s, p.audit_id, FOLLOW_UP_MODERATION)
            else:
                mid, state = _state(s, p.moderation_instance_id, SAMPLE_MODERATION)
            rows.append(PickRow(p.audit_id, p.child_ref, p.grade, p.reason,
                                mid if p.reason == "sample" else p.audit_id, state, p.error))
        inadequate = sum(1 for p in sample.picks if p.reason == "inadequate")
        return SampleView(sample.id, sample.month, sample.seed, sample.status,
                          sample.rest_count + inadequate, inadequate, sample.rest_count,
                          len(sample.picks) - inadequate, rows)


def now_month(engine: Engine) -> str:
    local: datetime = engine.now().astimezone(month_bounds("2000-01")[0].tzinfo)
    return f"{local.year:04d}-{local.month:02d}"
