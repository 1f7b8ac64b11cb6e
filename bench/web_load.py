"""Fifty staff at once against gunicorn (4 workers) on PostgreSQL with 100,000 audits.

Seeds `qaflow_bench_web` with 100,000 audits and 1,000,000 audit-trail events (bench/bulk.py;
`--reuse` keeps an earlier seed), starts `gunicorn -w 4 'webui.wsgi:app'` on loopback and
runs a bounded load: each simulated member of staff is a thread with its own cookie session
that signs in through the real form (CSRF token and all), then loops: open My tasks, think,
open the most urgent task, think, submit its form filled with valid answers (read from the
form's own fields, which come from the task's JSON Schema), follow the redirect back to
My tasks. Think time is uniform between --think-min and --think-max seconds (0.5-2 s: far
brisker than real staff, so about 20 completions a second). The staff are drawn at random
from those holding enough open tasks to stay busy for the whole run. A probe, one more
signed-in session, fetches the sign-in page every 200 ms: the baseline, a page with no work
of its own (session, the person's row, a template) under the same load.

Only requests started after --warmup seconds count; then --duration seconds are measured.
Besides the latency the clients saw, the table gives each kind's time inside a gunicorn worker
(its access log): the difference is time spent waiting for a free worker or a CPU. The CPU
line says what the client, the workers, PostgreSQL and anything else on the machine used.
Afterwards the database is checked against what the clients saw: every completion a client
saw succeed is completed by that person in `human_task` with one `task_completed` event, and
nothing was completed that no client saw succeed. The last line is
`task list p95=… ms (target 50), submit p95=… ms (target 100), errors=…, lost=…, duplicated=…`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine as SqlEngine  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from engine import Engine  # noqa: E402
from engine.db import database_url  # noqa: E402
from engine.models import AuditEvent, HumanTask, Person  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/qaflow_bench_web"
LONDON = ZoneInfo("Europe/London")
KINDS = ("sign-in page (baseline)", "task list", "task form", "submit")
BASELINE, LIST, FORM, SUBMIT = KINDS
SIGN_IN = "sign-in"
PROBE_EVERY = 0.2
ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"  # method, path, status, microseconds in the worker
DONE_FLASH = "is complete for child"
RESHOWN = "form re-shown with errors"
ERROR_ITEM = re.compile(r'govuk-error-summary__list[^>]*>.*?<a [^>]*>\s*(.*?)\s*</a>', re.DOTALL)
ERROR_LIST = re.compile(r'govuk-error-summary__list[^>]*>(.*?)</ul>', re.DOTALL)
TASK_LINK = re.compile(r'href="/tasks/(\d+)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROW_BEYOND_FIRST = re.compile(r"^[a-z0-9_]+-([1-9]\d*)-")


# -- what the clients saw -------------------------------------------------------------------


@dataclass
class Record:
    """Every timed request and every outcome, shared by all client threads (under a lock)."""

    counted_from: float = math.inf
    counted_until: float = math.inf
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_reasons: Counter[str] = field(default_factory=Counter)
    completed: list[tuple[int, str]] = field(default_factory=list)  # (task id, username)
    outcomes: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, started: float, ms: float) -> None:
        if self.counted_from <= started < self.counted_until:
            with self.lock:
                self.samples[kind].append(ms)

    def error(self, kind: str, reason: str) -> None:
        with self.lock:  # errors count whenever they happen: warm-up is no excuse
            self.errors[kind] += 1
            self.error_reasons[f"{kind}: {reason}"] += 1

    def outcome(self, what: str, task: tuple[int, str] | None = None) -> None:
        with self.lock:
            self.outcomes[what] += 1
            if task is not None:
                self.completed.append(task)


class RequestFailed(Exception):
    """A request that did not get the response a browser would expect (already recorded)."""


def wrong_fields(page: str) -> list[str]:
    """Return the ids the error summary of a re-shown form links to (the questions in error)."""
    found = ERROR_LIST.search(page)
    return re.findall(r'href="#([^"]+)"', found.group(1)) if found else []


# -- one browser ----------------------------------------------------------------------------


class Browser:
    """An HTTP connection (kept alive where the server allows) with a cookie jar: a browser."""

    def __init__(self, port: int, record: Record):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.record = record

    def request(self, kind: str, method: str, path: str, form: list[tuple[str, str]] | None = None,
                expect: tuple[int, ...] = (200,)) -> tuple[int, str, str]:
        """Return (status, Location, body); record the time; raise RequestFailed if unexpected."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            page = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.record.error(kind, type(exc).__name__)
            raise RequestFailed(kind) from exc
        self.record.timed(kind, started, (time.perf_counter() - started) * 1000)
        self._keep_cookies(response.headers.get_all("Set-Cookie") or [])
        if response.status not in expect:
            self.record.error(kind, f"HTTP {response.status}")
            raise RequestFailed(kind)
        return response.status, urlsplit(response.headers.get("Location", "")).path, page

    def close(self) -> None:
        self.conn.close()

    def _keep_cookies(self, headers: list[str]) -> None:
        for header in headers:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value and "expires=thu, 01 jan 1970" not in header.lower():
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)

    def sign_in(self, username: str, password: str) -> None:
        _, _, page = self.request(SIGN_IN, "GET", "/sign-in")
        token = CSRF.search(page)
        if token is None:
            self.record.error(SIGN_IN, "no CSRF token on the sign-in page")
            raise RequestFailed(SIGN_IN)
        self.request(SIGN_IN, "POST", "/sign-in", [
            ("csrf_token", token.group(1)), ("username", username), ("password", password)],
            expect=(302,))


