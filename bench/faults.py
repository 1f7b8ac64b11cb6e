"""Faults under load on PostgreSQL: nothing completed, fired or sent is lost or duplicated.

Recreates the database `qaflow_bench_faults`, migrates, deploys `processes/` and seeds the demo
organisation. Then runs, as real subprocesses with DATABASE_URL set, two web processes
(`qaflow serve`) and two timer workers (`qaflow worker`), with SMTP pointed at a fake SMTP
server this script runs (stdlib `socketserver`; it records the Message-ID of every message it
accepts). Staff client threads sign in through the form (with its CSRF token), open their task
list, open a task and submit its form, over HTTP; a CPP client starts deep-dive audits through
the web. Grading follow-ups are started whose one-week deadline timer falls due at a random
moment of the run, so timers fire while workers are being killed.

Faults, at seeded random moments: web and worker processes are SIGKILLed and restarted;
PostgreSQL is restarted once (`pg_ctlcluster ... restart`, or `--postgres-fault terminate`,
which only cuts this database's connections); the SMTP server answers every connection with
421 for a while. A process that dies by itself is counted and restarted, as a supervisor would.
Aimed faults (off by default) strike as the SMTP server accepts a message, before its 250:
`--cut-db-mid-send` cuts every database connection (the outbox must still record the message
once), `--kill-mid-send` SIGKILLs the workers (the one window at-least-once delivery leaves:
each makes one duplicate, with the same Message-ID, after notify.LEASE). Clients retry the
way a person would: after a failed submit they re-open the task; if it has left their list, the
earlier submit went through.

Afterwards every process is stopped, SMTP is up, and `qaflow worker --once` runs until the
outbox is drained. The checks: each acknowledged start is one audit; each acknowledged
completion is completed once, by that person, with one `task_completed` event; each planned
timer fired exactly once; every outbox message was received by the SMTP server exactly once,
with one `notification_sent` event; `qaflow audit-log verify` passes.

SMTP down for an hour: the CLI worker has no clock option, so the real outage here lasts
seconds. The hour is then simulated in-process on the engine's injectable clock (FrozenClock):
the outbox code the worker runs (`notify.deliver_pending` with the SMTP sender from the
environment, against the same fake server) is called twice a simulated minute (two workers
waking at least once a minute) while notifications are queued through the hour; the table says
how long each waited after SMTP came back and whether any was lost or sent twice.

Prints a table; the last line is `lost=N duplicated=N`.
"""

from __future__ import annotations

import argparse
import email.parser
import http.client
import http.cookies
import json
import logging
import os
import random
import re
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from bench.bulk import recreate_database  # noqa: E402
from engine import Engine, FrozenClock, demo, notify, org  # noqa: E402
from engine.definitions import Bundle  # noqa: E402
from engine.models import AuditEvent, HumanTask, Instance, Notification, Person  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/qaflow_bench_faults"
SECRET = "faults-bench-secret-shared-by-every-web-process"
LOAD, TIMED = "LD-", "TM-"  # child references of audits worked through the web / left to timers
TIMER_NAME = "One week after submission"
# (practitioner, auditor from the other service area, or another team), and who holds tasks.
PAIRS = (("sw.paul", "aud.aisha"), ("sw.priya", "aud.aisha"), ("sw.amira", "aud.aisha"),
         ("sw.peter", "aud.alex"), ("sw.nadia", "aud.alex"), ("sw.adam", "aud.alex"))
STAFF = ("aud.aisha", "aud.alex", "sw.paul", "sw.priya", "sw.amira", "sw.peter", "sw.nadia",
         "sw.adam", "tm.assess", "tm.cp", "tm.cic1", "tm.cic2", "sm.cin", "sm.cic")
STATUSES = ("CIN", "CP", "CiC")
PREFERRED = ("Good", "yes", "Yes")
SUBMITTED = "is complete for child"
SIM_SUBJECT = "Outage simulation"


# -- the fake SMTP server -------------------------------------------------------------------


