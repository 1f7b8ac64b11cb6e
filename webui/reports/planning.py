"""CPP's monthly work: import the register, draw and confirm the schedule, the moderation sample."""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine import EngineError, NotAllowed, NotFound, moderation, register, schedule
from engine.register import parse_date
from engine.roles import CPP
from engine.schedule import KINDS, Criteria
from webui.current import engine, login_required, me
from webui.reports import bp
from webui.reports.views import MONTH, this_month

STATUSES = (("CIN", "Child in need"), ("CP", "Child protection"), ("CiC", "Child in care"))


def _cpp() -> None:
    if CPP not in me().roles:
        abort(404)


def _month(month: str) -> str:
    if not MONTH.match(month):
        abort(404)
    return month


def _number(text: str, field: str, errors: dict[str, str], low: int = 0,
            high: int = 1_000_000) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        errors[field] = f"Enter a whole number from {low} to {high}"
        return None
    return int(text)


@bp.route("/register", methods=["GET", "POST"])
@login_required
def children_register() -> str:
    """Upload the children register (CSV); show what was imported and which rows were not."""
    _cpp()
    result, error = None, None
    if request.method == "POST":
        upload = request.files.get("register")
        if upload is None or not upload.filename:
            error = "Choose a CSV file to upload"
        else:
            try:
                result = register.import_children(engine(), me().username, upload.read(5_000_001))
            except ValueError as exc:
                error = str(exc)
    total, latest = register.register_size(engine())
    return render_template("reports/register.html", result=result, error=error, total=total,
                           latest=latest, columns=register.COLUMNS, optional=register.OPTIONAL)


@bp.route("/schedule/<month>")
@login_required
def schedule_month(month: str) -> str:
    """The month's audit schedule and themed samples, to draw, review, adjust and confirm."""
    _cpp()
    _month(month)
    return render_template(
        "reports/schedule.html", month=month, batches=schedule.batches(engine(), _month(month)),
        auditors=schedule.auditor_choices(engine()), settings=register.settings(engine()),
        setting_text=register.SETTINGS, statuses=STATUSES, errors={}, form={},
        period=_label(month))


def _label(month: str) -> str:
    from engine.reports import month_period

    return month_period(month).label


@bp.route("/schedule/<month>/draw", methods=["POST"])
@login_required
def draw_schedule(month: str) -> str | Response:
    """Draw the monthly allocations, or a themed (targeted) sample, with a seed shown on screen."""
    _cpp()
    _month(month)
    form = {k: request.form.get(k, "").strip() for k in (
        "kind", "size", "seed", "theme", "placement_move_since", "supplementary_reading")}
    form["statuses"] = request.form.getlist("statuses")  # type: ignore[assignment]
    errors: dict[str, str] = {}
    kind = form["kind"] if form["kind"] in KINDS else "monthly"
    size = _number(form["size"], "size", errors, 1, 500)
    seed = _number(form["seed"], "seed", errors, 0, 999_999_999)
    since: date | None = None
    if kind == "targeted":
        if not form["theme"]:
            errors["theme"] = "Enter the theme of the targeted sample"
        if form["placement_move_since"]:
            try:
                since = parse_date(form["placement_move_since"])
            except ValueError:
                errors["placement_move_since"] = "Enter a real date, for example 2025-10-01"
    if not errors:
        criteria = Criteria(statuses=tuple(s for s in form["statuses"] if s in dict(STATUSES)),
                            placement_move_since=since) if kind == "targeted" else None
        try:
            schedule.draw(engine(), me().username, month, kind=kind, size=size, seed=seed,
                          theme=form["theme"], criteria=criteria,
                          supplementary_reading=form["supplementary_reading"],
                          process_id=current_app.config["AUDIT_PROCESS"])
        except NotAllowed as exc:
            flash(str(exc), "important")
        else:
            flash("The files have been drawn. Review the allocations, then confirm to start "
                  "the audits.", "success")
            return redirect(url_for("reports.schedule_month", month=month))
    return render_template(
        "reports/schedule.html", month=month, batches=schedule.batches(engine(), month),
        auditors=schedule.auditor_choices(engine()), settings=register.settings(engine()),
        setting_text=register.SETTINGS, statuses=STATUSES, errors=errors, form=form,
        period=_label(month))


