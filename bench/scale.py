"""How completing a task, a task list and the monthly report grow as audits grow 1k -> 100k.

For each size in `--sizes` (1,000, 10,000, 100,000) its own database is seeded by bench/bulk.py
as a council accumulates audits: the same `--open` audits under way at every size (at every
point of the deep dive audit), the rest closed, `--per-month` of them in each of the last 12
months and the remainder in the five years before, with `--events-per-audit` audit-trail
events each. So only the history grows, and every cost measured should stay flat (or grow no
faster than an index lookup): it must never grow in proportion to the number of audits.

Then `--repeat` rounds, each measuring every size in turn (so a busy moment on the machine
falls on all sizes alike), and the median of each:
- complete: `engine.complete_task` on an open task of a different audit each round (an
  auditor arranging the meeting, the first task of an audit), its form opened first;
- task list: `queries.my_tasks` (the web UI's "My tasks") of the people holding most tasks;
- report: `reports.monthly` for the last complete month.

PostgreSQL by default: databases `<name>_<size>` from `--database-url`, dropped and created
for the run and left behind for EXPLAIN. A SQLite URL runs the same on a file per size (try
`--sizes 1000,5000`). Prints a table; the last line is
`growth 1k->100k: complete xA, task list xB, report xC (flat)`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, make_url, select  # noqa: E402

from bench import bulk  # noqa: E402
from bench.bulk import recreate_database  # noqa: E402
from engine import Engine, SystemClock, queries, reports  # noqa: E402
from engine.models import HumanTask, Instance, Person  # noqa: E402
from features.driver import sample  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/qaflow_bench_scale"
# The open audits' spread over the deep dive audit (bulk.DEFAULT_MIX without the closed ones).
OPEN_MIX = {k: v for k, v in bulk.DEFAULT_MIX.items() if k != "closed"}
FIRST_TASK = "Activity_ArrangeMeeting"


def mix_for(size: int, open_audits: int) -> dict[str, float]:
    """Weights giving `open_audits` open audits whatever the size; the rest are closed."""
    opened = min(open_audits, size // 2)
    whole = sum(OPEN_MIX.values())
    mix = {k: opened * v / whole for k, v in OPEN_MIX.items()}
    mix["closed"] = size - opened
    return mix


def last_month(now: datetime) -> str:
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


class Size:
    """One seeded database and what is measured on it, round after round."""

    def __init__(self, size: int, url: str, args: argparse.Namespace):
        self.size = size
        if url.startswith("postgresql"):
            recreate_database(url)
        self.engine = Engine(url, clock=SystemClock())
        began = time.perf_counter()
        bulk.seed(self.engine, size, events=size * args.events_per_audit, staff=args.staff,
                  mix=mix_for(size, args.open), per_month=args.per_month,
                  log=lambda line: print(line, flush=True))
        self.seeded = time.perf_counter() - began
        self.month = last_month(datetime.now(UTC))
        self.to_complete = self._first_tasks(args.repeat)
        self.busiest = self._busiest(args.repeat)
        self.times: dict[str, list[float]] = {"complete": [], "task_list": [], "report": []}
        self.shown: list[int] = []
        self.allocated = reports.monthly(self.engine, self.month).allocated

    def _first_tasks(self, n: int) -> list[tuple[int, str]]:
        with self.engine.transaction() as s:
            tasks = s.execute(
                select(HumanTask.id, Person.username)
                .join(Person, Person.id == HumanTask.assignee_id)
                .join(Instance, Instance.id == HumanTask.instance_id)
                .where(HumanTask.spec_name == FIRST_TASK, HumanTask.status == "open",
                       Instance.child_ref.not_like("CH-T%"))
                .order_by(HumanTask.id.desc()).limit(n)).all()
        if len(tasks) < n:
            raise RuntimeError(f"only {len(tasks)} open '{FIRST_TASK}' tasks to complete")
        return [(t[0], t[1]) for t in tasks]

    def _busiest(self, n: int) -> list[str]:
        with self.engine.transaction() as s:
            return list(s.execute(
                select(Person.username).join(HumanTask, HumanTask.assignee_id == Person.id)
                .where(HumanTask.status == "open").group_by(Person.username)
                .order_by(func.count(HumanTask.id).desc(), Person.username).limit(n)).scalars())

    def measure(self, round_: int) -> None:
        """One of each: complete a task (its form opened first, as in the web UI), a task
        list, the month's report."""
        task_id, holder = self.to_complete[round_]
        form = queries.task_form(self.engine, holder, task_id)
        answers = sample(form.schema, self.engine.now().date().isoformat())
        self.times["complete"].append(timed(lambda: self.engine.complete_task(task_id, holder, answers)))
        username = self.busiest[round_ % len(self.busiest)]
        self.times["task_list"].append(timed(lambda: self.shown.append(
            len(queries.my_tasks(self.engine, username)))))
        self.times["report"].append(timed(lambda: reports.monthly(self.engine, self.month)))

    def row(self) -> dict[str, float]:
        out = {k: statistics.median(v) for k, v in self.times.items()}
        out.update(seed_s=self.seeded, tasks_shown=statistics.mean(self.shown),
                   month_audits=self.allocated)
        return out


def url_for(base: str, size: int, folder: Path) -> str:
    """Each size its own database: `<name>_<size>` on PostgreSQL, a file on SQLite."""
    if base.startswith("sqlite"):
        return f"sqlite:///{folder / f'scale-{size}.sqlite'}"
    url = make_url(base)
    return url.set(database=f"{url.database}_{size}").render_as_string(hide_password=False)


def verdict(factors: list[float]) -> str:
    worst = max(factors)
    if worst <= 1.5:
        return "flat"
    if worst <= 3:
        return "logarithmic at most"
    return "GROWS with the number of audits"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=DEFAULT_URL)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--open", type=int, default=400, help="open audits at every size")
    ap.add_argument("--per-month", type=int, default=40, help="closed audits a recent month")
    ap.add_argument("--events-per-audit", type=int, default=10)
    ap.add_argument("--staff", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]

    rows: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        measured = [Size(size, url_for(args.database_url, size, Path(tmp)), args) for size in sizes]
        # In turns, so a busy moment on the machine falls on every size alike.
        for r in range(args.repeat):
            for one in measured:
                one.measure(r)
        for one in measured:
            rows[one.size] = one.row()
            one.engine.db.dispose()

    first, last = sizes[0], sizes[-1]
    print()
    print(f"{'audits':>10}{'complete ms':>14}{'task list ms':>14}{'tasks shown':>13}"
          f"{'report ms':>12}{'month audits':>14}{'seeded in s':>13}")
    for size in sizes:
        r = rows[size]
        print(f"{size:>10,}{r['complete']:>14.1f}{r['task_list']:>14.2f}{r['tasks_shown']:>13.0f}"
              f"{r['report']:>12.0f}{r['month_audits']:>14.0f}{r['seed_s']:>13.0f}")
    factors = {k: rows[last][k] / rows[first][k] for k in ("complete", "task_list", "report")}
    print(f"{'x ' + f'{first:,}->{last:,}':>10}{factors['complete']:>14.2f}"
          f"{factors['task_list']:>14.2f}{'':>13}{factors['report']:>12.2f}")
    label = f"{_short(first)}->{_short(last)}"
    print(f"growth {label}: complete x{factors['complete']:.1f}, task list x{factors['task_list']:.1f}, "
          f"report x{factors['report']:.1f} ({verdict(list(factors.values()))})")


def _short(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


if __name__ == "__main__":
    main()
