"""The real deep-dive pathway end to end: persisted against SpiffWorkflow in memory.

Issue 7 asks for the engine's overhead on the framework's own processes, not only on synthetic
ones. One audit is walked from allocation through an audit tool graded Requires Improvement, a
practitioner's dispute that reaches stage 3 (the HoS for Safeguarding, Practice and QA decides
the grade stands), the follow-up with two deadlines passing (escalations fired by timers) and the
Head of Service's re-audit, which closes the audit.

The walk is first driven through the engine as its people would (answers sampled from each
form, as features/driver.py does) and recorded: who completed which task with what data, and
when the clock moved. The same script is then replayed, timed, (a) on the same parsed BPMN held
in memory by SpiffWorkflow with the engine's restricted script engine and clock, and (b) through
the engine on SQLite (finding the task, claiming group tasks, validating forms, projecting tasks,
audit trail, notifications, optimistic locking, state saved). Both replays are checked against
the recording step by step (the same ready tasks after every step, the same final data); any
difference raises instead of being measured. Prints a table and, last,
`real pathway persisted/in-memory ratio: X.XX (N steps)`.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine as SqlEngine  # noqa: E402
from sqlalchemy import bindparam, event, func, select  # noqa: E402

from engine import Engine, FrozenClock, demo, serving, spiff  # noqa: E402
from engine import audit as engine_audit  # noqa: E402
from engine import clock as engine_clock  # noqa: E402
from engine import forms as engine_forms  # noqa: E402
from engine import service as engine_service  # noqa: E402
from engine.db import SQLITE_PRAGMAS, begin_statement, reading  # noqa: E402
from engine.definitions import Bundle, ParsedDefinition  # noqa: E402
from engine.models import AuditEvent, HumanTask, Instance, ProcessVersion  # noqa: E402
from engine.sandbox import Effects  # noqa: E402
from engine.service import LIVE_CACHE_SIZE  # noqa: E402
from engine.timeline import all_tasks  # noqa: E402
from features.driver import AuditDriver, sample  # noqa: E402

PROCESS = "deep_dive_audit"
READY = spiff.TaskState.READY
ALLOCATOR, PRACTITIONER, AUDITOR, RESTORATIVE_WORKER = "cpp.chris", "sw.priya", "aud.aisha", "cpp.carla"
CHILD = {"child_ref": "BENCH-PATHWAY", "child_status": "CIN", "audit_type": "monthly",
         "supplementary_reading": "Working Together to Safeguard Children 2023"}
# Tuesday 4 November 2025, 09:00 in London (which is UTC in November).
START = datetime(2025, 11, 4, 9, 0, tzinfo=UTC)

# The pathway: a task to complete with the answers that steer it, or a move of the clock (after
# which the worker fires whatever fell due). Every other answer is sampled from the form.
PLAN: list[tuple[str, dict[str, Any]] | timedelta] = [
    ("Activity_ArrangeMeeting", {}),
    timedelta(days=1),
    ("Activity_UpdateChildFile", {}),
    timedelta(days=2),
    ("Activity_UndertakeAuditTogether", {}),
    ("Activity_ObtainFamilyFeedback", {}),
    timedelta(days=3),
    ("Activity_CompleteAuditTool", {"grade": "Requires Improvement",
                                    "good_practice_identified": False}),
    timedelta(days=1),
    ("Activity_RespondToFindings", {"practitioner_agrees": False,
                                    "disagreement_reasons": "The family's views were not taken "
                                                            "into account"}),
    timedelta(days=2),
    ("Activity_DiscussFindings", {"dispute_stage1_outcome": "unresolved"}),
    ("Activity_AllocateRestorativeWorker", {"restorative_worker": RESTORATIVE_WORKER}),
    timedelta(days=7),
    ("Activity_HoldRestorativeConversation", {"dispute_stage2_outcome": "unresolved"}),
    timedelta(days=7),
    # Stage 3: the grade stands, so the follow-up starts; its one-week deadline has passed.
    ("Activity_DecideDispute", {"dispute_stage3_outcome": "grade-stands"}),
    timedelta(days=1, hours=5),  # past noon the next working day: the acknowledgement is late
    ("Activity_AcknowledgeGrading", {}),
    ("Activity_SupervisePractitioner", {}),
    timedelta(days=4),
    ("Activity_FollowUpRemedialActions", {}),
    ("Activity_SuperviseTeamManager", {}),
    timedelta(days=14),  # past the one-month sign-off deadline
    ("Activity_SignOffActions", {}),
    timedelta(days=41),
    ("Activity_ReauditChildFile", {"reaudit_grade": "Good",
                                   "reaudit_file_still_inadequate_or_ri": False,
                                   "reaudit_action_plan_completed": True}),
]


class PathwayMismatch(AssertionError):
    """The two sides did not walk the same steps or did not end in the same place."""


@dataclass(frozen=True)
class Complete:
    spec_name: str
    username: str
    data: dict[str, Any]
    claim: bool  # a group task: its holder claims it first, as in the web app


@dataclass(frozen=True)
class MoveClock:
    at: datetime


Step = Complete | MoveClock
Ready = tuple[str, ...]


@dataclass
class Script:
    """One walk of the pathway as recorded on the engine, to be replayed on both sides."""

    start: datetime
    steps: list[Step]
    ready: list[Ready]  # the ready user tasks after the start and after each step
    timers_fired: int  # clock moves after which the worker found a deadline due
    final: dict[str, Any] = field(default_factory=dict)

    @property
    def completions(self) -> int:
        return sum(isinstance(s, Complete) for s in self.steps)


@dataclass
class Bench:
    """The engine both sides share a clock and a parsed definition with."""

    engine: Engine
    clock: FrozenClock
    definition: ParsedDefinition


@contextmanager
def bench(live_cache_size: int = LIVE_CACHE_SIZE) -> Iterator[Bench]:
    """A fresh engine on a temporary SQLite file: processes/ deployed, the demo organisation."""
    with tempfile.TemporaryDirectory(prefix="qaflow-pathway-") as tmp:
        clock = FrozenClock(START)
        engine = Engine(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", clock=clock,
                        live_cache_size=live_cache_size)
        try:
            engine.create_schema()
            engine.deploy(Bundle.from_paths([ROOT / "processes"]), "policy.olivia", "bench")
            demo.seed(engine, PROCESS, audits=False)
            with engine.transaction() as s:
                pv = s.execute(select(ProcessVersion).where(ProcessVersion.process_id == PROCESS)
                               .order_by(ProcessVersion.version.desc()).limit(1)).scalar_one()
                definition = engine.definition(s, pv)
            serving.settle(engine)  # as a serving process does once started; both sides gain
            yield Bench(engine, clock, definition)
        finally:
            gc.unfreeze()  # what settle froze is collectable again (this may run inside tests)
            engine.db.dispose()


# -- the persisted side ---------------------------------------------------------------------

_OPEN_TASK = select(HumanTask.id).where(
    HumanTask.instance_id == bindparam("iid"), HumanTask.spec_name == bindparam("spec"),
    HumanTask.status == "open")
_OPEN_SPECS = select(HumanTask.spec_name).where(
    HumanTask.instance_id == bindparam("iid"), HumanTask.status == "open")


def _allocate(b: Bench) -> int:
    return b.engine.start(PROCESS, ALLOCATOR, dict(CHILD), practitioner=PRACTITIONER,
                          auditor=AUDITOR)


def _open_specs(b: Bench, iid: int) -> Ready:
    with b.engine.db.connect() as conn:
        return tuple(sorted(conn.execute(_OPEN_SPECS, {"iid": iid}).scalars()))


def record(b: Bench) -> Script:
    """Drive PLAN through the engine as the audit's people would, and write down what they did."""
    b.clock.set(START)
    driver = AuditDriver(b.engine, b.clock)
    driver.instance_id = _allocate(b)
    steps: list[Step] = []
    ready = [_open_specs(b, driver.instance_id)]
    fired = 0
    for item in PLAN:
        if isinstance(item, timedelta):
            b.clock.advance(item)
            fired += b.engine.fire_due_timers()
            steps.append(MoveClock(b.clock.now()))
        else:
            name, steer = item
            task = driver.task(name)
            who = driver.holder(task)
            claim = bool(task.group_role) and task.claimed_by_id is None
            if claim:
                b.engine.claim(task.id, who)
            data = sample(driver.form_of(task), b.clock.now().date().isoformat()) | steer
            b.engine.complete_task(task.id, who, data)
            steps.append(Complete(name, who, data, claim))
        ready.append(_open_specs(b, driver.instance_id))
    script = Script(START, steps, ready, fired)
    script.final = persisted_outcome(b, driver.instance_id)
    return script