class FormReader(HTMLParser):
    """Read a task page's form and answer every question validly, as a careful person would.

    Radios take their first option, confirmation and other checkboxes are ticked, dates are
    today, short inputs get a time, other one-line inputs the person's own username (it fits
    every single-line pattern in processes/, including the ones that name a person), and text
    areas a sentence. Only the first of repeatable rows is filled. Questions revealed under an
    option that is not chosen are filled too: the server reads only the chosen option's ones.
    Where answers must agree with each other (a re-audit graded Good cannot say the file is
    still Inadequate), the page says which question is wrong and `correct` picks its next option.
    """

    def __init__(self, username: str, today: datetime):
        super().__init__(convert_charrefs=True)
        self.username, self.today = username, today
        self.answers: list[tuple[str, str]] = []
        self.options: dict[str, list[str]] = {}  # radio name -> its values, in page order
        self.chosen: dict[str, int] = {}  # radio name -> index of the chosen option
        self._in_form = False

    def form(self) -> list[tuple[str, str]]:
        """Return the answers as the browser would post them, with the Submit button."""
        radios = [(name, self.options[name][i]) for name, i in self.chosen.items()]
        return [*self.answers, *radios, ("action", "submit")]

    def correct(self, wrong: list[str]) -> bool:
        """Choose the next option of each radio question named wrong; False if none is a radio."""
        changed = False
        for name in wrong:
            if name in self.chosen and len(self.options[name]) > 1:
                self.chosen[name] = (self.chosen[name] + 1) % len(self.options[name])
                changed = True
        return changed

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post" and "action" not in a:
            self._in_form = True
        if not self._in_form or not a.get("name") or ROW_BEYOND_FIRST.match(a["name"]):
            return
        if tag == "textarea":
            self.answers.append((a["name"], "Discussed with the family; see the case notes."))
        elif tag == "input":
            self._input(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False

    def _input(self, a: dict[str, str]) -> None:
        name, kind, classes = a["name"], a.get("type", "text"), a.get("class", "")
        if kind == "hidden":
            self.answers.append((name, a.get("value", "")))
        elif kind == "radio":
            self.options.setdefault(name, []).append(a.get("value", ""))
            self.chosen.setdefault(name, 0)
        elif kind == "checkbox":
            self.answers.append((name, a.get("value", "yes")))
        elif name.endswith(("-day", "-month", "-year")):
            part = name.rsplit("-", 1)[1]
            self.answers.append((name, str(getattr(self.today, part))))
        elif a.get("inputmode") in ("numeric", "decimal"):
            self.answers.append((name, "1"))
        elif "govuk-input--width-5" in classes:
            self.answers.append((name, "10:00"))
        else:
            self.answers.append((name, self.username))


# -- the simulated staff --------------------------------------------------------------------


class BrowsingThread(threading.Thread):
    """A thread with its own Browser, whose connection it closes however its work ends."""

    browser: Browser

    def run(self) -> None:
        try:
            self.work()
        finally:
            self.browser.close()

    def work(self) -> None:
        raise NotImplementedError


class Staff(BrowsingThread):
    """One member of staff: signs in, then opens, fills and submits their tasks until the end."""

    def __init__(self, username: str, password: str, port: int, record: Record,
                 start: threading.Barrier, until: list[float], think: tuple[float, float],
                 seed: int):
        super().__init__(name=f"staff-{username}", daemon=True)
        self.username, self.password = username, password
        self.browser = Browser(port, record)
        self.record, self.start_line, self.until = record, start, until
        self.think_range, self.rng = think, random.Random(seed)
        self.skip: set[int] = set()

    def think(self) -> None:
        time.sleep(self.rng.uniform(*self.think_range))

    def work(self) -> None:
        try:
            self.browser.sign_in(self.username, self.password)
        except RequestFailed:
            self.record.outcome("could not sign in")
            return
        finally:
            self.start_line.wait()
        try:
            page = self._task_list()
            while time.perf_counter() < self.until[0]:
                page = self._one_task(page)
        except Exception as exc:  # a page the client cannot read counts against the run
            self.record.error("client", repr(exc))

    def _task_list(self) -> str:
        try:
            return self.browser.request(LIST, "GET", "/tasks")[2]
        except RequestFailed:
            return ""

    def _one_task(self, page: str) -> str:
        """Think, open the most urgent task, think, submit it; return the task list seen next."""
        waiting = [int(i) for i in TASK_LINK.findall(page) if int(i) not in self.skip]
        self.think()
        if not waiting:
            self.record.outcome("no task to open: list reloaded")
            return self._task_list()
        task_id = waiting[0]
        try:
            form_page = self.browser.request(FORM, "GET", f"/tasks/{task_id}")[2]
            reader = FormReader(self.username, datetime.now(LONDON))
            reader.feed(form_page)
            self.think()
            location = self._submit(task_id, reader)
        except RequestFailed:
            self.skip.add(task_id)
            return self._task_list()
        page = self._task_list() if location == "/tasks" else ""
        if DONE_FLASH in page:
            self.record.outcome("completed", (task_id, self.username))
        else:  # refused (someone moved the audit on first), or answers the page kept rejecting
            self.skip.add(task_id)
            self.record.outcome(f"not completed, sent to {location or '?'}")
        return page or self._task_list()

    def _submit(self, task_id: int, reader: FormReader) -> str:
        """Post the form, correcting answers the page says disagree; return where it went."""
        for _ in range(3):
            status, location, page = self.browser.request(
                SUBMIT, "POST", f"/tasks/{task_id}", reader.form(), expect=(200, 302))
            if status == 302:
                return location
            if not reader.correct(wrong_fields(page)):
                first = ERROR_ITEM.search(page)
                self.record.outcome(f"{RESHOWN}: {first.group(1) if first else '?'}")
                return ""
            self.record.outcome(f"{RESHOWN}, an answer corrected")
            self.think()
        return ""


class Probe(BrowsingThread):
    """One more signed-in session fetching the sign-in page at a steady rate: the baseline."""

    def __init__(self, username: str, password: str, port: int, record: Record,
                 start: threading.Barrier, until: list[float]):
        super().__init__(name="probe", daemon=True)
        self.browser = Browser(port, record)
        self.username, self.password, self.start_line, self.until = username, password, start, until

    def work(self) -> None:
        try:
            self.browser.sign_in(self.username, self.password)
        except RequestFailed:
            return
        finally:
            self.start_line.wait()
        while time.perf_counter() < self.until[0]:
            tick = time.perf_counter()
            try:
                self.browser.request(BASELINE, "GET", "/sign-in")
            except RequestFailed:
                pass
            time.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - tick)))


