"""`make bench`'s scripts in miniature (engine_overhead, web_pages, timers, scale), small.

A benchmark nobody runs drifts from the code it measures: bench/reports.py did, and only a full
`make bench` found out. These run each script as its own process, on a few hundred audits, and
hold it to the table it promises: every measure printed, the headline as its last line. The
figures themselves are the full runs' business (tiny databases on a busy test machine say
nothing about the targets); only what does not depend on timing is asserted: every timer
fired exactly once, and every size measured.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from tests.conftest import ROOT


def _run(script: str, *args: str, timeout: float = 240) -> list[str]:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()


@pytest.fixture
def bench_database(postgres_url: str) -> Iterator[str]:
    """A name for a benchmark's own PostgreSQL databases (it makes them), dropped afterwards."""
    name = f"qaflow_bench_t{uuid.uuid4().hex[:8]}"
    url = make_url(postgres_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                          poolclass=NullPool)
    with admin.connect() as conn:
        for (db,) in conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :n"),
                                  {"n": f"{name}%"}):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
def test_the_timers_bench_fires_every_moved_timer_once(bench_database: str) -> None:
    lines = _run("timers.py", "--database-url", bench_database, "--audits", "300",
                 "--wakeups", "20", "--rounds", "2", "--at-once", "30", "--workers", "2")
    table = "\n".join(lines)
    for measure in ("(a) idle wake-up, ms", "(b) due -> fired, ms",
                    "(c) 30 due at once, 1 worker, timers/s",
                    "(c) 30 due at once, 2 workers, timers/s"):
        assert measure in table
    assert "timers fired: 70 for 70 moved; each exactly once: yes" in table
    assert re.fullmatch(r"wake-up p95=[\d.]+ ms; due->fired p95=\d+ ms; 30 timers by 2 workers: "
                        r"\d+/s, fired once each: yes", lines[-1]), lines[-1]


@pytest.mark.postgres
def test_the_scale_bench_measures_every_size(bench_database: str) -> None:
    lines = _run("scale.py", "--database-url", bench_database, "--sizes", "150,300",
                 "--open", "20", "--per-month", "4", "--events-per-audit", "2", "--staff", "60",
                 "--repeat", "2")
    sizes = [line.split()[0] for line in lines if re.match(r"\s+(150|300)\s", line)]
    assert sizes == ["150", "300"]
    assert re.fullmatch(r"growth 150->300: complete x[\d.]+, task list x[\d.]+, report x[\d.]+ "
                        r"\((flat|logarithmic at most|GROWS with the number of audits)\)",
                        lines[-1]), lines[-1]


def test_the_scale_bench_runs_on_sqlite_too() -> None:
    lines = _run("scale.py", "--database-url", "sqlite:///per-size-files.sqlite", "--sizes",
                 "100,160", "--open", "10", "--per-month", "3", "--events-per-audit", "1",
                 "--staff", "40", "--repeat", "1")
    assert lines[-1].startswith("growth 100->160: complete x"), lines[-1]


def test_the_engine_overhead_bench_prints_every_ratio() -> None:
    lines = _run("engine_overhead.py", "--repeat", "1", "--floor")
    assert any(line.split()[:1] == ["20"] for line in lines)
    assert any(line.split()[:1] == ["60"] for line in lines)
    assert any(line.startswith("deep-dive pathway (27 steps)") for line in lines)
    assert re.fullmatch(r"persisted/in-memory ratio: N20=[\d.]+ N60=[\d.]+ pathway=[\d.]+",
                        lines[-1]), lines[-1]


def test_the_web_pages_bench_times_every_page() -> None:
    lines = _run("web_pages.py", "--audits", "30", "--repeat", "2")
    assert any(line.startswith("My tasks") for line in lines)
    assert any(line.startswith("Start an audit") for line in lines)
    assert re.fullmatch(r"slowest page p95: [\d.]+ ms \(target 50\)", lines[-1]), lines[-1]
