"""The monthly and quarterly QA reports (page, CSV, PDF) and the learning from audit briefing."""

from __future__ import annotations

import re

from flask import Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from engine import NotFound, reports
from engine.roles import CPP, HOS_SPQA, SLT
from webui.current import engine, login_required, me
from webui.reports import bp, charts, exports, pdf

READERS = frozenset({CPP, HOS_SPQA, SLT})
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
QUARTER = re.compile(r"^\d{4}-Q[1-4]$")


def may_read() -> bool:
    return bool(me().roles & READERS)


def _reader() -> None:
    if not may_read():
        abort(404)


def this_month() -> str:
    from engine.moderation import now_month

    return now_month(engine())


def recent_months(n: int = 13) -> list[tuple[str, str]]:
    current = this_month()
    return [(m, reports.month_period(m).label)
            for m in (reports.shift_month(current, -i) for i in range(n))]


@bp.route("/")
@login_required
def index() -> str:
    """Choose a month or a quarter; CPP also reach the register, schedule and moderation."""
    _reader()
    months = recent_months()
    quarters = sorted({f"{m[:4]}-Q{(int(m[5:]) - 1) // 3 + 1}" for m, _ in months}, reverse=True)
    return render_template("reports/index.html", months=months, quarters=quarters,
                           is_cpp=CPP in me().roles, current=this_month())


@bp.route("/go")
@login_required
def go() -> WerkzeugResponse:
    """The choose-a-report form: send the reader to the report they picked."""
    _reader()
    kind, value = request.args.get("kind", "monthly"), request.args.get("period", "")
    if kind == "quarterly" and QUARTER.match(value):
        return redirect(url_for("reports.quarterly", quarter=value))
    if kind == "briefing" and MONTH.match(value):
        return redirect(url_for("reports.briefing", month=value))
    if MONTH.match(value):
        return redirect(url_for("reports.monthly", month=value))
    return redirect(url_for("reports.index"))


def _charts(r: reports.Report) -> dict[str, object]:
    return {
        "grades_chart": charts.stacked_bars(
            "grades-chart", f"Grades by team, {r.period.label}",
            [(g.team or g.service, g.counts)
             for g in r.grades_by_team], reports.GRADES),
        "trend_chart": charts.lines(
            "trend-chart", "Audit grades over the last six months",
            [t.label for t in r.trends],
            [("Good or better", [t.good_or_better for t in r.trends], "#00703c"),
             ("Inadequate", [t.inadequate for t in r.trends], "#d4351c")]),
        "sections_chart": charts.stacked_bars(
            "sections-chart", f"Section judgements, {r.period.label}", r.sections,
            reports.GRADES),
    }


def _render(r: reports.Report, fmt: str, name: str) -> str | Response:
    if fmt == "csv":
        return Response(exports.report_csv(r), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="qa-report-{name}.csv"'})
    if fmt == "pdf":
        return Response(pdf.report_pdf(r), mimetype="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="qa-report-{name}.pdf"'})
    return render_template("reports/report.html", r=r, name=name, grades=reports.GRADES,
                           sections=reports.SECTIONS, **_charts(r))


@bp.route("/monthly/<month>", defaults={"fmt": "html"})
@bp.route("/monthly/<month>.<any(csv, pdf):fmt>")
@login_required
def monthly(month: str, fmt: str) -> str | Response:
    _reader()
    if not MONTH.match(month):
        abort(404)
    return _render(reports.monthly(engine(), month), fmt, month)


@bp.route("/quarterly/<quarter>", defaults={"fmt": "html"})
@bp.route("/quarterly/<quarter>.<any(csv, pdf):fmt>")
@login_required
def quarterly(quarter: str, fmt: str) -> str | Response:
    _reader()
    if not QUARTER.match(quarter):
        abort(404)
    try:
        r = reports.quarterly(engine(), quarter)
    except NotFound:
        abort(404)
    return _render(r, fmt, quarter)


@bp.route("/briefing/<month>", defaults={"fmt": "html"})
@bp.route("/briefing/<month>.<any(txt, pdf):fmt>")
@login_required
def briefing(month: str, fmt: str) -> str | Response:
    """Learning from audit: good practice and development points, ready to share."""
    _reader()
    if not MONTH.match(month):
        abort(404)
    b = reports.briefing(engine(), month)
    if fmt == "txt":
        return Response(exports.briefing_text(b), mimetype="text/plain", headers={
            "Content-Disposition": f'attachment; filename="learning-from-audit-{month}.txt"'})
    if fmt == "pdf":
        return Response(pdf.briefing_pdf(b), mimetype="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="learning-from-audit-{month}.pdf"'})
    return render_template("reports/briefing.html", b=b, month=month)