# -- the database ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    password: str
    candidates: list[str]
    audits: int
    events: int


def _admin(url: str) -> SqlEngine:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _saved_seed(url: str) -> Prepared | None:
    """Return the seed a previous run left in the database (bench_web_seed), if any."""
    admin = _admin(url)
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": make_url(url).database}).first()
    admin.dispose()
    if not exists:
        return None
    db = create_engine(url)
    try:
        with db.connect() as conn:
            row = conn.execute(text("SELECT to_regclass('bench_web_seed')")).scalar()
            if row is None:
                return None
            saved = json.loads(conn.execute(text("SELECT seeded FROM bench_web_seed")).scalar_one())
    finally:
        db.dispose()
    return Prepared(**saved)


def prepare(url: str, args: argparse.Namespace) -> Prepared:
    """Seed a fresh database (or reuse the one an earlier run seeded with --reuse)."""
    if args.reuse and (saved := _saved_seed(url)) is not None:
        print(f"reusing {make_url(url).database}: {saved.audits:,} audits, "
              f"{saved.events:,} seeded events")
        engine = Engine(url)
        engine.create_schema()  # migrations added since the seed (an index, say) apply here too
        engine.db.dispose()
        return saved
    from bench import bulk

    bulk.recreate_database(url)
    engine = Engine(url)
    engine.create_schema()
    started = time.perf_counter()
    seeded = bulk.seed(engine, args.audits, events=args.events, seed=args.seed)
    print(f"seeded {seeded.audits:,} audits and {seeded.events:,} events "
          f"in {time.perf_counter() - started:.0f} s")
    prepared = Prepared(seeded.password, list(seeded.users_with_tasks), seeded.audits,
                        seeded.events)
    with engine.db.begin() as conn:
        conn.execute(text("CREATE TABLE bench_web_seed (seeded TEXT NOT NULL)"))
        conn.execute(text("INSERT INTO bench_web_seed VALUES (:s)"),
                     {"s": json.dumps(prepared.__dict__)})
        conn.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would have by now
    engine.db.dispose()
    return prepared


