"""The report as a PDF (ReportLab): the same sections, tables and charts as the page."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from engine.reports import GRADES, Briefing, Report
from webui.reports.charts import GRADE_COLOURS

STYLES = getSampleStyleSheet()
WIDTH = A4[0] - 36 * mm


def _p(text: str, style: str = "BodyText") -> Paragraph:
    from html import escape

    return Paragraph(escape(text), STYLES[style])


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    data = [list(head)] + [[str(c) for c in r] for r in rows]
    t = Table(data, repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"), ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return t


def _bars(rows: Sequence[tuple[str, Sequence[int]]]) -> Drawing:
    height = 40 + 22 * max(1, len(rows))
    d = Drawing(WIDTH, height + 30)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 150, 10, WIDTH - 170, height
    chart.data = [tuple(r[1][i] for r in rows) or (0,) for i in range(len(GRADES))]
    chart.categoryAxis.categoryNames = [r[0][:30] for r in rows] or ["No audits"]
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    for i, colour in enumerate(GRADE_COLOURS):
        chart.bars[i].fillColor = colors.HexColor(colour)
    d.add(chart)
    legend = Legend()
    legend.x, legend.y, legend.alignment = 150, height + 25, "right"
    legend.columnMaximum, legend.fontSize = 1, 7
    legend.colorNamePairs = [(colors.HexColor(c), g) for c, g in zip(GRADE_COLOURS, GRADES,
                                                                        strict=True)]
    d.add(legend)
    return d


def _trend(r: Report) -> Drawing:
    d = Drawing(WIDTH, 170)
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 40, 25, WIDTH - 160, 130
    chart.data = [[t.good_or_better or 0 for t in r.trends], [t.inadequate or 0 for t in r.trends]]
    chart.categoryAxis.categoryNames = [t.label for t in r.trends]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 25
    chart.valueAxis.labels.fontSize = 7
    chart.lines[0].strokeColor = colors.HexColor("#00703c")
    chart.lines[1].strokeColor = colors.HexColor("#d4351c")
    chart.lines[0].strokeWidth = chart.lines[1].strokeWidth = 2
    chart.lines[1].strokeDashArray = (4, 3)
    d.add(chart)
    legend = Legend()
    legend.x, legend.y, legend.fontSize = WIDTH - 110, 140, 7
    legend.colorNamePairs = [(colors.HexColor("#00703c"), "Good or better (%)"),
                             (colors.HexColor("#d4351c"), "Inadequate (%)")]
    d.add(legend)
    return d


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:g}%"


def report_pdf(r: Report) -> bytes:
    story: list[Any] = [_p(r.title, "Title"), _p(r.period.label, "Heading2"),
                        _p(f"Figures as at {r.as_of:%d %B %Y %H:%M} UTC. Children are not named.")]
    story += [_p("Audits", "Heading2"), _table(
        ("Allocated", "Completed", "Overdue"), [(r.allocated, r.completed, r.overdue)])]
    if len(r.months) > 1:
        story += [Spacer(1, 6), _table(("Month", "Allocated", "Completed", "Overdue"),
                                       [(m.label, m.allocated, m.completed, m.overdue)
                                        for m in r.months])]
    story += [_p("Grades by service and team", "Heading2"),
              _bars([(f"{g.service[:18]} / {g.team}", g.counts) for g in r.grades_by_team]),
              _table(("Service", "Team", *GRADES, "Total"),
                     [(g.service, g.team, *g.counts, g.total) for g in r.grades_by_team])]
    story += [_p("Deadlines met", "Heading2"), _table(
        ("Deadline", "Due", "Met", "Met (%)"),
        [(d.label, d.due, d.met, _pct(d.percent)) for d in r.deadlines])]
    late = [(t.task, t.holder, t.audit_id, f"{t.due_at:%d %b %Y %H:%M}",
             f"{t.completed_at:%d %b %Y %H:%M}" if t.completed_at else "Not done")
            for d in r.deadlines for t in d.late]
    if late:
        story += [Spacer(1, 6), _p("Late", "Heading3"),
                  _table(("Task", "Held by", "Audit", "Due", "Done"), late)]
    story += [_p("Disputes", "Heading2"), _p(f"{r.disputes_raised} raised."),
              _table(("Stage reached", "Outcome", "Disputes"),
                     [(s, o, n) for (s, o), n in r.disputes.items()] or [("–", "None settled", 0)])]
    story += [_p("Moderation", "Heading2"), _p(f"Agreement: {_pct(r.agreement)}"),
              _table(("Route", "Moderated", "Agreed"),
                     [(m.route, m.moderated, m.agreed) for m in r.moderation])]
    story += [_p("Safety concerns raised", "Heading2"), _p(f"{r.safety_concerns} raised.")]
    story += [_p("Themes and trends", "Heading2"),
              _table(("Section", *GRADES), [(label, *c) for label, c in r.sections]),
              Spacer(1, 6), _trend(r),
              _table(("Month", "Completed", "Good or better", "Inadequate"),
                     [(t.label, t.completed, _pct(t.good_or_better), _pct(t.inadequate))
                      for t in r.trends])]
    if r.themes:
        story += [Spacer(1, 6), _table(("Theme", "Audits"), r.themes)]
    return _build(story, r.title)


def briefing_pdf(b: Briefing) -> bytes:
    story: list[Any] = [_p(f"Learning from audit: {b.period.label}", "Title"),
                        _p(f"{b.audits} audits completed. Children are not named.")]
    for heading, items in (("Good practice", b.good_practice), ("Strengths", b.strengths),
                           ("Development points", b.development)):
        story.append(_p(heading, "Heading2"))
        story += [_p(f"• {i.text} ({i.service}, {i.child_status})") for i in items] \
            or [_p("None this month.")]
    return _build(story, "Learning from audit")


def _build(story: list[Any], title: str) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm, title=title,
                            author="Centre for Professional Practice")
    doc.build(story)
    return out.getvalue()