class FakeSmtp:
    """Enough SMTP for smtplib (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT); 421 when down."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency  # seconds before each reply: a relay across a network
        self.received: Counter[str] = Counter()
        self.accepted_at: dict[str, list[float]] = {}  # Message-ID -> time.monotonic() of each
        self.refused = 0
        self.down = threading.Event()
        # Called once a message is recorded, before the 250: True means hang up without it.
        self.on_accept: Callable[[], bool] | None = None
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    owner._serve(self.rfile, self.wfile)
                except OSError:  # the sender was killed mid-conversation
                    pass

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True, name="smtp").start()

    def _serve(self, rfile: Any, wfile: Any) -> None:
        def reply(line: str) -> None:
            time.sleep(self.latency)
            wfile.write(line.encode() + b"\r\n")

        if self.down.is_set():
            with self._lock:
                self.refused += 1
            reply("421 4.3.2 Service not available, closing transmission channel")
            return
        reply("220 faults.invalid ESMTP")
        while line := rfile.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                reply("250-faults.invalid\r\n250-8BITMIME\r\n250 SMTPUTF8")
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                reply("250 2.0.0 OK")
            elif verb == b"DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                if not self._accept(rfile):
                    return  # the sender went before the final dot: nothing to deliver
                hook = self.on_accept
                if hook is not None and hook():
                    return
                reply("250 2.0.0 Queued")
            elif verb == b"QUIT":
                reply("221 2.0.0 Bye")
                return
            else:
                reply("502 5.5.2 Command not recognised")

    def _accept(self, rfile: Any) -> bool:
        """Read DATA up to its final dot and record the message; False if cut off before it."""
        lines = []
        while (line := rfile.readline()) not in (b".\r\n", b".\n"):
            if not line:
                return False
            lines.append(line[1:] if line.startswith(b"..") else line)
        headers = email.parser.BytesHeaderParser().parsebytes(b"".join(lines))
        message_id = str(headers.get("Message-ID", "")).strip()
        with self._lock:  # recorded: from here on the message counts as delivered
            self.received[message_id] += 1
            self.accepted_at.setdefault(message_id, []).append(time.monotonic())
        return True

    def twice(self) -> dict[str, list[float]]:
        """Message-ID -> acceptance times, for those accepted more than once."""
        with self._lock:
            return {mid: list(at) for mid, at in self.accepted_at.items() if len(at) > 1}

    def counts(self) -> Counter[str]:
        """Message-ID -> how many times it was accepted, so far."""
        with self._lock:
            return Counter(self.received)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- the processes ----------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    args: list[str]
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    wanted: bool = False
    killed: int = 0
    died: list[int] = field(default_factory=list)  # exit codes of deaths nobody caused


class Fleet:
    """Web and worker subprocesses; anything that dies by itself is counted and restarted."""

    def __init__(self, env: dict[str, str], logs: Path, webs: int, workers: int):
        self.env, self.logs = env, logs
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.procs: dict[str, Proc] = {}
        for i in range(webs):
            port = free_port()
            self.procs[f"web{i}"] = Proc(f"web{i}", ["serve", "--port", str(port)], port)
        for i in range(workers):
            self.procs[f"worker{i}"] = Proc(f"worker{i}", ["worker"])

    @property
    def ports(self) -> list[int]:
        return [p.port for p in self.procs.values() if p.port is not None]

    def names(self, kind: str) -> list[str]:
        return [n for n in self.procs if n.startswith(kind)]

    def start(self, name: str) -> None:
        with self._lock:
            proc = self.procs[name]
            if self._stop.is_set() or (proc.popen is not None and proc.popen.poll() is None):
                return  # stopping (a restart timer fired late), or running already
            with open(self.logs / f"{name}.log", "ab") as log:
                proc.popen = subprocess.Popen(
                    [sys.executable, "-m", "engine.cli", *proc.args], cwd=ROOT, env=self.env,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            proc.wanted = True

    def kill(self, name: str) -> bool:
        """SIGKILL the process and everything it started; False if it was not running."""
        with self._lock:
            proc = self.procs[name]
            if proc.popen is None or proc.popen.poll() is not None:
                return False
            proc.wanted = False
            os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()
            proc.killed += 1
            return True

    def watch(self) -> None:
        """Restart what died by itself a second later, as systemd's Restart=always would."""
        while not self._stop.wait(0.5):
            with self._lock:
                dead = [p for p in self.procs.values()
                        if p.wanted and p.popen is not None and p.popen.poll() is not None]
                for proc in dead:
                    proc.died.append(proc.popen.returncode)  # type: ignore[union-attr]
                    proc.wanted = False
            for proc in dead:
                threading.Timer(1.0, self.start, (proc.name,)).start()

    def stop_all(self) -> None:
        """SIGTERM everything (workers finish their pass), SIGKILL what is still there after 20 s."""
        self._stop.set()
        with self._lock:
            running = [p.popen for p in self.procs.values() if p.popen and p.popen.poll() is None]
            for p in self.procs.values():
                p.wanted = False
            for popen in running:
                os.killpg(popen.pid, signal.SIGTERM)
        for popen in running:
            try:
                popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on port {port} after {timeout:.0f} s")


# -- a person's browser -----------------------------------------------------------------------


class Transient(Exception):
    """The request did not get a usable answer: connection refused or cut, or a 5xx page."""

    def __init__(self, reason: str, refused: bool = False):
        super().__init__(reason)
        self.refused = refused  # nothing reached the server: certainly not done


class Stopped(Exception):
    """The load phase is over."""


@dataclass
class Page:
    status: int
    location: str
    body: str