def choose_staff(db: SqlEngine, prepared: Prepared, count: int, needed: int, seed: int) -> list[str]:
    """Pick `count` seeded staff at random among those holding at least `needed` open tasks.

    Enough work for the whole run: someone who runs out only reloads an empty list. If too few
    hold that many (a small seed, or earlier runs used them up), take the busiest instead.
    """
    with db.connect() as conn:
        held = conn.execute(
            select(Person.username, func.count())
            .join(HumanTask, HumanTask.assignee_id == Person.id)
            .where(HumanTask.status == "open", Person.username.in_(prepared.candidates),
                   Person.active.is_(True))
            .group_by(Person.username)).all()
    busy = sorted(name for name, n in held if n >= needed)
    if len(busy) >= count:
        return random.Random(seed).sample(busy, count)
    busiest = [name for name, _ in sorted(held, key=lambda r: (-r[1], r[0]))[:count]]
    print(f"only {len(busy)} staff hold {needed}+ open tasks; taking the {len(busiest)} busiest")
    return busiest


def completed_since(db: SqlEngine, since: datetime) -> dict[int, tuple[int, str, str]]:
    """Tasks completed at or after `since`: id -> (audit id, step, who)."""
    with db.connect() as conn:
        rows = conn.execute(
            select(HumanTask.id, HumanTask.instance_id, HumanTask.spec_name, Person.username)
            .outerjoin(Person, Person.id == HumanTask.completed_by_id)
            .where(HumanTask.status == "completed", HumanTask.completed_at >= since)).all()
    return {r[0]: (r[1], r[2], r[3] or "") for r in rows}


def completion_events(db: SqlEngine, after_id: int) -> Counter[tuple[int, str, str]]:
    """task_completed events after `after_id`, counted by (audit id, step, who)."""
    with db.connect() as conn:
        rows = conn.execute(select(AuditEvent.instance_id, AuditEvent.actor, AuditEvent.detail)
                            .where(AuditEvent.id > after_id,
                                   AuditEvent.kind == "task_completed")).all()
    return Counter((r[0] or 0, json.loads(r[2])["spec"], r[1]) for r in rows)


def last_event_id(db: SqlEngine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar_one())


@dataclass(frozen=True)
class Check:
    lost: int
    duplicated: int
    unseen: int