def walk_persisted(b: Bench, script: Script, observe: Callable[[Ready], None] | None = None) -> int:
    """Replay the script through the engine, each step as a user (or the worker) would do it."""
    b.clock.set(script.start)
    iid = _allocate(b)
    if observe:
        observe(_open_specs(b, iid))
    engine = b.engine
    for step in script.steps:
        if isinstance(step, MoveClock):
            b.clock.set(step.at)
            engine.fire_due_timers()
        else:
            # The task as the holder's task list shows it (part of the cost).
            with reading(engine.db) as conn:
                task_id = conn.execute(_OPEN_TASK, {"iid": iid, "spec": step.spec_name}).scalar()
            if task_id is None:
                raise PathwayMismatch(f"persisted: '{step.spec_name}' is not open; open: "
                                      f"{_open_specs(b, iid)}")
            if step.claim:
                engine.claim(task_id, step.username)
            engine.complete_task(task_id, step.username, step.data)
        if observe:
            observe(_open_specs(b, iid))
    return iid


def persisted_outcome(b: Bench, iid: int) -> dict[str, Any]:
    """The audit's status and its final data as the engine stored them."""
    with b.engine.transaction() as s:
        inst = s.get(Instance, iid)
        assert inst is not None
        wf, _ = b.engine._load(s, inst)
        return {"completed": inst.status == "completed" and wf.completed,
                "data": _comparable(_final_data(wf))}


