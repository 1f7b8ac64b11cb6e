"""Security headers (a CSP with a per-request nonce, no inline scripts) and error pages."""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def _nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def _headers(response: Response) -> Response:
    # The only inline script is GOV.UK's one-line 'js-enabled' switch, allowed by nonce.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{_nonce()}'; style-src 'self'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if not request.path.startswith("/static/"):
        # Pages carry children's information: never keep them in a shared cache or history.
        response.headers["Cache-Control"] = "no-store"
    return response


def _error(code: int, template: str, **context: object) -> tuple[str, int]:
    return render_template(f"errors/{template}.html", **context), code


def init_app(app: Flask) -> None:
    """Add the headers, the template globals and the error pages to the app."""
    app.after_request(_headers)

    @app.context_processor
    def _globals() -> dict[str, object]:
        return {"csp_nonce": _nonce(), "me": g.get("me"), "demo": app.config["DEMO"]}

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> tuple[str, int]:
        return _error(400, "csrf")

    @app.errorhandler(404)
    def _not_found(exc: HTTPException) -> tuple[str, int]:
        return _error(404, "404")

    @app.errorhandler(405)
    def _not_allowed(exc: HTTPException) -> tuple[str, int]:
        return _error(405, "404")

    @app.errorhandler(500)
    def _server_error(exc: Exception) -> tuple[str, int]:
        return _error(500, "500")
