"""A serving process settles once started: the deployed processes parsed, the startup heap frozen
out of the garbage collector's full collections (engine/serving.py)."""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import Engine
from engine.models import ProcessVersion
from engine.serving import settle


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Leave the test process's collector as it was: nothing frozen after the test."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _newest_digests(engine: Engine) -> set[str]:
    with engine.db.connect() as conn:
        rows = conn.execute(select(ProcessVersion.process_id, ProcessVersion.version,
                                   ProcessVersion.digest)).all()
    newest: dict[str, tuple[int, str]] = {}
    for pid, version, digest in rows:
        if pid not in newest or version > newest[pid][0]:
            newest[pid] = (version, digest)
    return {digest for _, digest in newest.values()}


def test_settling_parses_the_newest_processes_and_freezes_what_exists(
        web_engine: Engine, unfrozen: None) -> None:
    assert web_engine._definitions == {}  # parsed on first use until now
    settle(web_engine)
    assert gc.get_freeze_count() > 0
    assert set(web_engine._definitions) == _newest_digests(web_engine)
    assert web_engine.load_definitions() == len(_newest_digests(web_engine))


def test_settling_before_the_database_is_migrated_still_freezes(
        tmp_path: Path, unfrozen: None) -> None:
    engine = Engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    try:
        settle(engine)  # no tables: the definitions wait for their first use
        assert gc.get_freeze_count() > 0
        assert engine._definitions == {}
    finally:
        engine.db.dispose()


def test_the_wsgi_module_serves_the_app_settled(
        web_engine: Engine, monkeypatch: pytest.MonkeyPatch, unfrozen: None) -> None:
    monkeypatch.setenv("DATABASE_URL", str(web_engine.db.url))
    monkeypatch.setenv("SECRET_KEY", "a-long-random-string-for-this-test-only")
    sys.modules.pop("webui.wsgi", None)
    try:
        wsgi = importlib.import_module("webui.wsgi")
        served: Engine = wsgi.app.extensions["qaflow"]
        assert set(served._definitions) == _newest_digests(web_engine)
        assert gc.get_freeze_count() > 0
        assert wsgi.app.test_client().get("/sign-in").status_code == 200
        served.db.dispose()
    finally:
        sys.modules.pop("webui.wsgi", None)
