"""bench/web_load.py in miniature: real gunicorn, real sign-in, real forms, checked afterwards.

A few seconds of five demo staff against two gunicorn workers on SQLite: every form the load
generator fills must be accepted (its answers come from the page, so a change to the forms
that it cannot answer shows up here), nothing may error, and the database check must agree
with what the clients saw. The check itself must notice a completion nobody made.
"""

from __future__ import annotations

import argparse
import gc
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import create_engine

from engine import Engine, demo
from engine.definitions import Bundle
from tests.conftest import PROCESSES, ROOT

sys.path.insert(0, str(ROOT / "bench"))
import web_load  # noqa: E402

STAFF = ["aud.aisha", "aud.alex", "sw.paul", "sw.priya", "sw.peter"]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SqlEngine]]:
    """The demo organisation with six deep-dive audits, on the system clock gunicorn uses."""
    url = f"sqlite:///{tmp_path_factory.mktemp('web-load') / 'load.sqlite'}"
    engine = Engine(url)
    engine.create_schema()
    engine.deploy(Bundle.from_paths([PROCESSES]), "test")
    demo.seed(engine, audits=False)
    for i, (_, status, practitioner, auditor) in enumerate(demo.DEMO_AUDITS * 2):
        engine.start("deep_dive_audit", "cpp.chris",
                     {"child_ref": f"CH-9{i:05d}", "child_status": status, "audit_type": "monthly"},
                     practitioner=practitioner, auditor=auditor)
    engine.db.dispose()
    db = create_engine(url)
    yield url, db
    db.dispose()


@contextmanager
def resource_warnings() -> Iterator[list[str]]:
    """Collect the ResourceWarnings (an unclosed socket or file) raised inside, including those
    of objects the garbage collector frees at the end, rather than in whichever test runs next."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        try:
            yield found
        finally:
            gc.collect()
            found += [str(w.message) for w in caught if w.category is ResourceWarning]


@pytest.fixture(scope="module")
def unclosed() -> list[str]:
    """The ResourceWarnings (an unclosed socket or file) the bench's run left behind."""
    return []


@pytest.fixture(scope="module")
def run(database: tuple[str, SqlEngine], tmp_path_factory: pytest.TempPathFactory,
        unclosed: list[str]) -> web_load.Run:
    url, db = database
    args = argparse.Namespace(warmup=0.0, duration=4.0, think_min=0.02, think_max=0.1, seed=1)
    prepared = web_load.Prepared(demo.DEMO_PASSWORD, STAFF, audits=6, events=0)
    port, folder = web_load.free_port(), tmp_path_factory.mktemp("gunicorn")
    with resource_warnings() as found:
        server = web_load.start_gunicorn(url, port, 2, folder)
        try:
            return web_load.run_load(args, prepared, STAFF, port, server, db,
                                     folder / "access.log")
        finally:
            web_load.stop(server)
    unclosed += found


@pytest.mark.slow
def test_staff_sign_in_and_complete_tasks_with_nothing_lost(
        run: web_load.Run, database: tuple[str, SqlEngine]) -> None:
    record = run.record
    assert not record.errors, record.error_reasons
    assert not [o for o in record.outcomes if o.startswith(f"{web_load.RESHOWN}:")], record.outcomes
    assert len(record.completed) >= len(STAFF), record.outcomes
    for kind in web_load.KINDS:
        assert record.samples[kind], kind
        assert run.server_ms[kind], kind  # read back from gunicorn's access log
    result = web_load.check(database[1], record, run.since, run.events_after)
    assert result == web_load.Check(lost=0, duplicated=0, unseen=0)


@pytest.mark.slow
def test_the_load_generator_closes_every_connection_it_opens(
        run: web_load.Run, unclosed: list[str]) -> None:
    assert run.record.completed
    assert unclosed == []


@pytest.mark.slow
def test_the_check_notices_completions_nobody_made_and_ones_claimed_twice(
        run: web_load.Run, database: tuple[str, SqlEngine]) -> None:
    real = run.record.completed
    told = web_load.Record(completed=[*real, real[0], (10**9, "aud.aisha")])
    result = web_load.check(database[1], told, run.since, run.events_after)
    assert result == web_load.Check(lost=1, duplicated=1, unseen=0)
    missed = web_load.Record(completed=real[1:])
    assert web_load.check(database[1], missed, run.since, run.events_after).unseen == 1


def test_waiting_for_the_server_closes_every_try_even_while_workers_boot() -> None:
    """A booting gunicorn holds connections in its listen queue; a try that times out there,
    and the one that is answered, must each close its socket (CI once failed on one that did not)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    port = listener.getsockname()[1]
    listener.settimeout(0.1)
    done = threading.Event()

    def boot_then_answer() -> None:
        time.sleep(0.7)  # the first tries wait in the queue and time out
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                except OSError:
                    pass  # a try that already gave up

    server = threading.Thread(target=boot_then_answer, daemon=True)
    server.start()
    with resource_warnings() as found:
        try:
            assert web_load.wait_for_sign_in_page(port, lambda: True, seconds=10, attempt=0.2)
        finally:
            done.set()
            server.join(timeout=5)
            listener.close()
    assert found == []