# -- the in-memory side ---------------------------------------------------------------------

def _ready(wf: spiff.BpmnWorkflow) -> Ready:
    return tuple(sorted(t.task_spec.name
                        for t in wf.get_tasks(state=READY, manual=True)))


def _ready_task(wf: spiff.BpmnWorkflow, spec_name: str) -> Any:
    """The ready task of that name, found by a scan of the task maps rather than SpiffWorkflow's
    tree iterator (several times slower), so the in-memory side is not flattered."""
    for task in all_tasks(wf):
        if task.state == READY and task.task_spec.name == spec_name:
            return task
    return None


def _settle(wf: spiff.BpmnWorkflow) -> None:
    """Run to the next wait as the engine does: engine steps until no automatic task is ready
    (timers refreshed at the end of the steps may have made more work ready)."""
    token = spiff.collect_effects(Effects())
    try:
        wf.do_engine_steps()
        while any(t.state == READY and not t.task_spec.manual for t in all_tasks(wf)):
            wf.do_engine_steps()
    finally:
        spiff.stop_collecting(token)


def walk_in_memory(b: Bench, script: Script, observe: Callable[[Ready], None] | None = None,
                   runtime: bool = False) -> spiff.BpmnWorkflow:
    """Replay the script on the parsed BPMN held in memory, on the same clock and script engine:
    by SpiffWorkflow as it comes, or (`runtime`) as the engine runs a workflow (its own walk of
    the task tree, its private copy of the specs), with no database."""
    pd = b.definition
    with engine_clock.using(b.clock):
        b.clock.set(script.start)
        wf = (spiff.make_workflow(pd.spec, pd.subprocess_specs) if runtime else
              spiff.BpmnWorkflow(pd.spec, pd.subprocess_specs, script_engine=spiff.SCRIPT_ENGINE))
        start_data = {"allocated_at": script.start.isoformat(), **CHILD}  # as Engine.start adds
        for task in wf.get_tasks(state=READY):
            task.data.update(start_data)
        _settle(wf)
        if observe:
            observe(_ready(wf))
        for step in script.steps:
            if isinstance(step, MoveClock):
                b.clock.set(step.at)
            else:
                task = _ready_task(wf, step.spec_name)
                if task is None:
                    raise PathwayMismatch(f"in memory: '{step.spec_name}' is not ready; ready: "
                                          f"{_ready(wf)}")
                task.set_data(**step.data)
                task.run()
            _settle(wf)
            if observe:
                observe(_ready(wf))
    return wf


