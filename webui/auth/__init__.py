"""Signing in and out."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from webui.auth import views  # noqa: E402,F401
