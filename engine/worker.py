"""The timer worker: sleeps until the earliest due time (or a wake-up), fires timers, sends mail.

A pass first asks, in one query, when the next timer and the next notification are due and
whether the month's schedule is still to be drawn, and does only what is due: a worker with
nothing to do costs one round trip a wake-up, however many audits are waiting.

On PostgreSQL the worker also LISTENs on `qaflow_worker`: triggers (migration 0005) NOTIFY
it when a transaction gives an audit an earlier timer or queues a notification, so work another
process creates while the worker sleeps is done at once rather than at the next minute; the
notification names the schema (migration 0008), and only one in the worker's own wakes it. On
SQLite it wakes at the earliest due time it knows of, and at least once a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, false, func, select

from engine import notify, schedule
from engine.db import reading
from engine.models import Instance, Notification
from engine.workdays import LONDON

log = logging.getLogger("qaflow.worker")
MAX_SLEEP = timedelta(seconds=60)
RETRY_AFTER = timedelta(seconds=5)  # after a failed pass (the database away, say)
CHANNEL = "qaflow_worker"
STOP_CHECK = 0.5  # seconds: how often a LISTENing sleep looks whether it was asked to stop


@dataclass(frozen=True)
class Due:
    """What there is to do: the next timer and notification due times, and the month to open."""

    next_timer: datetime | None
    next_mail: datetime | None
    month_to_draw: bool

    def earliest(self) -> datetime | None:
        times = [t for t in (self.next_timer, self.next_mail) if t is not None]
        return min(times) if times else None


def _due_query(month: ColumnElement[str] | None) -> Select[datetime | None, datetime | None, bool]:
    return select(
        select(func.min(Instance.next_timer_at))
        .where(Instance.status == "running").scalar_subquery(),
        select(func.min(Notification.next_attempt_at))
        .where(Notification.status == "pending").scalar_subquery(),
        schedule.needs_drawing(month) if month is not None else false(),
    )


# Built once: a wake-up is this one read on a connection, no ORM session (which took about as
# long again as the read itself on PostgreSQL).
_DUE = {True: _due_query(bindparam("month")), False: _due_query(None)}


def due(engine) -> Due:  # type: ignore[no-untyped-def]
    """Read everything the worker may have to do in one indexed query."""
    month = schedule.month_to_open(engine.now().astimezone(LONDON).date())
    with reading(engine.db) as conn:
        row = conn.execute(_DUE[month is not None], {"month": month} if month else {}).one()
    return Due(row[0], row[1], bool(row[2]))


class _Listener:
    """A PostgreSQL connection of its own, LISTENing on CHANNEL; a sleep ends when notified."""

    def __init__(self, db: Any):
        pooled = db.raw_connection()
        self.conn = pooled.driver_connection
        pooled.detach()  # held for the worker's life, never returned to the pool
        self.conn.rollback()
        self.conn.autocommit = True
        # Only work in our own schema wakes us (migration 0008); '' is from before it.
        self.woken_by = {"", self.conn.execute("SELECT current_schema()").fetchone()[0]}
        self.conn.execute(f"LISTEN {CHANNEL}")

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """Return after `seconds`, at a notification, or (within STOP_CHECK) when `stop` is set."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            first = list(self.conn.notifies(timeout=min(left, STOP_CHECK), stop_after=1))
            if first:
                burst = first + list(self.conn.notifies(timeout=0))  # one wake-up for a burst
                if any(n.payload in self.woken_by for n in burst):
                    return

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # closing a broken connection must not stop the worker
            log.debug("closing the listening connection failed", exc_info=True)


class Worker:
    def __init__(self, engine, sender: notify.Sender | None = None):  # type: ignore[no-untyped-def]
        self.engine = engine
        self.sender = sender
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.sleeps = 0  # passes finished, each followed by a sleep
        self._due: Due | None = None  # read at the end of the last pass, for the sleep after it
        self._listener: _Listener | None = None

    def run_once(self) -> tuple[int, int]:
        """Fire every due timer and send due notifications; return (instances run, mails sent)."""
        self._due = None
        todo, now = due(self.engine), self.engine.now()
        fired = sent = 0
        if todo.next_timer is not None and todo.next_timer <= now:
            while True:
                batch = self.engine.fire_due_timers(limit=100)
                fired += batch
                if batch < 100:
                    break
        opened = schedule.open_month(self.engine) if todo.month_to_draw else None
        # Fired timers and a drawn schedule queue mail of their own: send it in this pass too.
        if fired or opened is not None or (todo.next_mail is not None and todo.next_mail <= now):
            sent = notify.deliver_pending(self.engine, self.sender)
        self._due = due(self.engine) if fired or sent or opened is not None else todo
        return fired, sent

    def seconds_until_next(self) -> float:
        todo, self._due = self._due or due(self.engine), None
        soonest = todo.earliest()
        if soonest is None:
            return MAX_SLEEP.total_seconds()
        wait = (soonest - self.engine.now()).total_seconds()
        # Wake at least every minute: without LISTEN, new work may arrive meanwhile.
        return max(0.0, min(wait, MAX_SLEEP.total_seconds()))

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            self._listen()  # before the pass, so work queued during it still wakes the sleep
            try:
                fired, sent = self.run_once()
                if fired or sent:
                    log.info("fired timers on %d audits, sent %d notifications", fired, sent)
                wait = self.seconds_until_next()
            except Exception:
                log.exception("worker pass failed; retrying")
                wait = RETRY_AFTER.total_seconds()
            self.sleeps += 1  # a pass is done and its sleep decided (tests wait on this)
            self._sleep(wait)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _listen(self) -> None:
        if self._listener is not None or self.engine.db.dialect.name != "postgresql":
            return
        try:
            self._listener = _Listener(self.engine.db)
        except Exception:
            log.warning("cannot LISTEN for new work; waking at due times only", exc_info=True)

    def _sleep(self, seconds: float) -> None:
        if self._listener is not None:
            try:
                self._listener.sleep(seconds, self.wake)
                self.wake.clear()
                return
            except Exception:
                log.warning("lost the listening connection; will listen again", exc_info=True)
                self._listener.close()
                self._listener = None
                seconds = min(seconds, RETRY_AFTER.total_seconds())
        self.wake.wait(seconds)
        self.wake.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