def _final_data(wf: spiff.BpmnWorkflow) -> dict[str, Any]:
    """The data of the task that completed last: where the audit ended up."""
    done = [t for t in all_tasks(wf) if t.state == spiff.TaskState.COMPLETED]
    return dict(max(done, key=lambda t: t.last_state_change).data) if done else {}


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, sort_keys=True, default=str))


# -- checking and timing --------------------------------------------------------------------

def checker(script: Script, side: str) -> tuple[Callable[[Ready], None], list[Ready]]:
    """An observer for a walk that raises as soon as the ready tasks differ from the recording,
    and the list of what it saw (to check that the walk went all the way)."""
    seen: list[Ready] = []

    def observe(ready: Ready) -> None:
        i = len(seen)
        seen.append(ready)
        if i >= len(script.ready) or script.ready[i] != ready:
            expected = script.ready[i] if i < len(script.ready) else "(no more steps)"
            raise PathwayMismatch(f"{side}: after step {i} ready {ready}, recorded {expected}")

    return observe, seen


def verify(b: Bench, script: Script) -> None:
    """Replay once on each side, untimed, checking every step and the end against the recording."""
    if not script.final.get("completed"):
        raise PathwayMismatch("the recorded walk did not close the audit")
    observe, seen = checker(script, "in memory")
    wf = walk_in_memory(b, script, observe)
    mem = {"completed": wf.completed, "data": _comparable(_final_data(wf))}
    observe, seen_db = checker(script, "persisted")
    per = persisted_outcome(b, walk_persisted(b, script, observe))
    for side, outcome, steps in (("in memory", mem, seen), ("persisted", per, seen_db)):
        if len(steps) != len(script.ready):
            raise PathwayMismatch(f"{side}: {len(steps)} observations, recorded {len(script.ready)}")
        if outcome != script.final:
            diff = sorted(k for k in set(outcome["data"]) | set(script.final["data"])
                          if outcome["data"].get(k) != script.final["data"].get(k))
            raise PathwayMismatch(f"{side} ended elsewhere: completed={outcome['completed']}, "
                                  f"data differs in {diff}")


@dataclass(frozen=True)
class Timing:
    """Medians of whole walks, in seconds: wall clock (the figure) and this process's CPU time
    (which other load on a shared machine disturbs less; a gap between them means noise)."""

    mem: float
    per: float
    mem_cpu: float
    per_cpu: float
    ratio: float  # the median of each turn's persisted/in-memory ratio
    run: float = 0.0  # the engine's runtime in memory (no database), when measured
    run_ratio: float = 0.0  # the median of each turn's persisted/runtime ratio
    ratios: list[float] = field(default_factory=list)  # each turn's persisted/in-memory ratio


