"""One injectable clock: every 'now' in the engine, timers included, comes from here."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until moved; for tests, features and simulations."""

    def __init__(self, at: datetime):
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._at = at

    def advance(self, delta: timedelta) -> None:
        self._at = self._at + delta


_active: contextvars.ContextVar[Clock] = contextvars.ContextVar("qaflow_clock")
_system = SystemClock()


def now() -> datetime:
    """Return the time on the clock of the use case being run (system clock otherwise)."""
    return _active.get(_system).now()


@contextmanager
def using(clock: Clock) -> Iterator[None]:
    """Make `clock` the one that timers and expressions read while the block runs."""
    token = _active.set(clock)
    try:
        yield
    finally:
        _active.reset(token)
