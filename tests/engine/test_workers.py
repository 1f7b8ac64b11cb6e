"""Several timer workers in separate processes on PostgreSQL: every timer fires exactly once."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import AuditEvent, Instance, Notification

FIXTURE = Path(__file__).parents[1] / "fixtures" / "simple"
ROOT = Path(__file__).parents[2]
WORKER = "from engine import Engine; from engine.worker import Worker; Worker(Engine({url!r})).run_once()"

pytestmark = pytest.mark.slow


def _start_many(engine, deploy, n):
    deploy(FIXTURE)
    # The frozen clock stands in December 2025, so every deadline is long past on the real clock
    # the worker processes read.
    return [engine.start("simple", "cpp1", {"child_ref": f"C-{i}"}, practitioner="sw",
                         auditor="auditor") for i in range(n)]


def _spawn(url):
    return subprocess.Popen([sys.executable, "-c", WORKER.format(url=url)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _fired_once_each(engine, ids):
    with engine.transaction() as s:
        fired = Counter(s.execute(select(AuditEvent.instance_id)
                                  .where(AuditEvent.kind == "timer_fired")).scalars())
        notes = Counter(s.execute(select(Notification.instance_id)).scalars())
        pending = s.execute(select(Instance.id).where(Instance.next_timer_at.is_not(None))).all()
    return fired, notes, pending


def test_four_workers_fire_200_due_timers_exactly_once(engine, people, deploy, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("several worker processes need PostgreSQL's SKIP LOCKED")
    ids = _start_many(engine, deploy, 200)
    workers = [_spawn(database_url) for _ in range(4)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0, 0, 0]
    fired, notes, pending = _fired_once_each(engine, ids)
    assert set(fired) == set(ids)
    assert set(fired.values()) == {1}
    assert set(notes) == set(ids)
    assert set(notes.values()) == {1}
    assert pending == []


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(engine, people, deploy,
                                                                database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the kill test runs on PostgreSQL")
    ids = _start_many(engine, deploy, 120)
    victim = _spawn(database_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fired, _, _ = _fired_once_each(engine, ids)
        if len(fired) >= 5:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    fired_at_kill = len(_fired_once_each(engine, ids)[0])
    assert 0 < fired_at_kill < len(ids), "the worker should have been killed mid-batch"
    assert _spawn(database_url).wait(timeout=300) == 0
    fired, notes, pending = _fired_once_each(engine, ids)
    assert set(fired) == set(ids)
    assert set(fired.values()) == {1}
    assert set(notes.values()) == {1}
    assert pending == []
