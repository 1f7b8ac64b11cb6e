"""Move running audits to the newest version of their process, where that is safe."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine import NotFound, migration_service, versions
from webui.current import engine, me
from webui.processes import bp, policy_owner_required


@bp.route("/<process_id>/migrate", methods=["GET", "POST"])
@policy_owner_required
def migrate(process_id: str) -> str | Response:
    """Preview which running audits can move to the newest version and why not; move them."""
    try:
        newest = versions.latest(engine(), process_id)
    except NotFound:
        abort(404)
    if request.method == "POST":
        chosen = request.form.getlist("audit", type=int)
        if not chosen:
            flash("Select the audits to move.", "important")
            return redirect(url_for("processes.migrate", process_id=process_id))
        target = request.form.get("to", newest.version, type=int)
        moved, refused = migration_service.migrate_many(engine(), chosen, me().username, target)
        if moved:
            flash(f"Moved {len(moved)} audit{'s' if len(moved) != 1 else ''} to version "
                  f"{target}: " + ", ".join(f"audit {v.instance_id}" for v in moved)
                  + ".", "success")
        for instance_id, why in refused.items():
            flash(f"Audit {instance_id} was not moved: {why}", "important")
        return redirect(url_for("processes.migrate", process_id=process_id))
    verdicts = migration_service.preview(engine(), process_id, newest.version)
    return render_template("processes/migrate.html", v=newest, verdicts=verdicts,
                           movable=[x for x in verdicts if x.movable],
                           stuck=[x for x in verdicts if not x.movable])
