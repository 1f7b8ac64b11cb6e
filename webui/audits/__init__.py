"""Audits: the list I may see, one audit's page and diagram, starting one, raising a concern."""

from flask import Blueprint

bp = Blueprint("audits", __name__, url_prefix="/audits")

from webui.audits import start, views  # noqa: E402,F401