class FormFields(HTMLParser):
    """The inputs of the page's main form (`<form method="post" novalidate>`)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, dict[str, str]]] = []
        self._inside = self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method") == "post" and "novalidate" in a and not self._done:
            self._inside = True
        elif self._inside and tag in ("input", "textarea", "select"):
            self.fields.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._inside:
            self._inside, self._done = False, True


def fill_form(page: str) -> list[tuple[str, str]]:
    """Answer every question the way a careful auditor would: preferred option, a date, a line."""
    parser = FormFields()
    parser.feed(page)
    data: list[tuple[str, str]] = []
    radios: dict[str, list[str]] = {}
    for tag, a in parser.fields:
        name, kind = a.get("name", ""), a.get("type", "text")
        if not name or tag == "select":
            continue
        if kind == "hidden":
            data.append((name, a.get("value", "")))
        elif kind == "radio":
            radios.setdefault(name, []).append(a.get("value", ""))
        elif kind == "checkbox":
            if a.get("value") == "yes" or a.get("id") == name:
                data.append((name, a.get("value", "")))
        else:
            data.append((name, _typed(name, a)))
    for name, values in radios.items():
        data.append((name, next((v for v in values if v in PREFERRED), values[0])))
    return data


def _typed(name: str, attrs: dict[str, str]) -> str:
    for suffix, value in (("-day", "12"), ("-month", "1"), ("-year", "2026"), ("_time", "10:30")):
        if name.endswith(suffix):
            return value
    if attrs.get("inputmode") == "numeric":
        return "1"
    return "Discussed and recorded on the child's file."


def csrf_token(page: str) -> str:
    return dict(fill_form(page)).get("csrf_token", "")


class Browser:
    """One person's cookies over plain HTTP to whichever web process answers (a load balancer)."""

    def __init__(self, username: str, ports: list[int], rng: random.Random,
                 stop: threading.Event, ledger: Ledger):
        self.username, self.ports, self.rng, self.stop, self.ledger = username, ports, rng, stop, ledger
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, form: list[tuple[str, str]] | None = None) -> Page:
        conn = http.client.HTTPConnection("127.0.0.1", self.rng.choice(self.ports), timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            text_ = resp.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            self.ledger.count(f"{type(exc).__name__}")
            raise Transient(str(exc), isinstance(exc, ConnectionRefusedError)) from exc
        finally:
            conn.close()
        for header in resp.headers.get_all("Set-Cookie") or []:
            for name, morsel in http.cookies.SimpleCookie(header).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        if resp.status >= 500:
            self.ledger.count(f"HTTP {resp.status}")
            raise Transient(f"HTTP {resp.status}")
        return Page(resp.status, resp.getheader("Location", "") or "", text_)

    def pause(self, low: float = 0.3, high: float = 1.5) -> None:
        if self.stop.wait(self.rng.uniform(low, high)):
            raise Stopped

    def get(self, path: str) -> Page:
        """GET, trying again after a pause until an answer comes (a person pressing reload)."""
        while True:
            if self.stop.is_set():
                raise Stopped
            try:
                return self.send("GET", path)
            except Transient:
                self.pause()

    def open(self, path: str) -> Page:
        """GET a page, signing in again first if the session has gone."""
        page = self.get(path)
        if page.status == 302 and "sign-in" in page.location:
            self.sign_in()
            page = self.get(path)
        return page

    def sign_in(self) -> None:
        while True:
            token = csrf_token(self.get("/sign-in").body)
            try:
                page = self.send("POST", "/sign-in", [
                    ("csrf_token", token), ("username", self.username),
                    ("password", demo.DEMO_PASSWORD)])
            except Transient:
                self.pause()
                continue
            if page.status == 302 and "sign-in" not in page.location:
                return
            raise RuntimeError(f"{self.username} could not sign in: HTTP {page.status}")


# -- what the clients saw -----------------------------------------------------------------


@dataclass
class Ledger:
    """Acknowledgements the clients received, and the trouble they met on the way."""

    acks: Counter[int] = field(default_factory=Counter)  # task id -> acknowledgements
    ack_by: dict[int, str] = field(default_factory=dict)
    confirmed_late: int = 0  # submit failed, task then gone from the list: it had gone through
    starts: Counter[str] = field(default_factory=Counter)  # child ref -> acknowledgements
    started_late: int = 0
    ambiguous: int = 0  # submits whose answer never came
    doubts: set[str] = field(default_factory=set)  # in hand when the load stopped
    rejected: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        with self.lock:
            self.errors[what] += 1

    def completed(self, task_id: int, username: str, late: bool) -> None:
        with self.lock:
            self.acks[task_id] += 1
            self.ack_by[task_id] = username
            self.confirmed_late += late

    def started(self, child_ref: str, late: bool) -> None:
        with self.lock:
            self.starts[child_ref] += 1
            self.started_late += late

    def unsure(self) -> None:
        with self.lock:
            self.ambiguous += 1

    def doubt(self, what: str) -> None:
        with self.lock:
            self.doubts.add(what)

    def resolve(self, what: str) -> None:
        with self.lock:
            self.doubts.discard(what)

    def refuse(self, what: str) -> None:
        with self.lock:
            self.rejected.append(what)


TASK_LINK = re.compile(r'href="/tasks/(\d+)">[^<]*<span class="govuk-visually-hidden"> for child '
                       r"([^<]+)</span>")
FLASH = re.compile(r'govuk-notification-banner__heading">\s*(.*?)\s*</', re.S)


def cut_off(ledger: Ledger, browser: Browser, exc: Transient) -> bool:
    """A request got no answer: pause like a person would; return whether it may have reached
    the server (then what it did must be looked for before trying again)."""
    if not exc.refused:
        ledger.unsure()
    browser.pause()
    return not exc.refused


class StaffClient(threading.Thread):
    """A member of staff doing the tasks of the load audits in their list, one after another."""

    def __init__(self, username: str, ports: list[int], seed: int, stop: threading.Event,
                 ledger: Ledger):
        super().__init__(daemon=True, name=username)
        self.username, self.ledger = username, ledger
        self.browser = Browser(username, ports, random.Random(seed), stop, ledger)

    def run(self) -> None:
        try:
            self.browser.sign_in()
            while True:
                task_id = self._next_task()
                if task_id is None:
                    self.browser.pause(0.5, 2.0)
                    continue
                self._do(task_id)
                self.browser.pause(0.1, 0.6)
        except Stopped:
            return

    def _next_task(self) -> int | None:
        for task_id, child in TASK_LINK.findall(self.browser.open("/tasks").body):
            if child.startswith(LOAD):
                return int(task_id)
        return None

    def _do(self, task_id: int) -> None:
        self.ledger.doubt(f"task {task_id}")
        self._try(task_id)  # the load stopping mid-way leaves the doubt open
        self.ledger.resolve(f"task {task_id}")


    def _try(self, task_id: int) -> None:
        """Open the task and submit it; after a failed submit, re-open it as a person would."""
        unsure = False
        for _ in range(30):
            page = self.browser.open(f"/tasks/{task_id}")
            if page.status == 404:
                if unsure:  # it left my list after my own submit: that submit went through
                    self.ledger.completed(task_id, self.username, late=True)
                return
            if page.status != 200:
                self.browser.sign_in()
                continue
            try:
                answer = self.browser.send("POST", f"/tasks/{task_id}",
                                           fill_form(page.body) + [("action", "submit")])
            except Transient as exc:
                unsure = cut_off(self.ledger, self.browser, exc) or unsure
                continue
            if answer.status == 302 and answer.location.endswith("/tasks"):
                banner = " ".join(FLASH.findall(self.browser.open("/tasks").body))
                if SUBMITTED in banner:
                    self.ledger.completed(task_id, self.username, late=False)
                    return
                unsure = True  # told someone changed the audit meanwhile, or no word: look again
                self.browser.pause()
                continue
            if answer.status in (302, 400):  # signed out, or the form's token went stale
                self.browser.sign_in()
                continue
            self.ledger.refuse(f"{self.username} task {task_id}: HTTP {answer.status}")
            return


class CppClient(threading.Thread):
    """CPP allocating deep-dive audits through the web, checking the list before trying again."""

    def __init__(self, ports: list[int], seed: int, stop: threading.Event, ledger: Ledger,
                 every: float):
        super().__init__(daemon=True, name="cpp")
        self.rng, self.ledger, self.every = random.Random(seed), ledger, every
        self.browser = Browser("cpp.chris", ports, self.rng, stop, ledger)

    def run(self) -> None:
        try:
            self.browser.sign_in()
            for n in range(1, 100000):
                self.ledger.doubt(f"start {LOAD}{n:05d}")
                self._start(f"{LOAD}{n:05d}")
                self.ledger.resolve(f"start {LOAD}{n:05d}")
                self.browser.pause(self.every * 0.5, self.every * 1.5)
        except Stopped:
            return

    def _start(self, child_ref: str) -> None:
        practitioner, auditor = self.rng.choice(PAIRS)
        form = [("child_ref", child_ref), ("child_status", self.rng.choice(STATUSES)),
                ("audit_type", "monthly"), ("auditor", auditor), ("practitioner", practitioner),
                ("supplementary_reading", "")]
        unsure = False
        for _ in range(30):
            if unsure and re.search(rf"\b{re.escape(child_ref)}\b", self.browser.open("/audits").body):
                self.ledger.started(child_ref, late=True)  # it is in the list: it had started
                return
            token = csrf_token(self.browser.open("/audits/new").body)
            try:
                page = self.browser.send("POST", "/audits/new", [("csrf_token", token), *form])
            except Transient as exc:
                unsure = cut_off(self.ledger, self.browser, exc) or unsure
                continue
            if page.status == 302 and re.search(r"/audits/\d+$", page.location):
                self.ledger.started(child_ref, late=False)
                return
            if page.status in (302, 400):
                self.browser.sign_in()
                continue
            self.ledger.refuse(f"start {child_ref}: HTTP {page.status}")
            return


# -- faults -----------------------------------------------------------------------------------


@dataclass(order=True)
class Fault:
    at: float
    kind: str
    pause: float = 0.0  # how long a killed process stays down before it is started again


def plan_faults(rng: random.Random, duration: float, every: float, kills: list[str],
                outage: float, mid_send: dict[str, int]) -> list[Fault]:
    """Kills of each kind of process in `kills` about every `every` s, one PostgreSQL fault,
    one SMTP outage, and faults aimed at the moment SMTP accepts a message (`mid_send`: kind
    -> how many): at seeded random moments inside the load phase."""
    plan = [Fault(rng.uniform(0.1, 0.4) * duration, kind, rng.uniform(0.2, 3.0))
            for kind, n in sorted(mid_send.items()) for _ in range(n)]
    for kind in kills:
        at = rng.uniform(2, every)
        while at < duration - 5:
            plan.append(Fault(at, kind, rng.uniform(0.2, 3.0)))
            at += rng.uniform(every * 0.5, every * 1.5)
    plan.append(Fault(rng.uniform(0.3, 0.7) * duration, "postgres"))
    if outage > 0:
        start = rng.uniform(0.1, max(0.1, 0.9 - outage / duration)) * duration
        plan += [Fault(start, "smtp-down"), Fault(start + outage, "smtp-up")]
    return sorted(plan)


@dataclass
class FaultLog:
    t0: float = 0.0  # time.monotonic() when the load began
    events: list[tuple[float, str]] = field(default_factory=list)  # seconds after t0, what
    postgres_down: float = 0.0
    mid_send: int = 0
    mid_send_db: int = 0
    extra: float = 0.0  # seconds the load went on after `duration`, for --min-completions

    def note(self, t0: float, what: str) -> None:
        self.events.append((time.monotonic() - t0, what))

    @property
    def lines(self) -> list[str]:
        return [f"{at:7.1f} s  {what}" for at, what in self.events]


def postgres_fault(url: str, mode: str) -> str:
    """Restart the cluster behind `url` (or cut this database's connections); say how."""
    u = make_url(url)
    if mode == "terminate":
        admin = create_engine(u.set(database="postgres"), poolclass=NullPool)
        with admin.begin() as c:
            n = c.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = :db AND pid <> pg_backend_pid()"),
                          {"db": u.database}).scalar_one()
        admin.dispose()
        return f"terminated {n} connections to {u.database}"
    for command in (_pg_ctlcluster(u.port or 5432), ["systemctl", "restart", "postgresql"],
                    ["service", "postgresql", "restart"]):
        if command and subprocess.run(command, capture_output=True).returncode == 0:
            return " ".join(command)
    raise RuntimeError("could not restart PostgreSQL (pg_ctlcluster, systemctl, service)")


