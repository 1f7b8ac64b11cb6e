"""Signing in and out: passwords, sessions, throttling, inactive people and the demo list."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import Engine
from engine.demo import DEMO_PASSWORD
from engine.models import Person


def test_the_sign_in_page_asks_for_username_and_password(client: FlaskClient) -> None:
    page = client.get("/sign-in")
    assert page.status_code == 200
    assert 'id="username"' in page.text
    assert 'id="password"' in page.text
    assert DEMO_PASSWORD not in page.text


def test_a_correct_password_signs_in_and_shows_my_tasks(client: FlaskClient, auth) -> None:
    response = auth.login("aud.aisha")
    assert response.status_code == 302
    assert response.headers["Location"] == "/tasks"
    page = client.get("/tasks")
    assert "Aisha Bello" in page.text
    assert "My tasks" in page.text


def test_a_wrong_password_is_refused_with_an_error_summary(client: FlaskClient, auth) -> None:
    page = auth.login("aud.aisha", "wrong-password")
    assert page.status_code == 200
    assert "There is a problem" in page.text
    assert 'href="#username"' in page.text
    assert "Enter a correct username and password" in page.text
    assert client.get("/tasks").status_code == 302


def test_an_empty_form_names_each_missing_field(client: FlaskClient) -> None:
    page = client.post("/sign-in", data={"username": "", "password": ""})
    assert "Enter your username" in page.text
    assert "Enter your password" in page.text
    assert 'href="#password"' in page.text


def test_pages_need_signing_in_and_return_afterwards(client: FlaskClient, auth) -> None:
    response = client.get("/audits")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=/audits")
    response = client.post("/sign-in?next=/audits", data={
        "username": "cpp.chris", "password": DEMO_PASSWORD})
    assert response.headers["Location"] == "/audits"


def test_sign_in_never_redirects_to_another_site(client: FlaskClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post(f"/sign-in?next={target}", data={
            "username": "cpp.chris", "password": DEMO_PASSWORD})
        assert response.headers["Location"] == "/tasks"


def test_signing_out_ends_the_session(client: FlaskClient, auth) -> None:
    auth.login()
    assert client.get("/tasks").status_code == 200
    response = auth.logout()
    assert response.headers["Location"] == "/sign-in"
    assert client.get("/tasks").status_code == 302


def test_signing_in_starts_a_fresh_session(client: FlaskClient, auth) -> None:
    with client.session_transaction() as sess:
        sess["planted"] = "by someone else"
    auth.login()
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["user"] == "cpp.chris"
        assert sess.permanent


def test_sessions_expire_after_eight_hours(app: Flask, client: FlaskClient, auth) -> None:
    assert app.permanent_session_lifetime == timedelta(hours=8)
    response = auth.login()
    cookie = response.headers["Set-Cookie"]
    assert "Expires=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def _deactivate(web_engine: Engine, username: str) -> None:
    with web_engine.transaction() as s:
        s.execute(select(Person).where(Person.username == username)).scalar_one().active = False


def test_people_made_inactive_cannot_sign_in(client: FlaskClient, auth, web_engine: Engine) -> None:
    _deactivate(web_engine, "sw.paul")
    page = auth.login("sw.paul")
    assert "Enter a correct username and password" in page.text


def test_people_made_inactive_lose_their_session(client: FlaskClient, auth,
                                                 web_engine: Engine) -> None:
    auth.login("sw.paul")
    assert client.get("/tasks").status_code == 200
    _deactivate(web_engine, "sw.paul")
    assert client.get("/tasks").status_code == 302


def test_repeated_wrong_passwords_lock_the_account_for_a_while(client: FlaskClient, auth,
                                                               web_clock) -> None:
    for _ in range(5):
        auth.login("tm.cp", "guess")
    page = auth.login("tm.cp")  # the right password, but too soon
    assert "too many attempts" in page.text
    web_clock.advance(timedelta(minutes=16))
    assert auth.login("tm.cp").status_code == 302


def test_the_demo_lists_its_accounts_and_their_password(app_config) -> None:
    from webui import create_app

    app = create_app({**app_config, "DEMO": True})
    page = app.test_client().get("/sign-in")
    assert DEMO_PASSWORD in page.text
    assert "cpp.chris" in page.text
    assert "aud.aisha" in page.text
