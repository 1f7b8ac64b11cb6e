"""A sleeping worker wakes for work another process creates (PostgreSQL LISTEN/NOTIFY)."""

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import Engine, notify, org
from engine.models import AuditEvent
from engine.roles import CPP
from engine.worker import Worker

FIXTURE = Path(__file__).parents[1] / "fixtures" / "simple"


@pytest.fixture
def sent() -> list[str]:
    return []


@pytest.fixture
def worker(engine: Engine, sent: list[str]) -> Iterator[Worker]:
    """A worker running in a thread, as `qaflow serve --with-worker` runs it."""
    running = Worker(engine, sender=lambda note: sent.append(note.subject))
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    # Its first pass is done; nothing is due, so it sleeps for a minute.
    assert _within(10, lambda: running.sleeps >= 1)
    yield running
    began = time.monotonic()
    running.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - began < 3, "a sleeping worker should stop promptly"


@pytest.fixture
def other(engine: Engine, database_url: str) -> Iterator[Engine]:
    """Another process's engine on the same database: its own connections, the same clock."""
    eng = Engine(database_url, clock=engine.clock)
    yield eng
    eng.db.dispose()


def _within(seconds: float, ok: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ok():
            return True
        time.sleep(0.05)
    return ok()


def _fired(engine: Engine, instance_id: int) -> bool:
    with engine.transaction() as s:
        return s.execute(select(AuditEvent.id).where(
            AuditEvent.instance_id == instance_id, AuditEvent.kind == "timer_fired")).first() is not None


def _postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite the worker wakes at due times")


def test_an_earlier_timer_from_another_process_wakes_the_sleeping_worker(
        engine, clock, people, deploy, database_url, worker, other):
    _postgres_only(database_url)
    deploy(FIXTURE)
    passes = worker.sleeps
    first = other.start("simple", "cpp1", {"child_ref": "C-1"}, practitioner="sw",
                        auditor="auditor")
    # Woken, the worker saw the deadline tomorrow and sleeps for a minute.
    assert _within(10, lambda: worker.sleeps > passes)
    clock.advance(timedelta(days=2))  # the deadline has passed; nothing in the database says so
    assert not _within(1.5, lambda: _fired(engine, first))

    other.start("simple", "cpp1", {"child_ref": "C-2"}, practitioner="sw", auditor="auditor")

    assert _within(5, lambda: _fired(engine, first)), "the new audit's timer should wake the worker"


def test_mail_queued_by_another_process_goes_at_once(engine, people, database_url, worker, sent,
                                                     other):
    _postgres_only(database_url)
    with other.transaction() as s:
        other.tell(s, org.members_of(s, CPP), "The register was imported", "500 children")
    assert _within(5, lambda: len(sent) == 2)


def test_on_sqlite_the_worker_runs_and_stops_without_listening(engine, database_url, worker):
    if database_url.startswith("postgresql"):
        pytest.skip("the SQLite path")
    assert worker._listener is None
    assert notify.deliver_pending(engine) == 0


def test_mail_queued_in_another_schema_of_the_database_does_not_wake_the_worker(
        engine, database_url, worker, sent, make_empty_database, clock):
    """NOTIFY is database-wide; a council in another schema must not wake this one's worker."""
    _postgres_only(database_url)
    with make_empty_database("postgresql", "neighbour") as url:
        neighbour = Engine(url, clock=clock)
        neighbour.create_schema()
        try:
            with neighbour.transaction() as s:
                neighbours = [org.add_person(s, "cpp9", "Nia Cole", roles=(CPP,))]
                neighbour.tell(s, neighbours, "Their register was imported", "3 children")
            passes = worker.sleeps
            assert not _within(1.5, lambda: worker.sleeps > passes), "woken by another schema"
        finally:
            neighbour.db.dispose()
    with engine.transaction() as s:
        engine.tell(s, [org.add_person(s, "cpp8", "Cy Park", roles=(CPP,))], "Ours", "2 children")
    assert _within(5, lambda: sent == ["Ours"])
