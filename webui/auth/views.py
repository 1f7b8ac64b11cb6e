"""Sign in with a username and password; sign out. Sessions expire after 8 hours."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from engine import accounts, demo
from engine.accounts import SignInThrottled
from webui.auth import bp
from webui.current import engine, safe_next


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> str | Response:
    """Show the sign-in form; on a correct password start a fresh session."""
    errors: dict[str, str] = {}
    username = request.form.get("username", "").strip()
    if request.method == "POST":
        password = request.form.get("password", "")
        if not username:
            errors["username"] = "Enter your username"
        if not password:
            errors["password"] = "Enter your password"
        if not errors:
            try:
                who = accounts.sign_in(engine(), username, password,
                                       request.remote_addr or "")
            except SignInThrottled as exc:
                errors["username"] = str(exc)
            else:
                if who is None:
                    errors["username"] = "Enter a correct username and password"
                else:
                    target = safe_next(request.args.get("next"))
                    session.clear()  # a new session at sign-in: nothing carried over
                    session.permanent = True
                    session["user"] = who.username
                    return redirect(target)
    accounts_list = demo.ACCOUNTS if current_app.config["DEMO"] else ()
    return render_template(
        "auth/sign_in.html", errors=errors, username=username, accounts=accounts_list,
        demo_password=demo.DEMO_PASSWORD)


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> Response:
    """End the session."""
    session.clear()
    flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))
