"""Fixtures shared by tests/ and features/: an engine on SQLite and on PostgreSQL, a clock, an org."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from engine import Engine, FrozenClock, org
from engine.definitions import Bundle
from engine.roles import CPP, HOS_SPQA, POLICY_OWNER, SLT

ROOT = Path(__file__).parent
PROCESSES = ROOT / "processes"
POSTGRES_URL = os.environ.get(
    "QAFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    probe = create_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        with probe.connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False
    finally:
        probe.dispose()


_PG = _postgres_available()


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") and not _PG:
        raise pytest.UsageError(f"CI needs PostgreSQL at {POSTGRES_URL}")


@contextmanager
def empty_database(kind: str, folder: Path, name: str = "qaflow") -> Iterator[str]:
    """Yield the URL of a fresh, empty database: a SQLite file, or a private PostgreSQL schema."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{name}.sqlite'}"
        return
    if not _PG:
        pytest.skip("PostgreSQL is not reachable")
    schema = f"{name[:1]}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def postgres_url() -> str:
    """The test PostgreSQL server's URL, for a test that makes databases of its own on it."""
    if not _PG:
        pytest.skip("PostgreSQL is not reachable")
    return POSTGRES_URL


@pytest.fixture
def make_empty_database(tmp_path: Path) -> Callable[[str, str], AbstractContextManager[str]]:
    """Make more empty databases in a test: make_empty_database("postgresql", "restored")."""
    return lambda kind, name: empty_database(kind, tmp_path, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2025, 12, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def engine(database_url: str, clock: FrozenClock) -> Iterator[Engine]:
    """An engine with the schema applied; no live-workflow cache, so every step round-trips."""
    eng = Engine(database_url, clock=clock, live_cache_size=0)
    eng.create_schema()
    yield eng
    eng.db.dispose()


@pytest.fixture
def people(engine: Engine) -> dict[str, str]:
    """A small organisation: one service area, a practitioner's line, an auditor, CPP, HoS SPQA."""
    with engine.transaction() as s:
        area = org.add_service_area(s, "Children in Need and Child Protection")
        team = org.add_team(s, "Assessment Team 1", area)
        other = org.add_team(s, "Assessment Team 2", area)
        hos = org.add_person(s, "hos", "Hana Osei", job_title="Head of Service")
        sm = org.add_person(s, "sm", "Sam Mercer", job_title="Service Manager", manager=hos)
        tm = org.add_person(s, "tm", "Tia Morgan", job_title="Team Manager", manager=sm, team=team)
        org.add_person(s, "sw", "Sol Williams", job_title="Social Worker", manager=tm, team=team)
        org.add_person(s, "auditor", "Ada Ruiz", job_title="Team Manager", manager=sm, team=other)
        org.add_person(s, "cpp1", "Cal Price", job_title="Advanced Practitioner", roles=(CPP,))
        org.add_person(s, "cpp2", "Cara Pike", job_title="QA Team Manager", roles=(CPP,))
        org.add_person(s, "spqa", "Sita Patel", job_title="HoS SPQA", roles=(HOS_SPQA,))
        org.add_person(s, "policy", "Pat Owen", roles=(POLICY_OWNER,))
        org.add_person(s, "slt", "Sue Lane", roles=(SLT,))
        area.head_id = hos.id
    return {"hos": "hos", "sm": "sm", "tm": "tm", "practitioner": "sw", "auditor": "auditor",
            "cpp": "cpp1", "spqa": "spqa", "policy": "policy"}


@pytest.fixture
def deploy(engine: Engine):  # type: ignore[no-untyped-def]
    """Deploy a folder of definitions (processes/ by default) and return what was deployed."""

    def _deploy(*paths: str | Path, note: str = "", actor: str = "policy"):  # type: ignore[no-untyped-def]
        return engine.deploy(Bundle.from_paths(paths or (PROCESSES,)), actor, note)

    return _deploy
