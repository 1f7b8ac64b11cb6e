"""Processes: policy owners see every version, edit or upload a revision, deploy it, move audits."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, abort

from engine.roles import POLICY_OWNER
from webui.current import login_required, me

bp = Blueprint("processes", __name__, url_prefix="/processes")
F = TypeVar("F", bound=Callable[..., Any])


def policy_owner_required(view: F) -> F:
    """Let only a signed-in Policy Owner in; to anyone else the page does not exist."""

    @login_required
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if POLICY_OWNER not in me().roles:
            abort(404)
        return view(*args, **kwargs)

    return cast(F, wrapped)


from webui.processes import edit, migrate, views  # noqa: E402,F401