def _pg_ctlcluster(port: int) -> list[str]:
    try:
        out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    for line in out.splitlines():
        version, cluster, cport = line.split()[:3]
        if int(cport) == port:
            return ["pg_ctlcluster", version, cluster, "restart"]
    return []


def arm_mid_send(smtp: FakeSmtp, fleet: Fleet, log: FaultLog, t0: float, fault: Fault,
                 url: str) -> None:
    """At the next message SMTP accepts, before its 250 reaches the sender: SIGKILL every
    worker ("mid-send-kill": the message is out, no worker lives to record it), or cut every
    connection to the database ("mid-send-db": the worker lives, its database session does not)."""
    once = threading.Lock()

    def hook() -> bool:
        if not once.acquire(blocking=False):
            return False
        smtp.on_accept = None
        if fault.kind == "mid-send-db":
            log.mid_send_db += 1
            log.note(t0, f"SMTP accepted a message: {postgres_fault(url, 'terminate')}")
            return False  # the 250 goes out; recording it as sent meets a dead connection
        victims = [n for n in fleet.names("worker") if fleet.kill(n)]
        log.mid_send += 1
        log.note(t0, f"SMTP accepted a message: SIGKILL {', '.join(victims)} before its 250")
        for name in victims:
            threading.Timer(fault.pause, fleet.start, (name,)).start()
        return True

    smtp.on_accept = hook
    log.note(t0, f"armed {fault.kind}: at the next message SMTP accepts")


