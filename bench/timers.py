"""Timers at scale on PostgreSQL: an idle worker's wake-up, due->fired delay, 1,000 due at once.

Recreates the database, then seeds `--audits` (100,000) audits waiting on deadline timers with
bench/bulk.py: copies of audits in their follow-up, waiting on the remedial-actions or the
re-audit deadline, due over the next three months. Then, on the system clock:

(a) the cost of one worker wake-up with nothing due, `Worker.run_once()` plus
    `seconds_until_next()`, median and p95 over `--wakeups` (target: p95 under 5 ms);
(b) with a `qaflow worker` process running (and so asleep until the next due time), this
    process moves the waiting timer of 5 audits to 1.5-2.3 s ahead, as a completion in another
    process would set a new deadline, in `--rounds` rounds; the delay from each due time to its
    `timer_fired` event (target: p95 under 1 s);
(c) 1,000 audits' timers moved to fall due at the same moment, with 1 and then with 4
    `qaflow worker` processes running: throughput from the due time to the last `timer_fired`
    event, and from the audit trail, whether each timer fired exactly once.

Prints a table; the last line is
`wake-up p95=X ms; due->fired p95=Y ms; 1000 timers by 4 workers: Z/s, fired once each: yes`.
Run it alone on a quiet machine (it starts worker processes); it takes some minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, text  # noqa: E402

from bench import bulk  # noqa: E402
from engine import Engine, SystemClock  # noqa: E402
from engine.models import AuditEvent, Instance  # noqa: E402
from engine.worker import CHANNEL, Worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/qaflow_bench_timers"
WAITING_MIX = {"follow_up": 4, "reaudit": 1}
ROUND_SIZE = 5


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wake_ups(engine: Engine, n: int) -> list[float]:
    """Milliseconds of n idle passes (run_once + seconds_until_next), after one that clears mail."""
    worker = Worker(engine, sender=lambda _note: None)
    worker.run_once()
    worker.seconds_until_next()
    took = []
    for _ in range(n):
        began = time.perf_counter()
        fired, sent = worker.run_once()
        worker.seconds_until_next()
        took.append((time.perf_counter() - began) * 1000)
        assert (fired, sent) == (0, 0), "something fell due during the idle measurement"
    return took


class Workers:
    """`qaflow worker` processes on the database, started and stopped by this benchmark."""

    def __init__(self, engine: Engine, url: str, n: int, logs: Path):
        self.engine = engine
        qaflow = Path(sys.executable).parent / "qaflow"
        cmd = [str(qaflow), "worker"] if qaflow.exists() else [
            sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main(['worker']))"]
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        self.logs = [open(logs / f"worker-{i}.log", "w") for i in range(n)]  # noqa: SIM115
        self.procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)
                      for log in self.logs]
        try:
            self._wait_listening(n)
        except BaseException:
            self.stop()
            raise

    def _wait_listening(self, n: int, timeout: float = 60) -> None:
        """Each worker LISTENs before its first pass; give the first passes a moment after."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.engine.db.connect() as conn:
                listening = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query = :q"), {"q": f"LISTEN {CHANNEL}"}).scalar_one()
            if listening >= n:
                time.sleep(2)
                return
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError("a worker process exited; see its log")
            time.sleep(0.2)
        raise RuntimeError(f"only {listening} of {n} workers are listening after {timeout} s")

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()


def fired_at(engine: Engine, ids: list[int]) -> dict[int, list[datetime]]:
    with engine.transaction() as s:
        rows = s.execute(select(AuditEvent.instance_id, AuditEvent.at).where(
            AuditEvent.kind == "timer_fired", AuditEvent.instance_id.in_(ids))).all()
    found: dict[int, list[datetime]] = {}
    for iid, at in rows:
        found.setdefault(iid, []).append(at)
    return found