def check(db: SqlEngine, record: Record, since: datetime, events_after: int) -> Check:
    """Compare the completions the clients saw with the tasks and the trail in the database.

    lost: a client was told "complete" but the task is not completed by them, or its
    task_completed event is missing; duplicated: a task reported complete twice, or more
    task_completed events than completions; unseen: completed in the database although no
    client was told so (a success answer that never arrived counts here).
    """
    done = completed_since(db, since)
    seen = Counter(task_id for task_id, _ in record.completed)
    told = set(record.completed)
    lost = sum(1 for task_id, who in told if done.get(task_id, (0, "", ""))[2] != who)
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    expected = Counter(done[t] for t, who in told if t in done and done[t][2] == who)
    events, in_database = completion_events(db, events_after), Counter(done.values())
    lost += sum(max(0, n - events[k]) for k, n in expected.items())
    duplicated += sum(max(0, n - in_database[k]) for k, n in events.items())
    unseen = len(set(done) - set(seen))
    return Check(lost, duplicated, unseen)


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(url: str, port: int, workers: int, folder: Path) -> subprocess.Popen[bytes]:
    """Start the app as a council would run it: gunicorn's sync workers, settings by environment.

    Its access log (folder/access.log) gives each request's time inside a worker, so waiting for
    a free worker can be told apart from the work itself.
    """
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32)}
    env.pop("QAFLOW_DEMO", None)
    log = folder / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
             "--log-level", "warning", "--access-logfile", str(folder / "access.log"),
             "--access-logformat", ACCESS_FORMAT, "webui.wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    if wait_for_sign_in_page(port, lambda: server.poll() is None):
        return server
    if server.poll() is not None:
        raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
    stop(server)
    raise RuntimeError(f"gunicorn did not answer within 60 s: {log.read_text()[-2000:]}")


def wait_for_sign_in_page(port: int, alive: Callable[[], bool], seconds: float = 60.0,
                          attempt: float = 5.0) -> bool:
    """Ask for /sign-in until it answers 200; False once `seconds` pass or alive() is False.

    Each try's connection is closed whatever happens to it: a worker still booting lets the
    request wait in the listen queue until `attempt` runs out.
    """
    deadline = time.monotonic() + seconds
    while alive() and time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=attempt)
        try:
            conn.request("GET", "/sign-in")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    return False


def server_times(log: Path, start: int, end: int) -> dict[str, list[float]]:
    """Return the time inside a worker (ms) of each request logged between two log offsets."""
    with log.open("rb") as f:
        f.seek(start)
        lines = f.read(end - start).decode().splitlines()
    found: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        method, path, _status, micros = line.split()
        kind = {("GET", "/sign-in"): BASELINE, ("GET", "/tasks"): LIST}.get((method, path))
        if kind is None and re.fullmatch(r"/tasks/\d+", path):
            kind = FORM if method == "GET" else SUBMIT
        if kind is not None:
            found[kind].append(int(micros) / 1000)
    return found


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) of each process that still exists, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def postgres_pids(db: SqlEngine, name: str) -> list[int]:
    if db.dialect.name != "postgresql":
        return []
    with db.connect() as conn:
        return list(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :n"),
                                 {"n": name}).scalars())


