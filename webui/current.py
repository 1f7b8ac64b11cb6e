"""The app's engine and the signed-in person, for views."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for

from engine import Engine
from engine.queries import Me

F = TypeVar("F", bound=Callable[..., Any])


def engine() -> Engine:
    """Return the app's one Engine."""
    return cast(Engine, current_app.extensions["qaflow"])


def now() -> datetime:
    """The engine's time, read once per request: every deadline on a page is against the same
    moment (a long task list asked the clock once a row)."""
    if "now" not in g:
        g.now = engine().now()
    return cast(datetime, g.now)


def me() -> Me:
    """Return the signed-in person (views behind login_required only)."""
    return cast(Me, g.me)


def login_required(view: F) -> F:
    """Send anyone not signed in to the sign-in page, then back here."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("me") is None:
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def safe_next(target: str | None) -> str:
    """Return a same-site path to go to after signing in (never another site)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//") and "\\" not in target:
            return target
    return url_for("tasks.mine")


def load_person() -> None:
    """Before each request: find who is signed in, dropping sessions of people now inactive."""
    from engine import queries

    g.me = None
    username = session.get("user")
    if username:
        g.me = queries.whoami(engine(), username)
        if g.me is None:
            session.clear()