def _clocked(walk: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = walk()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _time_in_memory(b: Bench, script: Script, runtime: bool = False) -> tuple[float, float]:
    wall, cpu, wf = _clocked(lambda: walk_in_memory(b, script, runtime=runtime))
    if not wf.completed:
        raise PathwayMismatch("in memory: the audit did not close")
    return wall, cpu


def _time_persisted(b: Bench, script: Script) -> tuple[float, float]:
    wall, cpu, iid = _clocked(lambda: walk_persisted(b, script))
    with b.engine.db.connect() as conn:
        status = conn.execute(select(Instance.status).where(Instance.id == iid)).scalar_one()
    if status != "completed":
        raise PathwayMismatch(f"persisted: the audit is {status}, not completed")
    return wall, cpu


def prepare(b: Bench) -> Script:
    """Record the walk and check both sides replay it alike (which also warms them up: imports,
    statement caches, parsed forms)."""
    script = record(b)
    verify(b, script)
    return script


def timed(b: Bench, script: Script, repeat: int, runtime: bool = False) -> Timing:
    """Medians of `repeat` whole walks on each side, the sides taking turns so that a burst of
    other work on the machine falls on both alike; with `runtime`, the engine's runtime in
    memory takes a turn too."""
    mem: list[tuple[float, float]] = []
    per: list[tuple[float, float]] = []
    run: list[float] = []
    for _ in range(repeat):
        mem.append(_time_in_memory(b, script))
        per.append(_time_persisted(b, script))
        if runtime:
            run.append(_time_in_memory(b, script, runtime=True)[0])
    turns = [p[0] / m[0] for m, p in zip(mem, per, strict=True)]
    timing = Timing(*(statistics.median(x[i] for x in side) for i in (0, 1)
                      for side in (mem, per)), statistics.median(turns), ratios=turns)
    if run:
        timing = replace(timing, run=statistics.median(run), run_ratio=statistics.median(
            p[0] / r for r, p in zip(run, per, strict=True)))
    return timing


def measure(repeat: int = 3, live_cache_size: int = LIVE_CACHE_SIZE,
            runtime: bool = False) -> tuple[Timing, int]:
    """Return the timing (medians, and the median of the turns' ratios) and the number of steps
    of one audit walked from allocation through an RI grade, a dispute to stage 3 (Head of
    Service for Safeguarding, Practice and QA) and the re-audit, the same answers on both sides."""
    with bench(live_cache_size) as b:
        script = prepare(b)
        timing = timed(b, script, repeat, runtime)
    return timing, len(script.steps)


# -- where the persisted side spends its time ---------------------------------------------

PACKAGES = (("SpiffWorkflow serializer", "/SpiffWorkflow/bpmn/serializer/"),
            ("SpiffWorkflow serializer", "/SpiffWorkflow/serializer/"),
            ("SpiffWorkflow", "/SpiffWorkflow/"), ("sqlalchemy", "/sqlalchemy/"),
            ("engine sandbox", "/engine/sandbox/"), ("engine", "/engine/"),
            ("jsonschema", "/jsonschema/"), ("json", "/json/"), ("sqlite3", "sqlite3"),
            ("copy", "/copy.py"))


def _package(key: tuple[str, int, str]) -> str:
    filename, _line, function = key
    where = filename if filename != "~" else function
    if filename == "~" and "_json" in function:
        return "json"
    for name, marker in PACKAGES:
        if marker in where:
            return name
    return "other"


def profile(b: Bench, script: Script, walk: Callable[[Bench, Script], object]) -> dict[str, float]:
    """Seconds of own time (tottime) per package over one walk, under cProfile. The own time of
    builtins and the standard library (dict.get, uuid.__hash__...) goes to the packages calling
    them, in proportion, so that SpiffWorkflow's tree walking is not counted as 'other'."""
    prof = cProfile.Profile()
    prof.runcall(walk, b, script)
    totals: dict[str, float] = {}
    stats: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    for key, (_cc, _nc, own, _cum, callers) in stats.items():
        package = _package(key)
        spent = sum(c[2] for c in callers.values()) if package == "other" else 0.0
        if spent <= 0:
            totals[package] = totals.get(package, 0.0) + own
            continue
        for caller, c in callers.items():
            totals[_package(caller)] = totals.get(_package(caller), 0.0) + own * c[2] / spent
    return totals


@dataclass(frozen=True)
class Floor:
    statements: int
    commits: int
    seconds: float  # median of the replays


def database_floor(db: SqlEngine, run: Callable[[], object], repeat: int = 5) -> Floor:
    """The database's own share of `run` on SQLite: every statement it sent (transactions as
    they were, parameters as bound) replayed on the sqlite3 driver alone, with the engine's
    pragmas, against a copy of the database taken just before `run`; the median of `repeat`
    replays. What no engine on SQLite can go below for the same writes and reads."""
    path = db.url.database
    if db.dialect.name != "sqlite" or not path:
        raise ValueError("the floor is measured on a SQLite file")
    with tempfile.TemporaryDirectory(prefix="qaflow-floor-") as tmp:
        base, work = Path(tmp) / "base.sqlite", Path(tmp) / "work.sqlite"
        source, copy = sqlite3.connect(path), sqlite3.connect(base)
        with copy:
            source.backup(copy)
        source.close()
        copy.close()
        sent: list[tuple[str, Any, bool]] = []

        def statement(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any,
                      many: bool) -> None:
            # An INSERT of many rows in one statement (SQLAlchemy's "insertmanyvalues") is
            # reported as many but runs once, with its parameters flattened.
            sent.append((sql, params, many and bool(params)
                         and isinstance(params[0], tuple | list | dict)))

        def begin(conn: Any) -> None:  # sent to the driver, past the statement events
            sent.append((begin_statement(conn), (), False))

        def commit(_conn: Any) -> None:
            sent.append(("COMMIT", (), False))

        def rollback(_conn: Any) -> None:
            sent.append(("ROLLBACK", (), False))

        hooks = (("before_cursor_execute", statement), ("begin", begin), ("commit", commit),
                 ("rollback", rollback))
        for name, fn in hooks:
            event.listen(db, name, fn)
        try:
            run()
        finally:
            for name, fn in hooks:
                event.remove(db, name, fn)
        after = _row_counts(Path(path))
        times = []
        for _ in range(repeat):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{work}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(base, work)
            conn = sqlite3.connect(work, isolation_level=None)
            for pragma in SQLITE_PRAGMAS:
                conn.execute(f"PRAGMA {pragma}")
            started = time.perf_counter()
            for sql, params, many in sent:
                if sql in ("COMMIT", "ROLLBACK") and not conn.in_transaction:
                    continue  # a transaction that sent nothing
                if many:
                    conn.executemany(sql, params)
                else:
                    conn.execute(sql, params).fetchall()
            times.append(time.perf_counter() - started)
            conn.close()
        if _row_counts(work) != after:  # the replay did not write what the run wrote
            raise PathwayMismatch("the replayed statements left different rows from the run's")
    return Floor(sum(sql not in ("COMMIT", "ROLLBACK") and not sql.startswith("BEGIN")
                     for sql, _, _ in sent),
                 sum(sql == "COMMIT" for sql, _, _ in sent), statistics.median(times))


def _row_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in tables}
    finally:
        conn.close()


