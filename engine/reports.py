"""The CPP monthly and quarterly quality assurance reports, from the projected tables.

Figures come from `instance`, `human_task` (deadlines: completed_at against due_at) and the
data each task submitted (the `task_completed` events): the audit tool's grade, section
judgements and themes, dispute outcomes and moderation decisions. Children are never named;
late work is listed by task and holder.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from engine import audit
from engine.models import AuditEvent, HumanTask, Instance, Person, ServiceArea, Team
from engine.schedule import month_bounds

if TYPE_CHECKING:
    from engine.service import Engine

AUDIT_PROCESS = "deep_dive_audit"
GRADES = ("Outstanding", "Good", "Requires Improvement", "Inadequate")
AUDIT_TOOL = "Activity_CompleteAuditTool"
SAFETY = "Activity_AddressSafetyConcern"
DEADLINES = (
    # The notification itself goes at submission; what can be late is the acknowledgement.
    ("Activity_AcknowledgeGrading",
     "Head of Service notified, and acknowledged by 12 noon the next working day"),
    ("Activity_FollowUpRemedialActions", "Requires Improvement: Team Manager follows up within a week"),
    ("Activity_RespondToRemedialActions", "Inadequate: Service Manager responds within a week"),
    ("Activity_SignOffActions", "Requires Improvement: Service Manager signs off within a month"),
    ("Activity_ReauditChildFile", "Re-audit by the Head of Service within 3 months"),
)
DISPUTE_STAGES = {"Activity_DiscussFindings": 1, "Activity_HoldRestorativeConversation": 2,
                  "Activity_DecideDispute": 3}
MODERATIONS = {"Activity_ModerateAudit": "Inadequate audits (in the follow-up)",
               "Activity_ModerateSampledAudit": "Sample of the other audits"}
SECTIONS = (
    ("section_lived_experience_grade", "The child's lived experience and voice"),
    ("section_assessment_grade", "Assessment"),
    ("section_plan_grade", "Plan"),
    ("section_oversight_grade", "Management oversight and supervision"),
    ("section_multi_agency_grade", "Multi-agency working"),
    ("section_recording_grade", "Recording"),
    ("section_impact_grade", "Impact and outcomes for the child"),
)
TREND_MONTHS = 6


@dataclass(frozen=True)
class Period:
    label: str
    months: tuple[str, ...]
    start: datetime
    end: datetime


def month_period(month: str) -> Period:
    start, end = month_bounds(month)
    return Period(f"{start:%B %Y}", (month,), start, end)


def quarter_period(quarter: str) -> Period:
    """'2025-Q4' is October to December 2025 (calendar quarters)."""
    try:
        year_text, q_text = quarter.upper().split("-Q")
        year, q = int(year_text), int(q_text)
        if not 1 <= q <= 4:
            raise ValueError
    except ValueError:
        from engine.errors import NotFound

        raise NotFound(f"'{quarter}' is not a quarter (YYYY-Qn)") from None
    months = tuple(f"{year:04d}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1))
    start, end = month_bounds(months[0])[0], month_bounds(months[-1])[1]
    return Period(f"Quarter {q} {year} ({start:%B} to {month_bounds(months[-1])[0]:%B %Y})",
                  months, start, end)


def shift_month(month: str, n: int) -> str:
    y, m = (int(x) for x in month.split("-"))
    m += n
    while m < 1:
        y, m = y - 1, m + 12
    while m > 12:
        y, m = y + 1, m - 12
    return f"{y:04d}-{m:02d}"


@dataclass(frozen=True)
class GradeRow:
    service: str
    team: str
    counts: tuple[int, ...]  # in GRADES order

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class LateTask:
    task: str
    holder: str
    audit_id: int
    due_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class DeadlineRow:
    spec: str
    label: str
    due: int
    met: int
    late: list[LateTask]

    @property
    def percent(self) -> float | None:
        return round(100 * self.met / self.due, 1) if self.due else None


@dataclass(frozen=True)
class ModerationRow:
    route: str
    moderated: int
    agreed: int


@dataclass(frozen=True)
class TrendRow:
    month: str
    label: str
    completed: int
    good_or_better: float | None
    inadequate: float | None
    sections: tuple[float | None, ...]  # % Requires Improvement or Inadequate, SECTIONS order


@dataclass(frozen=True)
class MonthSummary:
    month: str
    label: str
    allocated: int
    completed: int
    overdue: int


@dataclass
class Report:
    title: str
    period: Period
    as_of: datetime
    allocated: int = 0
    allocated_by_type: dict[str, int] = field(default_factory=dict)
    completed: int = 0
    overdue: int = 0
    overdue_final: bool = True
    grade_totals: tuple[int, ...] = (0, 0, 0, 0)
    grades_by_service: list[GradeRow] = field(default_factory=list)
    grades_by_team: list[GradeRow] = field(default_factory=list)
    deadlines: list[DeadlineRow] = field(default_factory=list)
    disputes: dict[tuple[int, str], int] = field(default_factory=dict)
    disputes_raised: int = 0
    moderation: list[ModerationRow] = field(default_factory=list)
    moderation_changes: list[tuple[str, str, int]] = field(default_factory=list)
    safety_concerns: int = 0
    safety_by_service: dict[str, int] = field(default_factory=dict)
    sections: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    themes: list[tuple[str, int]] = field(default_factory=list)
    good_practice: int = 0
    trends: list[TrendRow] = field(default_factory=list)
    months: list[MonthSummary] = field(default_factory=list)

    @property
    def moderated(self) -> int:
        return sum(r.moderated for r in self.moderation)

    @property
    def agreement(self) -> float | None:
        n = self.moderated
        return round(100 * sum(r.agreed for r in self.moderation) / n, 1) if n else None


@dataclass(frozen=True)
class Submission:
    audit_id: int
    submitted_at: datetime
    service: str
    team: str
    data: dict[str, Any]

    @property
    def grade(self) -> str | None:
        g = self.data.get("grade")
        return g if g in GRADES else None


@dataclass(frozen=True)
class BriefingItem:
    service: str
    child_status: str
    grade: str | None
    text: str


@dataclass(frozen=True)
class Briefing:
    period: Period
    audits: int
    good_practice: list[BriefingItem]
    strengths: list[BriefingItem]
    development: list[BriefingItem]
    stretch_targets: list[BriefingItem]
    themes: list[tuple[str, int]]


# -- loading -------------------------------------------------------------------------------

class _Names:
    def __init__(self, s: Session):
        self.areas = {r[0]: r[1] for r in s.execute(select(ServiceArea.id, ServiceArea.name))}
        self.teams = {r[0]: r[1] for r in s.execute(select(Team.id, Team.name))}

    def area(self, area_id: int | None) -> str:
        return self.areas.get(area_id or -1, "No service area")

    def team(self, team_id: int | None) -> str:
        return self.teams.get(team_id or -1, "No team")


def _event_data(s: Session, instance_ids: list[int], specs: set[str]
                ) -> dict[tuple[int, str], list[tuple[datetime, dict[str, Any]]]]:
    """The data each of the named tasks submitted, per (audit, task), oldest first."""
    found: dict[tuple[int, str], list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    ids = sorted(set(instance_ids))
    for chunk in audit.chunks(ids):
        rows = s.execute(select(AuditEvent.instance_id, AuditEvent.at, AuditEvent.detail).where(
            AuditEvent.instance_id.in_(chunk), AuditEvent.kind == "task_completed")
            .order_by(AuditEvent.id))
        for iid, at, detail in rows:
            if iid is None or not any(spec in detail for spec in specs):
                continue
            parsed = json.loads(detail)
            if parsed.get("spec") in specs:
                found[(iid, parsed["spec"])].append((at, parsed.get("data") or {}))
    return found


def _submissions(s: Session, names: _Names, start: datetime, end: datetime) -> list[Submission]:
    rows = s.execute(
        select(HumanTask.instance_id, HumanTask.completed_at, Instance.service_area_id,
               Instance.team_id)
        .join(Instance, HumanTask.instance_id == Instance.id)
        .where(HumanTask.spec_name == AUDIT_TOOL, HumanTask.status == "completed",
               HumanTask.completed_at >= start, HumanTask.completed_at < end,
               Instance.process_id == AUDIT_PROCESS)).all()
    data = _event_data(s, [r[0] for r in rows], {AUDIT_TOOL})
    out = []
    for iid, at, area_id, team_id in rows:
        if at is None:
            continue
        submitted = data.get((iid, AUDIT_TOOL))
        out.append(Submission(iid, at, names.area(area_id), names.team(team_id),
                              submitted[-1][1] if submitted else {}))
    return out


def _in(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# -- the figures -------------------------------------------------------------------------

def _allocation(s: Session, report: Report) -> None:
    p = report.period
    rows = s.execute(select(Instance.id, Instance.audit_type, Instance.started_at).where(
        Instance.process_id == AUDIT_PROCESS, Instance.started_at >= p.start,
        Instance.started_at < p.end)).all()
    report.allocated = len(rows)
    report.allocated_by_type = dict(Counter(r[1] or "monthly" for r in rows))
    submitted: dict[int, datetime | None] = {}
    ids = [r[0] for r in rows]
    for chunk in audit.chunks(ids):
        submitted.update((r[0], r[1]) for r in s.execute(
            select(HumanTask.instance_id, HumanTask.completed_at).where(
                HumanTask.instance_id.in_(chunk), HumanTask.spec_name == AUDIT_TOOL,
                HumanTask.status == "completed")))
    overdue_by_month: Counter[str] = Counter()
    for iid, _type, started in rows:
        local = started.astimezone(p.start.tzinfo)
        month = f"{local.year:04d}-{local.month:02d}"
        deadline = month_bounds(month)[1]
        if report.as_of < deadline:
            report.overdue_final = False
            continue
        done = submitted.get(iid)
        if done is None or done >= deadline:
            overdue_by_month[month] += 1
    report.overdue = sum(overdue_by_month.values())
    for month in p.months:
        start, end = month_bounds(month)
        report.months.append(MonthSummary(
            month, f"{start:%B %Y}", sum(1 for r in rows if _in(r[2], start, end)), 0,
            overdue_by_month[month]))


def _grades(report: Report, subs: list[Submission]) -> None:
    by_team: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(GRADES))
    for sub in subs:
        if sub.grade:
            by_team[(sub.service, sub.team)][GRADES.index(sub.grade)] += 1
    report.grades_by_team = [GradeRow(a, t, tuple(c)) for (a, t), c in sorted(by_team.items())]
    by_area: dict[str, list[int]] = defaultdict(lambda: [0] * len(GRADES))
    for row in report.grades_by_team:
        by_area[row.service] = [x + y for x, y in zip(by_area[row.service], row.counts, strict=True)]
    report.grades_by_service = [GradeRow(a, "", tuple(c)) for a, c in sorted(by_area.items())]
    report.grade_totals = tuple(sum(r.counts[i] for r in report.grades_by_service)
                                for i in range(len(GRADES)))
    report.completed = len(subs)
    months = {m.month: m for m in report.months}
    for m in list(months.values()):
        start, end = month_bounds(m.month)
        months[m.month] = MonthSummary(m.month, m.label, m.allocated,
                                       sum(1 for x in subs if _in(x.submitted_at, start, end)),
                                       m.overdue)
    report.months = list(months.values())


def _deadlines(s: Session, report: Report) -> None:
    p = report.period
    holder = aliased(Person)
    rows = s.execute(
        select(HumanTask.spec_name, HumanTask.name, HumanTask.instance_id, HumanTask.due_at,
               HumanTask.completed_at, HumanTask.status, HumanTask.group_role, holder.name)
        .outerjoin(holder, holder.id == func.coalesce(
            HumanTask.assignee_id, HumanTask.completed_by_id, HumanTask.claimed_by_id))
        .where(HumanTask.spec_name.in_([d[0] for d in DEADLINES]), HumanTask.due_at >= p.start,
               HumanTask.due_at < p.end, HumanTask.due_at <= report.as_of,
               HumanTask.status != "cancelled")).all()
    for spec, label in DEADLINES:
        mine = [r for r in rows if r[0] == spec]
        late = []
        for r in mine:
            due, done = r[3], r[4]
            if due is not None and (done is None or done > due):
                late.append(LateTask(r[1], r[7] or f"{r[6]} group", r[2], due, done))
        late.sort(key=lambda t: (t.due_at, t.audit_id))
        report.deadlines.append(DeadlineRow(spec, label, len(mine), len(mine) - len(late), late))


def _completed_tasks(s: Session, specs: list[str], start: datetime, end: datetime) -> list[int]:
    return list(s.execute(select(HumanTask.instance_id).where(
        HumanTask.spec_name.in_(specs), HumanTask.status == "completed",
        HumanTask.completed_at >= start, HumanTask.completed_at < end)).scalars())


def _disputes(s: Session, report: Report) -> None:
    p = report.period
    report.disputes_raised = len(s.execute(select(HumanTask.id).where(
        HumanTask.spec_name == "Activity_DiscussFindings", HumanTask.created_at >= p.start,
        HumanTask.created_at < p.end)).all())
    ids = _completed_tasks(s, list(DISPUTE_STAGES), p.start, p.end)
    data = _event_data(s, ids, set(DISPUTE_STAGES))
    outcomes: Counter[tuple[int, str]] = Counter()
    for (_iid, spec), submissions in data.items():
        stage = DISPUTE_STAGES[spec]
        for at, answers in submissions:
            outcome = str(answers.get(f"dispute_stage{stage}_outcome", ""))
            if not _in(at, p.start, p.end) or outcome == "unresolved":
                continue
            outcomes[(stage, "Grade changed" if outcome.endswith("grade-changed")
                      else "Grade stands")] += 1
    report.disputes = dict(sorted(outcomes.items()))


def _moderation(s: Session, report: Report) -> None:
    p = report.period
    ids = _completed_tasks(s, list(MODERATIONS), p.start, p.end)
    data = _event_data(s, ids, set(MODERATIONS))
    counts: dict[str, list[int]] = {route: [0, 0] for route in MODERATIONS.values()}
    changes: Counter[tuple[str, str]] = Counter()
    audited = _audited_grades(s, [iid for iid, spec in data if spec != "Activity_ModerateAudit"])
    for (iid, spec), submissions in data.items():
        for at, answers in submissions:
            if not _in(at, p.start, p.end):
                continue
            route = counts[MODERATIONS[spec]]
            route[0] += 1
            if answers.get("moderation_agrees") is True:
                route[1] += 1
            else:
                before = "Inadequate" if spec == "Activity_ModerateAudit" else audited.get(iid, "?")
                changes[(before, str(answers.get("moderation_grade", "?")))] += 1
    report.moderation = [ModerationRow(r, c[0], c[1]) for r, c in counts.items()]
    report.moderation_changes = [(a, b, n) for (a, b), n in sorted(changes.items())]


def _audited_grades(s: Session, moderation_ids: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    if not moderation_ids:
        return found
    for iid, detail in s.execute(select(AuditEvent.instance_id, AuditEvent.detail).where(
            AuditEvent.instance_id.in_(moderation_ids), AuditEvent.kind == "started")):
        grade = json.loads(detail).get("data", {}).get("audited_grade")
        if iid is not None and grade:
            found[iid] = grade
    return found


def _safety(s: Session, names: _Names, report: Report) -> None:
    p = report.period
    rows = s.execute(select(Instance.service_area_id).join(
        HumanTask, HumanTask.instance_id == Instance.id).where(
        HumanTask.spec_name == SAFETY, HumanTask.created_at >= p.start,
        HumanTask.created_at < p.end)).scalars().all()
    report.safety_concerns = len(rows)
    report.safety_by_service = dict(sorted(Counter(names.area(a) for a in rows).items()))


def _themes(report: Report, subs: list[Submission]) -> None:
    sections = []
    for key, label in SECTIONS:
        counts = [0] * len(GRADES)
        for sub in subs:
            if sub.data.get(key) in GRADES:
                counts[GRADES.index(sub.data[key])] += 1
        sections.append((label, tuple(counts)))
    report.sections = sections
    themes: Counter[str] = Counter()
    for sub in subs:
        for theme in sub.data.get("themes") or []:
            themes[str(theme)] += 1
    report.themes = themes.most_common()
    report.good_practice = sum(1 for sub in subs if sub.data.get("good_practice_identified"))


def _trends(report: Report, history: list[Submission], last_month: str) -> None:
    for n in range(TREND_MONTHS - 1, -1, -1):
        month = shift_month(last_month, -n)
        start, end = month_bounds(month)
        subs = [x for x in history if _in(x.submitted_at, start, end)]
        graded = [x for x in subs if x.grade]
        sections = []
        for key, _label in SECTIONS:
            judged = [x.data.get(key) for x in subs if x.data.get(key) in GRADES]
            sections.append(_pct(sum(1 for g in judged if g in GRADES[2:]), len(judged)))
        report.trends.append(TrendRow(
            month, f"{start:%b %Y}", len(subs),
            _pct(sum(1 for x in graded if x.grade in GRADES[:2]), len(graded)),
            _pct(sum(1 for x in graded if x.grade == "Inadequate"), len(graded)),
            tuple(sections)))


def build(engine: Engine, period: Period, title: str) -> Report:
    """Work out every figure of the report for the period, as things stand now."""
    report = Report(title=title, period=period, as_of=engine.now())
    trend_start = month_bounds(shift_month(period.months[-1], -(TREND_MONTHS - 1)))[0]
    with engine.transaction() as s:
        names = _Names(s)
        history = _submissions(s, names, min(trend_start, period.start), period.end)
        subs = [x for x in history if _in(x.submitted_at, period.start, period.end)]
        _allocation(s, report)
        _grades(report, subs)
        _deadlines(s, report)
        _disputes(s, report)
        _moderation(s, report)
        _safety(s, names, report)
        _themes(report, subs)
        _trends(report, history, period.months[-1])
    return report


def monthly(engine: Engine, month: str) -> Report:
    return build(engine, month_period(month), "CPP monthly quality assurance report")


def quarterly(engine: Engine, quarter: str) -> Report:
    return build(engine, quarter_period(quarter), "CPP quarterly quality assurance report")


def briefing(engine: Engine, month: str) -> Briefing:
    """Learning from audit: good practice and development points, without naming children."""
    period = month_period(month)
    with engine.transaction() as s:
        names = _Names(s)
        subs = _submissions(s, names, period.start, period.end)
        statuses = {r[0]: r[1] for r in s.execute(select(Instance.id, Instance.child_status).where(
            Instance.id.in_([x.audit_id for x in subs] or [-1])))}

    def items(key: str) -> list[BriefingItem]:
        out = []
        for sub in sorted(subs, key=lambda x: (x.service, x.submitted_at)):
            text = str(sub.data.get(key) or "").strip()
            if key == "good_practice_example" and sub.data.get("good_practice_identified") is not True:
                continue
            if text:
                out.append(BriefingItem(sub.service, statuses.get(sub.audit_id, ""), sub.grade, text))
        return out

    themes: Counter[str] = Counter(t for sub in subs for t in sub.data.get("themes") or [])
    return Briefing(period, len(subs), items("good_practice_example"), items("strengths"),
                    items("areas_for_development"),
                    items("stretch_target_practitioner"), themes.most_common())
