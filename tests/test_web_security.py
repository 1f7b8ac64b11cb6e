"""CSRF on every form, security headers, escaping, and error pages that give nothing away."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from engine.demo import DEMO_PASSWORD
from webui import create_app


def _token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def test_posts_without_a_csrf_token_are_refused(app_config: dict[str, Any], start_audit) -> None:
    client = create_app({**app_config, "WTF_CSRF_ENABLED": True}).test_client()
    refused = client.post("/sign-in", data={"username": "cpp.chris", "password": DEMO_PASSWORD})
    assert refused.status_code == 400
    assert "The form could not be sent" in refused.text
    token = _token(client.get("/sign-in").text)
    response = client.post("/sign-in", data={
        "username": "cpp.chris", "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    audit_id = start_audit()
    for path in (f"/audits/{audit_id}/safety-concern", "/audits/new", "/tasks/1/claim",
                 "/tasks/1/release", "/tasks/1", "/sign-out"):
        assert client.post(path, data={}).status_code == 400, path
    token = _token(client.get("/audits/new").text)
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 302


def test_every_page_sends_security_headers(client, auth) -> None:
    auth.login()
    response = client.get("/tasks")
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    nonce = re.search(r"'nonce-([^']+)'", script_src).group(1)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", response.text)
    assert inline
    assert all(f'nonce="{nonce}"' in attrs for attrs in inline)
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_each_response_gets_its_own_nonce(client) -> None:
    first = client.get("/sign-in").headers["Content-Security-Policy"]
    second = client.get("/sign-in").headers["Content-Security-Policy"]
    assert first != second


def test_what_people_type_is_escaped(client, auth, start_audit) -> None:
    audit_id = start_audit(child_ref="<script>alert(1)</script>")
    auth.login("aud.aisha")
    for path in ("/tasks", f"/audits/{audit_id}"):
        page = client.get(path).text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_unknown_page_is_a_gov_uk_not_found_page(client) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert "Page not found" in page.text


def test_a_server_error_shows_no_stack_trace(app_config: dict[str, Any]) -> None:
    app: Flask = create_app({**app_config, "TESTING": False, "PROPAGATE_EXCEPTIONS": False})

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    page = app.test_client().get("/boom")
    assert page.status_code == 500
    assert "Sorry, there is a problem with the service" in page.text
    assert "secret internals" not in page.text
    assert "Traceback" not in page.text


def test_the_app_refuses_to_start_without_a_secret_key(app_config: dict[str, Any]) -> None:
    import pytest

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({**app_config, "TESTING": False, "SECRET_KEY": None})