def wait_fired(engine: Engine, ids: list[int], timeout: float) -> dict[int, list[datetime]]:
    deadline = time.monotonic() + timeout
    while True:
        found = fired_at(engine, ids)
        if len(found) == len(ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def due_to_fired(engine: Engine, pool: list[int], rounds: int) -> list[float]:
    """Seconds from due time to firing, for timers set while a worker sleeps."""
    delays = []
    for r in range(rounds):
        ids = pool[r * ROUND_SIZE:(r + 1) * ROUND_SIZE]
        base = datetime.now(UTC) + timedelta(seconds=1.5)
        dues = {iid: base + timedelta(seconds=0.2 * i) for i, iid in enumerate(ids)}
        for iid, due in dues.items():  # each in its own transaction, as separate completions
            bulk.reschedule(engine, [iid], due)
        found = wait_fired(engine, ids, timeout=90)
        for iid in ids:
            if iid not in found:
                raise RuntimeError(f"audit {iid}'s timer did not fire within 90 s of being due")
            delays.append((min(found[iid]) - dues[iid]).total_seconds())
    return delays


def at_once(engine: Engine, ids: list[int], lead: float = 2.0) -> tuple[float, bool, int]:
    """Make the timers of `ids` fall due together; return (timers/s, each fired once, fired)."""
    due = datetime.now(UTC) + timedelta(seconds=lead)
    bulk.reschedule(engine, ids, due)
    found = wait_fired(engine, ids, timeout=1800)
    last = max(max(ats) for ats in found.values())
    once = len(found) == len(ids) and all(len(ats) == 1 for ats in found.values())
    return len(found) / max((last - due).total_seconds(), 1e-6), once, len(found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=DEFAULT_URL)
    ap.add_argument("--audits", type=int, default=100_000)
    ap.add_argument("--wakeups", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--at-once", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    if not args.database_url.startswith("postgresql"):
        ap.error("timers.py measures PostgreSQL (LISTEN/NOTIFY, SKIP LOCKED)")

    bulk.recreate_database(args.database_url)
    engine = Engine(args.database_url, clock=SystemClock())
    began = time.perf_counter()
    bulk.seed(engine, args.audits, mix=WAITING_MIX, log=lambda line: print(line, flush=True))
    print(f"seeded {args.audits:,} waiting audits in {time.perf_counter() - began:.0f} s",
          flush=True)
    with engine.transaction() as s:
        waiting = list(s.execute(select(Instance.id).where(
            Instance.status == "running", Instance.next_timer_at.is_not(None),
            Instance.child_ref.not_like("CH-T%"))).scalars())
        started = s.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    random.Random(7).shuffle(waiting)
    need = args.rounds * ROUND_SIZE + 2 * args.at_once
    if len(waiting) < need:
        ap.error(f"{len(waiting)} waiting audits; this run needs {need}")
    probes = waiting[:args.rounds * ROUND_SIZE]
    one_set = waiting[len(probes):len(probes) + args.at_once]
    many_set = waiting[len(probes) + args.at_once:need]

    idle = wake_ups(engine, args.wakeups)
    print(f"(a) idle wake-up: median {statistics.median(idle):.2f} ms", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workers = Workers(engine, args.database_url, 1, Path(tmp))
        try:
            delays = [d * 1000 for d in due_to_fired(engine, probes, args.rounds)]
            print(f"(b) due->fired: median {statistics.median(delays):.0f} ms", flush=True)
            rate_1, once_1, n_1 = at_once(engine, one_set)
        finally:
            workers.stop()
        print(f"(c) {n_1} timers by 1 worker: {rate_1:.1f}/s", flush=True)
        workers = Workers(engine, args.database_url, args.workers, Path(tmp))
        try:
            rate_n, once_n, n_n = at_once(engine, many_set)
        finally:
            workers.stop()
    with engine.transaction() as s:
        fired = Counter(s.execute(select(AuditEvent.instance_id).where(
            AuditEvent.id > (started or 0), AuditEvent.kind == "timer_fired")).scalars())
    expected = set(probes) | set(one_set) | set(many_set)
    exactly_once = once_1 and once_n and set(fired) == expected and set(fired.values()) == {1}
    engine.db.dispose()

    print()
    print(f"{'measure':<48}{'median':>10}{'p95':>10}{'max':>10}  target")
    print(f"{'(a) idle wake-up, ms':<48}{statistics.median(idle):>10.2f}{pct(idle, .95):>10.2f}"
          f"{max(idle):>10.2f}  p95 < 5")
    print(f"{'(b) due -> fired, ms':<48}{statistics.median(delays):>10.0f}{pct(delays, .95):>10.0f}"
          f"{max(delays):>10.0f}  p95 < 1000")
    print(f"{'(c) ' + str(args.at_once) + ' due at once, 1 worker, timers/s':<48}{rate_1:>10.1f}")
    print(f"{'(c) ' + str(args.at_once) + f' due at once, {args.workers} workers, timers/s':<48}"
          f"{rate_n:>10.1f}  x{rate_n / rate_1:.2f} of 1 worker")
    print(f"timers fired: {sum(fired.values())} for {len(expected)} moved; each exactly once: "
          f"{'yes' if exactly_once else 'NO'}")
    print(f"wake-up p95={pct(idle, .95):.1f} ms; due->fired p95={pct(delays, .95):.0f} ms; "
          f"{args.at_once} timers by {args.workers} workers: {rate_n:.0f}/s, "
          f"fired once each: {'yes' if exactly_once else 'no'}")


if __name__ == "__main__":
    main()
