"""bench/faults.py, small: web processes killed and the database cut as mail goes out, on
PostgreSQL. Every acknowledged completion, due timer and message is there exactly once.

Worker processes are not SIGKILLed here: a kill in the instant between the SMTP server's
acceptance and the outbox's record sends that message twice (at-least-once delivery), which
would make this test fail at random. tests/engine/test_workers.py kills workers mid-batch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = f"qaflow_bench_faults_smoke_{os.getpid()}"  # two runs at once must not share it

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _postgres() -> bool:
    try:
        psycopg.connect(ADMIN, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


def _drop() -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _value(lines: list[str], label: str) -> str:
    return next(line.split(label, 1)[1].strip() for line in lines if label in line)


def test_a_short_faults_run_loses_and_duplicates_nothing() -> None:
    if not _postgres():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    try:
        run = subprocess.run(
            [sys.executable, "bench/faults.py", "--database-url",
             f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}", "--duration", "10",
             "--seed", "11", "--min-completions", "3", "--timers", "10", "--initial-audits", "3",
             "--kill", "web",
             "--kill-every", "4", "--postgres-fault", "terminate", "--cut-db-mid-send", "1",
             "--smtp-outage", "0", "--outage-hours", "1"],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        _drop()
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stderr[-3000:]
    assert lines[-1] == "lost=0 duplicated=0", run.stdout
    assert int(_value(lines, "web processes SIGKILLed, then restarted")) >= 1, run.stdout
    assert _value(lines, "DB connections cut as SMTP accepted a message").startswith("1 "), run.stdout
    assert int(_value(lines, "task completions acknowledged").split()[0]) > 0, run.stdout
    assert int(_value(lines, "deadlines due (one week after submission)").split()[0]) == 10
    assert int(_value(lines, "simulated outage: messages received by SMTP").split()[0]) == 120