class _Stopwatch:
    """Stands in for the engine during one walk and times each use case the walk calls."""

    TIMED = ("start", "claim", "complete_task", "fire_due_timers")

    def __init__(self, engine: Engine):
        self._engine = engine
        self.spent: dict[str, list[float]] = {name: [] for name in self.TIMED}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._engine, name)
        if name not in self.TIMED:
            return target

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                self.spent[name].append(time.perf_counter() - start)

        return timed


def use_cases(b: Bench, script: Script) -> tuple[dict[str, list[float]], float]:
    """Seconds of each engine use case over one persisted walk, and the walk's total."""
    watch = _Stopwatch(b.engine)
    start = time.perf_counter()
    walk_persisted(replace(b, engine=cast(Engine, watch)), script)
    return watch.spent, time.perf_counter() - start


def _print_profile(b: Bench, script: Script) -> None:
    spent, total = use_cases(b, script)
    print(f"{'persisted use case':<30} {'calls':>6} {'ms':>8} {'ms/call':>8}")
    for name, times in spent.items():
        print(f"{name:<30} {len(times):>6} {sum(times) * 1000:>8.1f} "
              f"{sum(times) * 1000 / max(len(times), 1):>8.2f}")
    rest = total - sum(sum(times) for times in spent.values())
    print(f"{'finding the task (queries)':<30} {'':>6} {rest * 1000:>8.1f}")
    mem = profile(b, script, walk_in_memory)
    per = profile(b, script, walk_persisted)
    print(f"\n{'package (own time, profiled)':<30} {'in-memory ms':>13} {'persisted ms':>13}")
    for key in sorted(per, key=per.__getitem__, reverse=True):
        print(f"{key:<30} {mem.get(key, 0.0) * 1000:>13.1f} {per[key] * 1000:>13.1f}")
    print(f"{'total':<30} {sum(mem.values()) * 1000:>13.1f} {sum(per.values()) * 1000:>13.1f}\n")
    floor = database_floor(b.engine.db, lambda: walk_persisted(b, script))
    print(f"the database's own work in one persisted walk ({floor.statements} statements, "
          f"{floor.commits} commits, replayed on sqlite3 alone): {floor.seconds * 1000:.1f} ms\n")


