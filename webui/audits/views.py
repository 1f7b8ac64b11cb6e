"""An audit's page (every view logged), its diagram as JSON, and raising a safety concern."""

from __future__ import annotations

from dataclasses import asdict

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine import FormInvalid, NotAllowed, NotFound, queries
from webui.audits import bp
from webui.current import engine, login_required, me

PAGE_SIZE = 50


@bp.route("")
@login_required
def index() -> str:
    """The audits I may see, newest first, a page at a time."""
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    # One more than a page tells whether there is a next page without counting them all.
    audits = queries.audits_for(engine(), me().username, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
    return render_template("audits/index.html", audits=audits[:PAGE_SIZE], page=page,
                           has_next=len(audits) > PAGE_SIZE,
                           may_start=queries.may_start(me().roles, "bespoke"))


@bp.route("/<int:audit_id>")
@login_required
def show(audit_id: int) -> str:
    """One audit: who is involved, what is open, its history and its diagram."""
    try:
        detail = queries.view_audit(engine(), me().username, audit_id)
    except NotFound:
        abort(404)
    return render_template("audits/show.html", audit=detail, s=detail.summary)


@bp.route("/<int:audit_id>/diagram.json")
@login_required
def diagram(audit_id: int) -> Response:
    """The audit's BPMN diagrams with the completed, current and overdue steps."""
    try:
        found = queries.diagrams(engine(), me().username, audit_id)
    except NotFound:
        abort(404)
    return jsonify([asdict(d) for d in found])


@bp.route("/<int:audit_id>/safety-concern", methods=["GET", "POST"])
@login_required
def safety_concern(audit_id: int) -> str | Response:
    """The auditor tells the Head of Service at once about a concern for the child's safety."""
    try:
        detail = queries.view_audit(engine(), me().username, audit_id)
    except NotFound:
        abort(404)
    if not detail.is_auditor:
        abort(404)
    errors: dict[str, str] = {}
    concern = request.form.get("concern", "")
    if request.method == "POST":
        try:
            engine().raise_safety_concern(audit_id, me().username, concern)
        except FormInvalid as exc:
            errors = {"concern": next(iter(exc.errors.values()))}
        except NotAllowed as exc:
            errors = {"concern": str(exc)}
        except NotFound:
            abort(404)
        else:
            flash("The Head of Service has been told about your concern. "
                  "The audit carries on.", "success")
            return redirect(url_for("audits.show", audit_id=audit_id))
    return render_template("audits/safety_concern.html", s=detail.summary, concern=concern,
                           errors=errors)
