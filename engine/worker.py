"""The timer worker: sleeps until the earliest due time (or a wake-up), fires timers, sends mail."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from engine import notify, schedule

log = logging.getLogger("qaflow.worker")
MAX_SLEEP = timedelta(seconds=60)


class Worker:
    def __init__(self, engine, sender: notify.Sender | None = None):  # type: ignore[no-untyped-def]
        self.engine = engine
        self.sender = sender
        self.wake = threading.Event()
        self.stopping = threading.Event()

    def run_once(self) -> tuple[int, int]:
        """Fire every due timer and send due notifications; return (instances run, mails sent)."""
        fired = 0
        while True:
            batch = self.engine.fire_due_timers(limit=100)
            fired += batch
            if batch < 100:
                break
        schedule.open_month(self.engine)
        sent = notify.deliver_pending(self.engine, self.sender)
        return fired, sent

    def seconds_until_next(self) -> float:
        due = self.engine.next_due()
        if due is None:
            return MAX_SLEEP.total_seconds()
        wait = (due - self.engine.now()).total_seconds()
        # Wake at least every minute: new audits and pending mail may arrive meanwhile.
        return max(0.0, min(wait, MAX_SLEEP.total_seconds()))

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                fired, sent = self.run_once()
                if fired or sent:
                    log.info("fired timers on %d audits, sent %d notifications", fired, sent)
            except Exception:
                log.exception("worker pass failed; retrying")
            self.wake.wait(self.seconds_until_next())
            self.wake.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