# -- what each part of the engine's work costs, by leaving it out ------------------------------

_REAL_STATE_TO_SAVE = spiff.state_to_save


def _store_only_the_first_state(wf: Any) -> tuple[str | None, str | None]:
    """A new audit's first state is stored, so the worker's query for due audits still finds it;
    every later save stores nothing (the walk runs on the live workflow)."""
    return _REAL_STATE_TO_SAVE(wf) if wf.__dict__.get(engine_service._NEW) else (None, None)


def _drop_pending_events(s: Any) -> None:
    s.info.pop(engine_audit._PENDING, None)


def _leave_out_effects(self: Any, s: Any, inst: Any, effects: Any) -> None:
    return None


# Each part of the persisted side's work, switched off for a walk: what the engine's code names,
# and what stands in for it.
PARTS: dict[str, tuple[Any, str, Callable[..., Any]]] = {
    "storing the workflow's state": (spiff, "state_to_save", _store_only_the_first_state),
    "validating the forms": (engine_forms, "validate", lambda *_: {}),
    "the audit trail": (engine_audit, "write_pending", _drop_pending_events),
    "notifications and escalations": (Engine, "_apply_effects", _leave_out_effects),
}


# What each row of --without leaves out: each part alone; the framework's own rules together (what
# the in-memory side does not do at all), so what is left of the gap is storage alone; and all
# four, so what is left is the task rows, the commits and finding the work.
RULES = ("validating the forms", "the audit trail", "notifications and escalations")
ROWS: dict[str, tuple[str, ...]] = {**{part: (part,) for part in PARTS},
                                    "forms, trail and notifications": RULES,
                                    "all four": tuple(PARTS)}


@contextmanager
def without(*parts: str) -> Iterator[None]:
    swaps = [(owner, name, owner.__dict__[name], stand_in)
             for owner, name, stand_in in (PARTS[part] for part in parts)]
    for owner, name, _, stand_in in swaps:
        setattr(owner, name, stand_in)
    try:
        yield
    finally:
        for owner, name, real, _ in swaps:
            setattr(owner, name, real)


def _walk_checked(b: Bench, script: Script, parts: tuple[str, ...] = ()) -> float:
    """One timed persisted walk, with `parts` left out; it must still close the audit, and (with
    the trail kept) fire the recorded deadlines."""
    with without(*parts):
        start = time.perf_counter()
        iid = walk_persisted(b, script)
        spent = time.perf_counter() - start
    with b.engine.db.connect() as conn:
        status = conn.execute(select(Instance.status).where(Instance.id == iid)).scalar_one()
        fired = conn.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == iid, AuditEvent.kind == "timer_fired")).scalar_one()
    if status != "completed" or ("the audit trail" not in parts and fired < script.timers_fired):
        raise PathwayMismatch(f"without {', '.join(parts)}: the audit is {status}, "
                              f"{fired} deadlines fired")
    return spent


