"""On SQLite, what only reads (a task list, a task's page, the worker's look at what is due) does
not queue behind a writer: while another connection holds the write lock, it reads its snapshot
at once, and a use case that writes still takes the lock at BEGIN and waits its turn."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from engine import Engine, FrozenClock, org, queries
from engine.worker import due


@pytest.fixture
def engine(tmp_path: Path, clock: FrozenClock) -> Iterator[Engine]:
    eng = Engine(f"sqlite:///{tmp_path / 'reads.sqlite'}", clock=clock)
    eng.create_schema()
    with eng.transaction() as s:
        org.add_person(s, "aud.reader", "Ann Reader")
    yield eng
    eng.db.dispose()


@pytest.fixture
def writer_holding_the_lock(engine: Engine) -> Iterator[sqlite3.Connection]:
    """Another process's writer, mid-transaction, holding SQLite's write lock."""
    path = engine.db.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE person SET name = 'Ann Writer' WHERE username = 'aud.reader'")
    yield other
    other.execute("ROLLBACK")
    other.close()


def _within(seconds: float, work: Callable[[], Any]) -> Any:
    """Run work on a thread; its result if it finished within `seconds`, else fail."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = work()
        except Exception as exc:  # surfaced below
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s: it queued behind the writer"
    if "error" in out:
        raise out["error"]
    return out.get("value")


@pytest.mark.usefixtures("writer_holding_the_lock")
def test_reads_do_not_wait_for_a_writer(engine: Engine) -> None:
    me = _within(2, lambda: queries.whoami(engine, "aud.reader"))
    assert me is not None
    assert me.name == "Ann Reader"  # the last committed state
    assert _within(2, lambda: queries.my_tasks(engine, "aud.reader")) == []
    assert _within(2, lambda: due(engine)).next_timer is None
    assert _within(2, lambda: engine.fire_due_timers()) == 0


def test_a_use_case_that_writes_still_takes_the_lock_at_begin(engine: Engine) -> None:
    """Writes begin IMMEDIATE (one writer at a time, decided at BEGIN: no deadlock upgrading a
    read lock); only the read connections begin deferred."""
    begun: list[str] = []

    def note(statement: str) -> None:  # every statement SQLite runs, however it was sent
        if statement.startswith("BEGIN"):
            begun.append(statement)

    def trace(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.set_trace_callback(note)

    event.listen(engine.db, "checkout", trace)
    try:
        with engine.transaction() as s:
            org.add_person(s, "aud.writer", "Will Writer")
        assert begun == ["BEGIN IMMEDIATE"]
        queries.whoami(engine, "aud.writer")
        due(engine)
        assert begun == ["BEGIN IMMEDIATE", "BEGIN", "BEGIN"]
    finally:
        event.remove(engine.db, "checkout", trace)  # the fixture disposes the traced connections


@pytest.mark.usefixtures("writer_holding_the_lock")
def test_a_database_still_locked_at_begin_fails_as_sqlalchemy_reports_it(engine: Engine) -> None:
    """BEGIN goes to the driver directly; a lock that outlasts the busy timeout must still be
    SQLAlchemy's OperationalError, which the outbox's retry (engine/notify.py) catches."""

    def short_wait(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    event.listen(engine.db, "checkout", short_wait)
    try:
        with pytest.raises(OperationalError, match="database is locked"), engine.transaction() as s:
            org.add_person(s, "aud.blocked", "Bea Blocked")
    finally:
        event.remove(engine.db, "checkout", short_wait)
    assert queries.whoami(engine, "aud.blocked") is None  # nothing of it was written


def test_no_listener_is_asked_about_until_one_is_added(engine: Engine) -> None:
    """Beginning and committing are the dialect's own steps, not listeners: the engine is left
    unmarked, so SQLAlchemy asks no listener at each statement; one added later is heard."""
    assert engine.db._has_events is False
    with engine.transaction() as s:
        org.add_person(s, "aud.quiet", "Quinn Quiet")
    assert engine.db._has_events is False
    heard: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        heard.append(sql.split()[0])

    event.listen(engine.db, "before_cursor_execute", statement)
    try:
        assert engine.db._has_events is True
        queries.whoami(engine, "aud.quiet")
        with engine.transaction() as s:
            org.add_person(s, "aud.heard", "Hal Heard")
        assert "SELECT" in heard
        assert "INSERT" in heard
    finally:
        event.remove(engine.db, "before_cursor_execute", statement)