def run_faults(plan: list[Fault], fleet: Fleet, smtp: FakeSmtp, url: str, mode: str,
               t0: float, stop: threading.Event, log: FaultLog, rng: random.Random) -> None:
    for fault in plan:
        if stop.wait(max(0.0, t0 + fault.at - time.monotonic())):
            return
        if fault.kind in ("web", "worker"):
            names = fleet.names(fault.kind)
            rng.shuffle(names)
            victim = next((n for n in names if fleet.kill(n)), None)
            if victim is not None:
                log.note(t0, f"SIGKILL {victim}; restart in {fault.pause:.1f} s")
                threading.Timer(fault.pause, fleet.start, (victim,)).start()
        elif fault.kind == "postgres" and mode != "none":
            started = time.monotonic()
            how = postgres_fault(url, mode)
            log.postgres_down = time.monotonic() - started
            log.note(t0, f"PostgreSQL: {how} ({log.postgres_down:.1f} s)")
        elif fault.kind.startswith("mid-send"):
            arm_mid_send(smtp, fleet, log, t0, fault, url)
        elif fault.kind == "smtp-down":
            smtp.down.set()
            log.note(t0, "SMTP down: 421 to every connection")
        elif fault.kind == "smtp-up":
            smtp.down.clear()
            log.note(t0, "SMTP up")


# -- setting up -------------------------------------------------------------------------------


def prepare(engine: Engine, rng: random.Random, initial: int) -> None:
    """Schema, the framework's processes, the demo organisation and a first batch of audits."""
    engine.create_schema()
    engine.deploy(Bundle.from_paths([ROOT / "processes"]), "bench", "faults bench")
    demo.seed(engine, audits=False)
    for i in range(initial):
        practitioner, auditor = rng.choice(PAIRS)
        engine.start("deep_dive_audit", "cpp.chris",
                     {"child_ref": f"{LOAD}I{i:04d}", "child_status": rng.choice(STATUSES),
                      "audit_type": "monthly", "supplementary_reading": ""},
                     practitioner=practitioner, auditor=auditor)


def start_timed(engine: Engine, rng: random.Random, n: int, within: tuple[float, float]
                ) -> dict[int, datetime]:
    """Follow-ups submitted a week ago, less a few seconds: their one-week deadline falls due
    during the run. Nobody works them, so each deadline must fire; returns audit -> due."""
    now = datetime.now(UTC)
    due: dict[int, datetime] = {}
    for i in range(n):
        at = now + timedelta(seconds=rng.uniform(*within))
        practitioner, auditor = rng.choice(PAIRS)
        audit_id = engine.start("grading_follow_up", "cpp.chris", {
            "child_ref": f"{TIMED}{i:04d}", "child_status": rng.choice(STATUSES),
            "audit_type": "monthly", "grade": rng.choice(("Requires Improvement", "Inadequate")),
            "audit_submitted_at": (at - timedelta(weeks=1)).isoformat(),
            "followup_started_at": now.isoformat()}, practitioner=practitioner, auditor=auditor)
        with engine.transaction() as s:
            due[audit_id] = s.get(Instance, audit_id).next_timer_at  # type: ignore[union-attr,assignment]
    return due


def drain(engine: Engine, env: dict[str, str], timeout: float) -> tuple[float, int]:
    """`qaflow worker --once` until no timer is due and the outbox is empty; (seconds, passes).

    A message that failed during the outage waits for its retry time (notify.py's backoff), so
    this may sleep until then rather than bring the retry forward."""
    started, passes = time.monotonic(), 0
    while True:
        subprocess.run([sys.executable, "-m", "engine.cli", "worker", "--once"], cwd=ROOT,
                       env=env, check=True, capture_output=True)
        passes += 1
        with engine.transaction() as s:
            pending, soonest = s.execute(select(func.count(), func.min(Notification.next_attempt_at))
                                         .where(Notification.status == "pending")).one()
            due = s.execute(select(func.count()).select_from(Instance).where(
                Instance.status == "running", Instance.next_timer_at <= engine.now())).scalar_one()
        if (not pending and not due) or time.monotonic() - started > timeout:
            return time.monotonic() - started, passes
        wait = (soonest - engine.now()).total_seconds() if soonest is not None else 0.0
        time.sleep(min(max(wait + 0.5, 0.5), 30.0))


# -- the checks -------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    expected: int
    found: int
    lost: int
    duplicated: int


def _events(s: Any, kind: str, child_prefix: str | None = None) -> list[tuple[int | None, dict[str, Any]]]:
    q = select(AuditEvent.instance_id, AuditEvent.detail).where(AuditEvent.kind == kind)
    if child_prefix is not None:
        q = q.where(AuditEvent.child_ref.like(f"{child_prefix}%"))
    return [(iid, json.loads(detail)) for iid, detail in s.execute(q).all()]


def check_starts(s: Any, ledger: Ledger, initial: int) -> list[Row]:
    """Each audit CPP saw started (and each started at setup) exists exactly once; an audit
    nobody was told had started must be one CPP was still starting when the load stopped."""
    counts = Counter(s.execute(select(Instance.child_ref)
                               .where(Instance.child_ref.like(f"{LOAD}%"))).scalars())
    wanted = set(ledger.starts) | {f"{LOAD}I{i:04d}" for i in range(initial)}
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    duplicated += sum(n - 1 for n in ledger.starts.values() if n > 1)
    unexplained = [c for c in counts if c not in wanted and f"start {c}" not in ledger.doubts]
    return [Row("audits started", len(wanted), sum(1 for c in wanted if counts[c] == 1),
                sum(1 for c in wanted if counts[c] == 0), duplicated),
            Row("audits started that nobody asked for", 0, 0, 0, len(unexplained))]