def leaving_out(b: Bench, script: Script, repeat: int) -> dict[str, float]:
    """Median seconds of a persisted walk with each row's parts left out in turn, beside the
    whole ("") and SpiffWorkflow in memory ("in memory"): the rows take turns within each round,
    so the machine's noise falls on all alike, and the order turns by one row each round, so no
    row always comes first. A walk right after the in-memory one ran 1-2 ms slower than the
    next: when the whole came first in every round, each row's saving read that much too high."""
    walk: dict[str, Callable[[], float]] = {
        "": lambda: _walk_checked(b, script),
        **{row: lambda parts=parts: _walk_checked(b, script, parts) for row, parts in ROWS.items()},
        "in memory": lambda: _time_in_memory(b, script)[0]}
    names = list(walk)
    walks: dict[str, list[float]] = {name: [] for name in names}
    for turn in range(repeat):
        at = turn % len(names)
        for name in names[at:] + names[:at]:
            walks[name].append(walk[name]())
    return {name: statistics.median(times) for name, times in walks.items()}


def _print_leaving_out(b: Bench, script: Script, repeat: int) -> None:
    spent = leaving_out(b, script, repeat)
    whole, mem = spent[""], spent["in memory"]
    print(f"{'persisted walk without':<32} {'ms':>7} {'saves ms':>9} {'ratio then':>11}")
    print(f"{'(nothing left out)':<32} {whole * 1000:>7.1f} {'':>9} {whole / mem:>11.2f}")
    for row in ROWS:
        print(f"{row:<32} {spent[row] * 1000:>7.1f} {(whole - spent[row]) * 1000:>9.1f} "
              f"{spent[row] / mem:>11.2f}")
    print(f"(SpiffWorkflow in memory: {mem * 1000:.1f} ms)\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--live-cache-size", type=int, default=LIVE_CACHE_SIZE,
                    help="the engine's live-workflow cache; 0 rebuilds every workflow from storage")
    ap.add_argument("--profile", action="store_true",
                    help="also print own time per package for one walk of each side")
    ap.add_argument("--without", action="store_true",
                    help="also time the persisted walk with each part of the engine's work "
                         "(state, forms, audit trail, notifications) left out in turn")
    args = ap.parse_args()
    with bench(args.live_cache_size) as b:
        script = prepare(b)
        if args.profile:
            _print_profile(b, script)
        if args.without:
            _print_leaving_out(b, script, max(args.repeat, 9))
        timing = timed(b, script, args.repeat, runtime=True)
    n = len(script.steps)
    print(f"{'side':<10} {'walk ms':>9} {'per step ms':>12} {'cpu ms':>8}")
    for side, wall, cpu in (("in-memory", timing.mem, timing.mem_cpu),
                            ("persisted", timing.per, timing.per_cpu)):
        print(f"{side:<10} {wall * 1000:>9.1f} {wall * 1000 / n:>12.2f} {cpu * 1000:>8.1f}")
    print(f"{'runtime':<10} {timing.run * 1000:>9.1f} {timing.run * 1000 / n:>12.2f} "
          f"{'':>8}  (the engine's runtime in memory, no database: persisted is "
          f"{timing.run_ratio:.2f}x it)")
    print(f"{n} steps: {script.completions} task completions, {n - script.completions} clock moves "
          f"({script.timers_fired} of them fire deadlines); live cache {args.live_cache_size}")
    print(f"cpu-time ratio: {timing.per_cpu / timing.mem_cpu:.2f}")
    print(f"real pathway persisted/in-memory ratio: {timing.ratio:.2f} ({n} steps)")


if __name__ == "__main__":
    main()
