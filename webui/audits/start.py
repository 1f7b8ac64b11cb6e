"""Start an audit: CPP allocate any kind; senior leaders may commission a bespoke one."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine import EngineError, NotAllowed, NotFound, queries
from webui.audits import bp
from webui.current import engine, login_required, me

STATUSES = (("CIN", "Child in need (CIN)"), ("CP", "Child protection (CP)"),
            ("CiC", "Child in care (CiC)"))
TYPES = (("monthly", "Monthly audit"), ("targeted", "Targeted audit"),
         ("bespoke", "Bespoke audit"))


def _check(form: dict[str, str], types: list[str]) -> dict[str, str]:
    errors = {}
    if not form["child_ref"]:
        errors["child_ref"] = "Enter the child's reference"
    elif len(form["child_ref"]) > 100:
        errors["child_ref"] = "The child's reference must be 100 characters or fewer"
    if form["child_status"] not in dict(STATUSES):
        errors["child_status"] = "Select the child's status"
    if form["audit_type"] not in types:
        errors["audit_type"] = "Select the kind of audit"
    if not form["auditor"]:
        errors["auditor"] = "Select the auditor"
    if not form["practitioner"]:
        errors["practitioner"] = "Select the practitioner whose work is audited"
    return errors


@bp.route("/new", methods=["GET", "POST"])
@login_required
def start() -> str | Response:
    """Ask for the child, the auditor and the practitioner; the engine adds their managers."""
    types = [t for t, _ in TYPES if queries.may_start(me().roles, t)]
    if not types:
        abort(404)
    process_id = current_app.config["AUDIT_PROCESS"]
    auditors, practitioners = queries.start_choices(engine())
    keys = ("child_ref", "child_status", "audit_type", "auditor", "practitioner",
            "supplementary_reading")
    form = {k: request.form.get(k, "").strip() for k in keys}
    if len(types) == 1:
        form["audit_type"] = types[0]
    errors: dict[str, str] = {}
    if request.method == "POST":
        errors = _check(form, types)
        if not errors:
            data = {k: form[k] for k in ("child_ref", "child_status", "audit_type",
                                         "supplementary_reading")}
            try:
                audit_id = engine().start(process_id, me().username, data,
                                          practitioner=form["practitioner"],
                                          auditor=form["auditor"])
            except NotAllowed as exc:
                errors["auditor"] = str(exc)
            except (NotFound, EngineError) as exc:
                errors["practitioner"] = str(exc)
            else:
                flash(f"The audit for child {form['child_ref']} has started. "
                      "The auditor has been given their first task.", "success")
                return redirect(url_for("audits.show", audit_id=audit_id))
    return render_template(
        "audits/start.html", form=form, errors=errors, statuses=STATUSES,
        types=[t for t in TYPES if t[0] in types], auditors=auditors,
        practitioners=practitioners, deployed=queries.deployed(engine(), process_id))
