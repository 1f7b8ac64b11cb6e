"""The web UI: a Flask app factory with one blueprint per area, GOV.UK Frontend templates."""

from __future__ import annotations

import os
import secrets
from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.templating import Environment
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader

from engine import Engine
from webui import current, schemaform, security, timefmt
from webui.extensions import csrf


class _Globals(ChainMap[str, Any]):
    """A template's globals (its own over the environment's) whose keys are a set.

    At every `{% import %}` Jinja subtracts the imported template's global names from the
    context's (`Template._get_default_module`); through ChainMap's keys view that was a
    Python-level lookup per name, per map: a fifth of a short page's time, as GOV.UK Frontend's
    macros import others. A set of the same names, made at each call, keeps the same meaning.
    """

    def keys(self) -> set[str]:  # type: ignore[override]
        return set().union(*self.maps)


class _Environment(Environment):
    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return _Globals(d if d is not None else {}, self.globals)


class _App(Flask):
    jinja_environment = _Environment


def _settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "DATABASE_URL": os.environ.get("DATABASE_URL"),
        "DEMO": os.environ.get("QAFLOW_DEMO", "") in ("1", "true", "yes"),
        "AUDIT_PROCESS": os.environ.get("QAFLOW_AUDIT_PROCESS", "deep_dive_audit"),
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("QAFLOW_SECURE_COOKIES", "") == "1",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the signed-in session
        "ENGINE": None,
        "CLOCK": None,
    }
    settings.update(config or {})
    return settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the web app; `config` overrides settings read from the environment."""
    app = _App(__name__)
    app.config.update(_settings(config))
    if not app.config["SECRET_KEY"]:
        if not (app.config["DEMO"] or app.config.get("TESTING") or app.debug):
            raise RuntimeError("Set SECRET_KEY (a long random string) before serving the app")
        app.config["SECRET_KEY"] = secrets.token_hex(32)  # sessions end when the process does
    app.extensions["qaflow"] = app.config["ENGINE"] or Engine(
        app.config["DATABASE_URL"], clock=app.config["CLOCK"])
    csrf.init_app(app)
    app.jinja_loader = ChoiceLoader([
        PackageLoader("webui"),
        PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
    ])
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters.update(
        date_words=timefmt.date_words, datetime_words=timefmt.datetime_words,
        upfirst=timefmt.upfirst)
    app.jinja_env.globals.update(
        error_items=schemaform.error_items,
        # 'Due by 12:00 on Monday 22 December 2025' or '3 days overdue', against the request's
        # one reading of the clock.
        deadline=lambda due, overdue=False: timefmt.upfirst(timefmt.deadline_words(
            due, current.now(), overdue)))
    app.before_request(current.load_person)
    security.init_app(app)

    from webui import audits, auth, notifications, processes, reports, tasks

    for bp in (auth.bp, tasks.bp, audits.bp, notifications.bp, reports.bp, processes.bp):
        app.register_blueprint(bp)
    return app