def check_completions(s: Any, ledger: Ledger) -> tuple[list[Row], int]:
    """Each acknowledged completion: completed, by that person, with one task_completed event;
    no task of the load audits completed twice; a completion nobody was told of must be of a
    task someone had in hand when the load stopped. Also returns how many the database holds."""
    events = Counter((iid, d["spec"]) for iid, d in _events(s, "task_completed", LOAD))
    done = s.execute(select(HumanTask.id, HumanTask.instance_id, HumanTask.spec_name, Person.username)
                     .join(Instance, Instance.id == HumanTask.instance_id)
                     .outerjoin(Person, Person.id == HumanTask.completed_by_id)
                     .where(HumanTask.status == "completed",
                            Instance.child_ref.like(f"{LOAD}%"))).all()
    by_id = {row.id: row for row in done}
    found = lost = 0
    for task_id, username in ledger.ack_by.items():
        row = by_id.get(task_id)
        if row is not None and row.username == username and events[(row.instance_id, row.spec_name)]:
            found += 1
        else:
            lost += 1
    rows_per_step = Counter((row.instance_id, row.spec_name) for row in done)
    duplicated = (sum(n - 1 for n in events.values() if n > 1)
                  + sum(n - 1 for n in rows_per_step.values() if n > 1)
                  + sum(n - 1 for n in ledger.acks.values() if n > 1))
    unexplained = [r.id for r in done if r.id not in ledger.ack_by and f"task {r.id}" not in ledger.doubts]
    return [Row("task completions acknowledged", len(ledger.ack_by), found, lost, duplicated),
            Row("task completions nobody submitted", 0, 0, 0, len(unexplained))], len(done)


def check_timers(s: Any, engine: Engine, expected: dict[int, datetime]) -> Row:
    """Each planned deadline fired exactly once; nothing else fired; nothing due is left."""
    fired = Counter(iid for iid, d in _events(s, "timer_fired") if d.get("timer") == TIMER_NAME)
    others = sum(1 for _, d in _events(s, "timer_fired") if d.get("timer") != TIMER_NAME)
    unfired = s.execute(select(func.count()).select_from(Instance).where(
        Instance.status == "running", Instance.next_timer_at <= engine.now())).scalar_one()
    due = {iid for iid, at in expected.items() if at <= engine.now()}
    return Row("deadlines due (one week after submission)", len(due),
               sum(1 for iid in due if fired[iid] == 1),
               sum(1 for iid in due if fired[iid] == 0) + unfired,
               sum(n - 1 for n in fired.values() if n > 1) + others
               + sum(1 for iid in fired if iid not in expected))


def check_outbox(s: Any, smtp: FakeSmtp, simulated: bool) -> list[Row]:
    """Every outbox message marked sent, received by the SMTP server once, recorded once."""
    where = (Notification.subject == SIM_SUBJECT) if simulated else (Notification.subject != SIM_SUBJECT)
    notes = s.execute(select(Notification.message_id, Notification.status).where(where)).all()
    ids = {mid for mid, _ in notes}
    logged = Counter(d["message_id"] for _, d in _events(s, "notification_sent") if d["message_id"] in ids)
    received = smtp.counts()
    got = [received[mid] for mid in ids]
    prefix = "simulated outage: " if simulated else ""
    rows = [
        Row(f"{prefix}messages received by SMTP", len(ids), got.count(1), got.count(0),
            sum(n - 1 for n in got if n > 1)),
        Row(f"{prefix}outbox rows marked sent", len(ids),
            sum(1 for _, st in notes if st == "sent"), sum(1 for _, st in notes if st != "sent"), 0),
        Row(f"{prefix}notification_sent events", len(ids), sum(1 for n in logged.values() if n == 1),
            len(ids) - len(logged), sum(n - 1 for n in logged.values() if n > 1)),
    ]
    if not simulated:
        queued = set(s.execute(select(Notification.message_id)).scalars())
        strangers = sum(n for mid, n in received.items() if mid not in queued)
        rows.append(Row("messages received that nobody queued", 0, 0, 0, strangers))
    return rows


def explain_duplicates(s: Any, smtp: FakeSmtp, faults: FaultLog) -> list[tuple[str, str]]:
    """For each message accepted twice: when, how many attempts the outbox counted, and the
    faults injected within a second before its first acceptance (the likely cause)."""
    found = []
    for mid, times in smtp.twice().items():
        attempts = s.execute(select(Notification.attempts)
                             .where(Notification.message_id == mid)).scalar_one_or_none()
        first = times[0] - faults.t0
        near = [what for at, what in faults.events if first - 1.0 <= at <= first + 0.5]
        found.append((f"sent twice: {mid[1:13]}",
                      f"accepted at {', '.join(f'{t - faults.t0:.1f}' for t in times)} s; "
                      f"{attempts} attempts; faults just before: {'; '.join(near) or 'none'}"))
    return found


# -- an hour without SMTP, on the injectable clock ---------------------------------------------


@dataclass
class OutageResult:
    queued: int
    longest_wait: timedelta
    most_attempts: int
    first_schedule: list[int]  # minutes after its first attempt at which the first note was tried


