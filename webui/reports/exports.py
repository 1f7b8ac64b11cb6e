"""The report as CSV (one figure a row) and the learning briefing as plain text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from engine.reports import GRADES, SECTIONS, Briefing, Report


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


def _rows(r: Report) -> Iterator[tuple[str, str, str, str]]:
    yield ("Report", "", "Period", r.period.label)
    yield ("Report", "", "As of", r.as_of.isoformat(timespec="minutes"))
    yield ("Audits", "", "Allocated", str(r.allocated))
    for kind, n in sorted(r.allocated_by_type.items()):
        yield ("Audits", kind, "Allocated", str(n))
    yield ("Audits", "", "Completed (audit tool submitted)", str(r.completed))
    yield ("Audits", "", "Overdue (not submitted by the end of the month allocated)", str(r.overdue))
    for m in r.months:
        yield ("Month", m.label, "Allocated", str(m.allocated))
        yield ("Month", m.label, "Completed", str(m.completed))
        yield ("Month", m.label, "Overdue", str(m.overdue))
    for g, n in zip(GRADES, r.grade_totals, strict=True):
        yield ("Grades", "All services", g, str(n))
    for row in r.grades_by_service:
        for g, n in zip(GRADES, row.counts, strict=True):
            yield ("Grades by service", row.service, g, str(n))
    for row in r.grades_by_team:
        for g, n in zip(GRADES, row.counts, strict=True):
            yield ("Grades by team", f"{row.service} / {row.team}", g, str(n))
    for d in r.deadlines:
        yield ("Deadlines", d.label, "Due", str(d.due))
        yield ("Deadlines", d.label, "Met", str(d.met))
        yield ("Deadlines", d.label, "Met (%)", _pct(d.percent))
        for t in d.late:
            done = t.completed_at.isoformat(timespec="minutes") if t.completed_at else "not done"
            yield ("Late", f"{t.task} (audit {t.audit_id}, {t.holder})",
                   f"due {t.due_at.isoformat(timespec='minutes')}", done)
    yield ("Disputes", "", "Raised", str(r.disputes_raised))
    for (stage, outcome), n in r.disputes.items():
        yield ("Disputes", f"Settled at stage {stage}", outcome, str(n))
    for mod in r.moderation:
        yield ("Moderation", mod.route, "Moderated", str(mod.moderated))
        yield ("Moderation", mod.route, "Agreed", str(mod.agreed))
    yield ("Moderation", "All", "Agreement (%)", _pct(r.agreement))
    for before, after, n in r.moderation_changes:
        yield ("Moderation", "Grade changed", f"{before} to {after}", str(n))
    yield ("Safety concerns", "", "Raised", str(r.safety_concerns))
    for area, n in r.safety_by_service.items():
        yield ("Safety concerns", area, "Raised", str(n))
    for label, counts in r.sections:
        for g, n in zip(GRADES, counts, strict=True):
            yield ("Section judgements", label, g, str(n))
    for theme, n in r.themes:
        yield ("Themes", theme, "Audits", str(n))
    for trend in r.trends:
        yield ("Trend", trend.label, "Completed", str(trend.completed))
        yield ("Trend", trend.label, "Good or better (%)", _pct(trend.good_or_better))
        yield ("Trend", trend.label, "Inadequate (%)", _pct(trend.inadequate))
        for (_key, label), v in zip(SECTIONS, trend.sections, strict=True):
            yield ("Trend", trend.label, f"{label}: Requires Improvement or Inadequate (%)", _pct(v))


def report_csv(r: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("section", "group", "measure", "value"))
    for row in _rows(r):
        # A leading = + - @ would make a spreadsheet run the cell as a formula.
        writer.writerow(["'" + c if c[:1] in "=+-@" else c for c in row])
    return out.getvalue()


def briefing_text(b: Briefing) -> str:
    lines = [f"Learning from audit: {b.period.label}", "",
             f"{b.audits} audits were completed this month. Children are not named; please "
             "check the wording before sharing.", ""]
    for heading, items in (("Good practice", b.good_practice), ("Strengths", b.strengths),
                           ("Development points", b.development),
                           ("Stretch targets set for practitioners", b.stretch_targets)):
        lines += [heading, "-" * len(heading)]
        lines += [f"- {i.text} ({i.service}, {i.child_status}, graded {i.grade})" for i in items] \
            or ["- None this month"]
        lines.append("")
    if b.themes:
        lines += ["Themes", "------"] + [f"- {t}: {n} audits" for t, n in b.themes] + [""]
    return "\n".join(lines)