@bp.route("/schedule/<month>/allocations/<int:allocation_id>", methods=["POST"])
@login_required
def change_allocation(month: str, allocation_id: int) -> Response:
    """Give a file to another auditor, or take it out of the schedule."""
    _cpp()
    _month(month)
    try:
        if request.form.get("action") == "remove":
            schedule.remove(engine(), me().username, allocation_id)
            flash("The file has been taken out of the schedule.", "success")
        else:
            schedule.change_auditor(engine(), me().username, allocation_id,
                                    request.form.get("auditor", ""))
            flash("The auditor has been changed.", "success")
    except NotFound:
        abort(404)
    except NotAllowed as exc:
        flash(str(exc), "important")
    return redirect(url_for("reports.schedule_month", month=month) + f"#allocation-{allocation_id}")


@bp.route("/schedule/<month>/<int:batch_id>/confirm", methods=["POST"])
@login_required
def confirm_schedule(month: str, batch_id: int) -> Response:
    """Confirm the allocations: each starts an audit, and the auditor gets their first task."""
    _cpp()
    _month(month)
    try:
        started = schedule.confirm(engine(), me().username, batch_id,
                                   current_app.config["AUDIT_PROCESS"])
    except NotFound:
        abort(404)
    flash(f"{started} audits have started. Each auditor has been given their first task.",
          "success")
    return redirect(url_for("reports.schedule_month", month=month))


@bp.route("/settings", methods=["POST"])
@login_required
def change_settings() -> Response:
    _cpp()
    month = request.form.get("month", "")
    for key in register.SETTINGS:
        text = request.form.get(key, "").strip()
        if not text:
            continue
        try:
            register.change_setting(engine(), me().username, key, int(text))
        except ValueError as exc:
            flash(f"{register.SETTINGS[key][1]}: {exc}" if "must be" not in str(exc) else str(exc),
                  "important")
            break
    else:
        flash("The settings have been saved.", "success")
    target = url_for("reports.schedule_month", month=month) if MONTH.match(month) \
        else url_for("reports.index")
    return redirect(target)


@bp.route("/moderation/<month>")
@login_required
def moderation_month(month: str) -> str:
    """The month's moderation: all Inadequate audits plus the drawn sample of the rest."""
    _cpp()
    return render_template("reports/moderation.html", month=_month(month), period=_label(month),
                           view=moderation.view(engine(), month),
                           percent=register.settings(engine())["moderation_percent"])


@bp.route("/moderation/<month>/draw", methods=["POST"])
@login_required
def draw_moderation(month: str) -> Response:
    _cpp()
    _month(month)
    errors: dict[str, str] = {}
    seed = _number(request.form.get("seed", ""), "seed", errors, 0, 999_999_999)
    if errors:
        flash(f"Seed: {errors['seed']}", "important")
        return redirect(url_for("reports.moderation_month", month=month))
    try:
        moderation.draw(engine(), me().username, month, seed,
                        process_id=current_app.config["AUDIT_PROCESS"])
        flash("The moderation sample has been drawn. Review it, then confirm to give CPP a "
              "moderation task for each sampled audit.", "success")
    except NotAllowed as exc:
        flash(str(exc), "important")
    return redirect(url_for("reports.moderation_month", month=month))


@bp.route("/moderation/<month>/<int:sample_id>/confirm", methods=["POST"])
@login_required
def confirm_moderation(month: str, sample_id: int) -> Response:
    _cpp()
    _month(month)
    try:
        started = moderation.confirm(engine(), me().username, sample_id)
    except NotFound:
        abort(404)
    except EngineError as exc:
        flash(str(exc), "important")
        return redirect(url_for("reports.moderation_month", month=month))
    flash(f"{started} moderation tasks have been given to CPP.", "success")
    return redirect(url_for("reports.moderation_month", month=month))


@bp.route("/schedule")
@login_required
def schedule_now() -> Response:
    _cpp()
    return redirect(url_for("reports.schedule_month", month=this_month()))