def simulate_outage(url: str, smtp: FakeSmtp, hours: float, per_minute: int, workers: int
                    ) -> OutageResult:
    """Queue `per_minute` notifications every minute of an SMTP outage of `hours`; `workers`
    workers each run the outbox once a simulated minute (the most a worker sleeps), with the
    real SMTP sender, until everything is out or 24 simulated hours have passed."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    engine = Engine(url, clock=clock)
    real_send = notify.smtp_sender_from_env()
    assert real_send is not None, "SMTP_HOST is not set"
    tries: dict[str, list[datetime]] = {}

    def send(note: Notification) -> None:
        tries.setdefault(note.message_id, []).append(clock.now())
        real_send(note)

    begin = clock.now()
    end, queued = begin + timedelta(hours=hours), 0
    smtp.down.set()
    smtp.latency = 0.0  # real seconds do not move the simulated clock: no need to wait them
    while clock.now() < begin + timedelta(hours=24):
        if clock.now() >= end:
            smtp.down.clear()
        else:
            with engine.transaction() as s:
                people = [org.person(s, u) for u in STAFF[:per_minute]]
                for person in people:
                    engine.tell(s, [person], SIM_SUBJECT, f"Queued at {clock.now():%H:%M} (simulated)")
                queued += len(people)
        for _ in range(workers):
            notify.deliver_pending(engine, send)
        if clock.now() >= end and not _pending(engine):
            break
        clock.advance(timedelta(minutes=1))
    with engine.transaction() as s:
        sent = s.execute(select(Notification.sent_at).where(Notification.subject == SIM_SUBJECT,
                                                            Notification.sent_at.is_not(None))).scalars()
        longest = max((at - end for at in sent), default=timedelta(0))
    engine.db.dispose()
    first = min(tries.values(), key=lambda t: t[0], default=[])
    return OutageResult(queued, longest, max((len(t) for t in tries.values()), default=0),
                        [round((t - first[0]).total_seconds() / 60) for t in first])


def _pending(engine: Engine) -> int:
    with engine.transaction() as s:
        return int(s.execute(select(func.count()).select_from(Notification)
                             .where(Notification.status == "pending")).scalar_one())


# -- the run ----------------------------------------------------------------------------------


def environment(url: str, smtp_port: int) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET, "QAFLOW_DEMO": "",
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_STARTTLS": "0",
           "SMTP_FROM": "qa-framework@faults.invalid", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT)}
    for key in ("SMTP_USERNAME", "SMTP_PASSWORD"):
        env.pop(key, None)
    return env


@contextmanager
def running(fleet: Fleet) -> Iterator[None]:
    for name in fleet.procs:
        fleet.start(name)
    try:
        for port in fleet.ports:
            wait_for_port(port)
        threading.Thread(target=fleet.watch, daemon=True, name="supervisor").start()
        yield
    finally:
        fleet.stop_all()


def load_phase(args: argparse.Namespace, rng: random.Random, fleet: Fleet, smtp: FakeSmtp,
               faults: FaultLog) -> Ledger:
    """Clients work for `duration` seconds while the planned faults happen."""
    ledger, stop = Ledger(), threading.Event()
    clients: list[threading.Thread] = [
        StaffClient(u, fleet.ports, rng.randrange(1 << 30), stop, ledger) for u in STAFF]
    clients.append(CppClient(fleet.ports, rng.randrange(1 << 30), stop, ledger, args.start_every))
    aimed = {"mid-send-kill": args.kill_mid_send, "mid-send-db": args.cut_db_mid_send}
    plan = plan_faults(random.Random(rng.randrange(1 << 30)), args.duration, args.kill_every,
                       [k for k in args.kill.split(",") if k], args.smtp_outage, aimed)
    t0 = faults.t0 = time.monotonic()
    injector = threading.Thread(target=run_faults, name="faults", args=(
        plan, fleet, smtp, args.database_url, args.postgres_fault, t0, stop, faults,
        random.Random(rng.randrange(1 << 30))))
    for c in [*clients, injector]:
        c.start()
    time.sleep(args.duration)
    # A slow machine can spend a short run mostly restarting what was killed: the load goes on,
    # with no new faults, until the clients have been told of enough completions to check.
    until = time.monotonic() + args.duration
    while len(ledger.ack_by) < args.min_completions and time.monotonic() < until:
        time.sleep(0.2)
    faults.extra = max(0.0, time.monotonic() - t0 - args.duration)
    stop.set()
    for c in [*clients, injector]:
        c.join(timeout=120)
    smtp.down.clear()
    smtp.on_accept = None  # an aimed fault that found no message in time strikes no later
    return ledger


def print_report(args: argparse.Namespace, fleet: Fleet, faults: FaultLog, refused: int,
                 ledger: Ledger, rows: list[Row], after: list[tuple[str, str]]) -> None:
    procs = fleet.procs.values()
    died = {p.name: p.died for p in procs if p.died}
    pg = next((ln.split("PostgreSQL: ")[1] for ln in faults.lines if "PostgreSQL: " in ln), "none")
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("faults injected", [
            ("web processes SIGKILLed, then restarted",
             str(sum(p.killed for p in procs if p.name.startswith("web")))),
            ("worker processes SIGKILLed, then restarted",
             str(sum(p.killed for p in procs if p.name.startswith("worker")))),
            ("  of which as SMTP accepted a message", f"{faults.mid_send} (of {args.kill_mid_send} aimed)"),
            ("PostgreSQL", pg),
            ("DB connections cut as SMTP accepted a message",
             f"{faults.mid_send_db} (of {args.cut_db_mid_send} aimed)"),
            (f"SMTP outage: 421 for {args.smtp_outage:.0f} s", f"{refused} connections refused"),
            ("processes that died by themselves (restarted)",
             f"{sum(len(d) for d in died.values())} {died or ''}"),
        ]),
        ("what the clients met", [
            ("requests with no answer (refused, cut, 5xx)",
             f"{sum(ledger.errors.values())} {dict(ledger.errors.most_common())}"),
            ("submits cut off before their answer came",
             f"{ledger.ambiguous} ({ledger.confirmed_late} tasks and {ledger.started_late} audits "
             "found done on re-opening)"),
            ("forms refused (should be 0)", f"{len(ledger.rejected)} {ledger.rejected[:3] or ''}"),
        ]),
        ("after the load", after),
    ]
    extra = f" (+{faults.extra:.0f} s, no new faults, until {args.min_completions} completions " \
        "were acknowledged)" if faults.extra >= 0.5 else ""
    print(f"faults on PostgreSQL, seed {args.seed}: {args.duration:.0f} s of load{extra}, "
          f"{len(fleet.names('web'))} web + {len(fleet.names('worker'))} worker processes, "
          f"{len(STAFF)} staff + 1 CPP client threads")
    if args.verbose:
        print("\n".join(faults.lines))
    for title, lines in sections:
        print(title)
        for label, value in lines:
            print(f"  {label:<46} {value}")
    print(f"{'check':<48} {'expected':>9} {'found':>7} {'lost':>6} {'duplicated':>11}")
    for r in rows:
        print(f"  {r.label:<46} {r.expected:>9} {r.found:>7} {r.lost:>6} {r.duplicated:>11}")
    print(f"lost={sum(r.lost for r in rows)} duplicated={sum(r.duplicated for r in rows)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=DEFAULT_URL, help="recreated; name must start qaflow_bench")
    ap.add_argument("--duration", type=float, default=240, help="seconds of load and faults")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-completions", type=int, default=0,
                    help="go on after --duration (no new faults, at most --duration more) until "
                         "the clients have been told of this many completions")
    ap.add_argument("--timers", type=int, default=60, help="deadlines that fall due during the run")
    ap.add_argument("--initial-audits", type=int, default=20)
    ap.add_argument("--start-every", type=float, default=3.0, help="seconds between CPP's starts")
    ap.add_argument("--kill-every", type=float, default=15.0,
                    help="mean seconds between kills, of web and of worker processes each")
    ap.add_argument("--smtp-outage", type=float, default=None, help="seconds (default duration/4)")
    ap.add_argument("--kill", default="web,worker", help="kinds of process to SIGKILL at random")
    ap.add_argument("--kill-mid-send", type=int, default=0,
                    help="times to SIGKILL the workers just as SMTP accepts a message (shows the "
                         "at-least-once window: each makes one duplicate)")
    ap.add_argument("--cut-db-mid-send", type=int, default=0,
                    help="times to cut the database connections just as SMTP accepts a message")
    ap.add_argument("--smtp-latency", type=float, default=0.0,
                    help="seconds before each SMTP reply (a real relay: 0.05-0.3)")
    ap.add_argument("--postgres-fault", choices=("restart", "terminate", "none"), default="restart")
    ap.add_argument("--outage-hours", type=float, default=1.0, help="simulated SMTP outage (0: skip)")
    ap.add_argument("--drain-timeout", type=float, default=900)
    ap.add_argument("--verbose", action="store_true", help="print the fault timeline")
    args = ap.parse_args()
    if args.smtp_outage is None:
        args.smtp_outage = args.duration / 4
    # The simulated outage runs the outbox in this process: its retry warnings are expected.
    logging.getLogger("qaflow.notify").setLevel(logging.ERROR)
    rng = random.Random(args.seed)
    url = args.database_url
    recreate_database(url)
    engine = Engine(url)
    prepare(engine, rng, args.initial_audits)
    smtp = FakeSmtp(args.smtp_latency)
    env = environment(url, smtp.port)
    os.environ.update({k: env[k] for k in ("SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS", "SMTP_FROM")})
    logs = Path(tempfile.mkdtemp(prefix="qaflow-faults-"))
    fleet, faults = Fleet(env, logs, webs=2, workers=2), FaultLog()
    with running(fleet):
        first = min(3.0, args.duration * 0.1)
        last = max(first + 1, args.duration - min(10.0, args.duration * 0.2))
        expected = start_timed(engine, rng, args.timers, (first, last))
        ledger = load_phase(args, rng, fleet, smtp, faults)
    drained, passes = drain(engine, env, args.drain_timeout)
    after = [("drain: qaflow worker --once until all is out", f"{drained:.1f} s, {passes} passes")]
    with engine.transaction() as s:
        completions, in_db = check_completions(s, ledger)
        rows = [*check_starts(s, ledger, args.initial_audits), *completions,
                check_timers(s, engine, expected), *check_outbox(s, smtp, False)]
        after += explain_duplicates(s, smtp, faults)
    after.append(("task completions in the database",
                  f"{in_db} ({len(ledger.ack_by)} acknowledged; the rest in hand as the load stopped)"))
    refused = smtp.refused
    if args.outage_hours > 0:
        sim = simulate_outage(url, smtp, args.outage_hours, per_minute=2, workers=2)
        with engine.transaction() as s:
            rows += check_outbox(s, smtp, True)[:1]
        after += [
            (f"simulated {args.outage_hours:g} h SMTP outage (injected clock)",
             f"{sim.queued} queued; the last went {sim.longest_wait.total_seconds() / 60:.0f} min "
             "after SMTP returned"),
            ("  retries of the first message (minutes)",
             f"{', '.join(map(str, sim.first_schedule))}; most attempts {sim.most_attempts}, "
             f"then hourly until SMTP answers (only a 5xx refusal stops a message)"),
        ]
    verdict = subprocess.run([sys.executable, "-m", "engine.cli", "audit-log", "verify"], cwd=ROOT,
                             env=env, capture_output=True, text=True)
    after += [("qaflow audit-log verify", (verdict.stdout.strip().splitlines() or ["?"])[-1][:70]),
              ("process logs", str(logs))]
    rows.append(Row("audit trail intact", 1, int(verdict.returncode == 0), int(verdict.returncode != 0), 0))
    engine.db.dispose()
    smtp.stop()
    print_report(args, fleet, faults, refused, ledger, rows, after)


if __name__ == "__main__":
    main()
