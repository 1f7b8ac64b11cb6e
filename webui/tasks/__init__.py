"""Task lists (mine, my groups') and the page to do a task."""

from flask import Blueprint

bp = Blueprint("tasks", __name__)

from webui.tasks import views  # noqa: E402,F401