def machine_cpu() -> tuple[float, float]:
    """Return (busy, total) CPU seconds of the whole machine so far, from /proc/stat (Linux)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / tick, sum(ticks) / tick


def used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


# -- the run --------------------------------------------------------------------------------


def percentile(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return math.nan
    return sorted_ms[max(0, math.ceil(p * len(sorted_ms)) - 1)]


def print_table(run: Run, window: float) -> dict[str, float]:
    """Print latency as the clients saw it, and the p50/p95 of the same requests inside a worker."""
    print(f"{'request':<26} {'count':>6} {'per s':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'errors':>6} {'in worker p50/p95':>18}")
    p95 = {}
    for kind in KINDS:
        ms = sorted(run.record.samples.get(kind, []))
        inside = sorted(run.server_ms.get(kind, []))
        p95[kind] = percentile(ms, 0.95)
        worker = f"{percentile(inside, 0.5):.1f}/{percentile(inside, 0.95):.1f}"
        print(f"{kind:<26} {len(ms):>6} {len(ms) / window:>6.1f} {percentile(ms, 0.5):>7.1f} "
              f"{p95[kind]:>7.1f} {percentile(ms, 0.99):>7.1f} {(ms[-1] if ms else math.nan):>7.1f} "
              f"{run.record.errors.get(kind, 0):>6} {worker:>18}")
    return p95


@dataclass
class Run:
    """What one load run saw, and where the database stood before it."""

    record: Record
    staff: int
    since: datetime  # completions at or after this are the run's
    events_after: int  # audit events after this id are the run's
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    database_cpu: float = 0.0
    machine_busy: float = 0.0  # CPU seconds every process on the machine used in the window
    server_ms: dict[str, list[float]] = field(default_factory=dict)  # time inside a worker


def run_load(args: argparse.Namespace, prepared: Prepared, staff: list[str], port: int,
             server: subprocess.Popen[bytes], db: SqlEngine, access_log: Path) -> Run:
    """Sign everyone in, then run the warm-up and the measured window."""
    run = Run(Record(), len(staff), datetime.now(UTC), last_event_id(db))
    until = [math.inf]
    line = threading.Barrier(len(staff) + 2)
    threads: list[threading.Thread] = [
        Staff(u, prepared.password, port, run.record, line, until,
              (args.think_min, args.think_max), args.seed * 1000 + i)
        for i, u in enumerate(staff)]
    threads.append(Probe(staff[0], prepared.password, port, run.record, line, until))
    for t in threads:
        t.start()
    line.wait()  # everyone has signed in
    now = time.perf_counter()
    run.record.counted_from = now + args.warmup
    run.record.counted_until = until[0] = now + args.warmup + args.duration
    time.sleep(args.warmup)
    workers = _children(server.pid)
    pg = postgres_pids(db, make_url(str(db.url)).database or "")
    client, gunicorn, postgres = time.process_time(), cpu_seconds(workers), cpu_seconds(pg)
    machine, log_from = machine_cpu()[0], access_log.stat().st_size
    time.sleep(max(0.0, run.record.counted_until - time.perf_counter()))
    run.client_cpu = time.process_time() - client
    run.server_cpu = used(gunicorn, cpu_seconds(workers))
    run.database_cpu = used(postgres, cpu_seconds(pg))
    run.machine_busy = machine_cpu()[0] - machine
    log_to = access_log.stat().st_size
    for t in threads:
        t.join(timeout=120)
    run.server_ms = server_times(access_log, log_from, log_to)
    return run


def report(args: argparse.Namespace, run: Run, db: SqlEngine) -> None:
    record, d = run.record, args.duration
    print(f"{run.staff} staff, think {args.think_min}-{args.think_max} s, gunicorn -w "
          f"{args.workers} (sync), {d:.0f} s measured after {args.warmup:.0f} s warm-up")
    p95 = print_table(run, d)
    base = p95[BASELINE]
    print(f"p95 against the baseline: task list {p95[LIST] / base:.1f}x, task form "
          f"{p95[FORM] / base:.1f}x, submit {p95[SUBMIT] / base:.1f}x")
    ours = run.client_cpu + run.server_cpu + run.database_cpu
    print(f"CPU in the window (100% = one core; {os.cpu_count()} cores): client "
          f"{run.client_cpu / d:.0%}, gunicorn workers {run.server_cpu / d:.0%}, PostgreSQL "
          f"{run.database_cpu / d:.0%}; anything else on the machine "
          f"{max(0.0, run.machine_busy - ours) / d:.0%}")
    print("outcomes: " + ", ".join(f"{k} {n}" for k, n in sorted(record.outcomes.items())))
    for reason, n in record.error_reasons.most_common(5):
        print(f"error: {reason} x{n}")
    result = check(db, record, run.since, run.events_after)
    print(f"database check: {len(record.completed)} completions seen by clients; "
          f"lost={result.lost} duplicated={result.duplicated} unseen={result.unseen}")
    errors = sum(record.errors.values())
    print(f"task list p95={p95[LIST]:.0f} ms (target 50), submit p95={p95[SUBMIT]:.0f} ms "
          f"(target 100), errors={errors}, lost={result.lost}, duplicated={result.duplicated}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=DEFAULT_URL)
    ap.add_argument("--reuse", action="store_true", help="keep the database an earlier run seeded")
    ap.add_argument("--audits", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds run but not measured")
    ap.add_argument("--think-min", type=float, default=0.5)
    ap.add_argument("--think-max", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    url = database_url(args.database_url)
    prepared = prepare(url, args)
    db = create_engine(url)
    # Each task takes two thinks, (think_min + think_max) seconds on average.
    needed = math.ceil((args.warmup + args.duration) / (args.think_min + args.think_max))
    staff = choose_staff(db, prepared, args.users, needed, args.seed)
    if not staff:
        raise SystemExit("no seeded staff hold an open task")
    port, folder = free_port(), Path(tempfile.mkdtemp(prefix="qaflow-web-load-"))
    server = start_gunicorn(url, port, args.workers, folder)
    try:
        run = run_load(args, prepared, staff, port, server, db, folder / "access.log")
    finally:
        stop(server)
    report(args, run, db)
    db.dispose()


if __name__ == "__main__":
    main()
