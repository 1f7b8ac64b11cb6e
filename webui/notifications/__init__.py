"""Notifications sent to me, and (in the demo, for CPP) the whole outbox."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template

from engine import queries
from webui.current import engine, login_required, me

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.route("")
@login_required
def mine() -> str:
    """What the service has sent me, newest first."""
    return render_template(
        "notifications/index.html", outbox=False,
        notes=queries.notifications(engine(), me().username),
        may_see_outbox=current_app.config["DEMO"] and queries.may_see_outbox(me().roles))


@bp.route("/outbox")
@login_required
def outbox() -> str:
    """Every notification the service has queued: a demo aid, since no email leaves the demo."""
    if not (current_app.config["DEMO"] and queries.may_see_outbox(me().roles)):
        abort(404)
    return render_template("notifications/index.html", outbox=True, may_see_outbox=True,
                           notes=queries.notifications(engine(), None))
