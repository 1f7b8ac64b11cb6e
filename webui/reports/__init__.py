"""Running the framework month by month: the register, the audit schedule, moderation, reports."""

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports")

from webui.reports import planning, views  # noqa: E402,F401
