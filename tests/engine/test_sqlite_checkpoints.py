"""SQLite's write-ahead log is copied back into the database by a thread of the engine's, not in
the middle of whichever user's commit happens to fill it."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from engine import Engine, FrozenClock, org
from engine.db import checkpointer_for


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
