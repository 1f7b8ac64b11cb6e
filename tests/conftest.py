"""Web fixtures: the demo organisation on a SQLite copy, the app, and signing in."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import Engine, FrozenClock
from engine.definitions import Bundle

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = ROOT / "processes"
FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_PROCESS = "fixture_audit"
# Monday 15 December 2025, 09:00 in London, which in December is also UTC. The engine fixtures
# (database_url, clock, engine, people, deploy) live in the repository's root conftest.py.
WEB_START = datetime(2025, 12, 15, 9, 0, tzinfo=UTC)


# -- the web UI: the demo organisation on a SQLite copy, the app, signing in -------------


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the schema, the fixture process and the demo organisation, built once."""
    from engine import demo

    path = tmp_path_factory.mktemp("template") / "seeded.sqlite"
    eng = Engine(f"sqlite:///{path}", clock=FrozenClock(WEB_START))
    eng.create_schema()
    eng.deploy(Bundle.from_paths([FIXTURES / "processes"]), "test", "fixture for web tests")
    demo.seed(eng, FIXTURE_PROCESS, audits=False)
    eng.db.dispose()  # closes the connections, checkpointing SQLite's WAL into the file
    return path


def _copy_database(source: Path, target: Path) -> None:
    """Copy a SQLite database as SQLite reads it, write-ahead log included. A copy of the file
    alone misses whatever the log still holds: in one CI run every web test of one pytest-xdist
    worker found the demo organisation missing (its people were in the template's log, never
    copied back into the file), while the schema, written earlier, was there."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@pytest.fixture
def web_clock() -> FrozenClock:
    return FrozenClock(WEB_START)


@pytest.fixture
def web_engine(seeded_db: Path, tmp_path: Path, web_clock: FrozenClock) -> Iterator[Engine]:
    """An engine on this test's own copy of the seeded database."""
    path = tmp_path / "web.sqlite"
    _copy_database(seeded_db, path)
    eng = Engine(f"sqlite:///{path}", clock=web_clock)
    yield eng
    eng.db.dispose()


@pytest.fixture
def app_config(web_engine: Engine) -> dict[str, Any]:
    return {"TESTING": True, "SECRET_KEY": "test-secret", "ENGINE": web_engine,
            "WTF_CSRF_ENABLED": False, "AUDIT_PROCESS": FIXTURE_PROCESS, "DEMO": False}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    from webui import create_app

    return create_app(app_config)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions:
    """Sign in and out through the real sign-in form."""

    def __init__(self, client: FlaskClient):
        self._client = client

    def login(self, username: str = "cpp.chris", password: str | None = None) -> Any:
        from engine.demo import DEMO_PASSWORD

        return self._client.post("/sign-in", data={
            "username": username, "password": password or DEMO_PASSWORD})

    def logout(self) -> Any:
        return self._client.post("/sign-out")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def start_audit(web_engine: Engine) -> Callable[..., int]:
    """Start a fixture audit as CPP; returns its id."""

    def _start(child_ref: str = "CH-100234", status: str = "CP", practitioner: str = "sw.paul",
               auditor: str = "aud.aisha") -> int:
        return web_engine.start(FIXTURE_PROCESS, "cpp.chris", {
            "child_ref": child_ref, "child_status": status, "audit_type": "monthly",
            "supplementary_reading": ""}, practitioner=practitioner, auditor=auditor)

    return _start


def open_task(engine: Engine, username: str) -> int:
    """Return the id of the one open task assigned to or claimed by a person."""
    from engine import queries

    tasks = queries.my_tasks(engine, username)
    assert len(tasks) == 1, tasks
    return tasks[0].id


@pytest.fixture
def to_audit_tool(web_engine: Engine, start_audit: Callable[..., int]) -> Callable[..., Any]:
    """Start a fixture audit and do its first two tasks; returns (audit id, audit tool task id)."""

    def _go(status: str = "CP") -> tuple[int, int]:
        audit_id = start_audit(status=status)
        web_engine.complete_task(open_task(web_engine, "aud.aisha"), "aud.aisha",
                                 {"meeting_date": "2025-12-18"})
        answers: dict[str, Any] = {"file_ready": True}
        if status == "CP":
            answers["cp_plan_current"] = True
        if status == "CiC":
            answers["care_plan_current"] = True
        web_engine.complete_task(open_task(web_engine, "sw.paul"), "sw.paul", answers)
        return audit_id, open_task(web_engine, "aud.aisha")

    return _go
