"""SQLite's write-ahead log is copied back into the database by a thread of the engine's, not in
the middle of whichever user's commit happens to fill it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from engine import Engine, FrozenClock, org
from engine.db import checkpointer_for, reading


def test_commits_leave_checkpoints_to_the_checkpointer(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "qaflow.sqlite"
    engine = Engine(f"sqlite:///{path}", clock=clock)
    engine.create_schema()
    with engine.db.connect() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    checkpointer = checkpointer_for(str(path))
    before = checkpointer.checkpoints
    for i in range(20):
        with engine.transaction() as s:
            org.add_person(s, f"p{i}", f"Person {i}")
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpointer.checkpoints > before, "no checkpoint ran after the commits"
    with engine.transaction() as s:
        assert org.person(s, "p19").name == "Person 19"
    engine.db.dispose()


def test_engines_on_one_file_share_one_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    assert checkpointer_for(str(path)) is checkpointer_for(str(tmp_path / "." / "shared.sqlite"))


def test_an_idle_checkpointer_ends_its_thread_and_the_next_commit_starts_another(
        tmp_path: Path) -> None:
    import sqlite3

    from engine.db import Checkpointer

    path = tmp_path / "idle.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    checkpointer = Checkpointer(str(path), delay=0.01, idle=0.2)

    def commit_and_wait(expected: int) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        checkpointer.nudge()
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints == expected

    commit_and_wait(1)
    first = checkpointer._thread
    assert first is not None
    first.join(timeout=5)
    assert not first.is_alive(), "an idle checkpointer keeps no thread"
    commit_and_wait(2)
    assert checkpointer._thread is not first
    conn.close()


def test_a_disposed_engine_leaves_no_checkpoint_running_and_creates_no_file(
        tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "gone.sqlite"
    engine = Engine(f"sqlite:///{path}", clock=clock)
    engine.create_schema()
    with engine.transaction() as s:
        org.add_person(s, "p1", "Pat One")
    engine.db.dispose()  # a checkpoint was due 0.2 s after that commit
    checkpointer = checkpointer_for(str(path))
    assert checkpointer._thread is None or not checkpointer._thread.is_alive()
    for name in ("gone.sqlite", "gone.sqlite-wal", "gone.sqlite-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    checkpointer.nudge()  # as a late commit would: the file has gone, so nothing is made
    time.sleep(checkpointer.delay + 0.3)
    assert list(tmp_path.iterdir()) == []
    checkpointer.stop()


def test_a_commit_that_wrote_nudges_the_checkpointer_and_one_that_read_does_not(
        tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's look at what is due commits a read every few seconds: it must not start a
    checkpoint each time. A use case that writes does, once it has committed."""
    path = tmp_path / "nudged.sqlite"
    engine = Engine(f"sqlite:///{path}", clock=clock)
    engine.create_schema()
    checkpointer = checkpointer_for(str(path))
    nudged: list[bool] = []

    def nudge() -> None:
        with engine.db.connect() as other:  # the commit is done: another connection sees it
            nudged.append(other.execute(text("SELECT count(*) FROM person")).scalar() == 1)

    monkeypatch.setattr(checkpointer, "nudge", nudge)
    with reading(engine.db) as conn, conn.begin():
        conn.execute(text("SELECT count(*) FROM person"))
    assert engine.fire_due_timers() == 0  # the worker's own read
    assert nudged == []
    with engine.transaction() as s:
        org.add_person(s, "p1", "Pat One")
    assert nudged == [True]
    engine.db.dispose()
