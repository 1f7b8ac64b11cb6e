"""Dates and deadlines in words, in UK time, the way GOV.UK writes them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def london(when: datetime) -> datetime:
    return when.astimezone(LONDON)


def date_words(when: datetime | None) -> str:
    """Return e.g. 'Monday 22 December 2025'."""
    if when is None:
        return ""
    return _date_words(london(when))


def _date_words(local: datetime) -> str:
    return f"{local:%A} {local.day} {local:%B %Y}"


def datetime_words(when: datetime | None) -> str:
    """Return e.g. '12:00 on Monday 22 December 2025'."""
    if when is None:
        return ""
    local = london(when)
    return f"{local:%H:%M} on {_date_words(local)}"


def deadline_words(due: datetime | None, now: datetime, overdue: bool = False) -> str:
    """Return 'due by 12:00 on Monday 22 December 2025', '3 days overdue' or 'no deadline'."""
    if due is None:
        return "overdue" if overdue else "no deadline"
    if due > now and not overdue:
        return f"due by {datetime_words(due)}"
    days = (london(now).date() - london(due).date()).days
    if days <= 0:
        return f"overdue since {london(due):%H:%M} today" if due <= now else \
            f"overdue, due by {datetime_words(due)}"
    return f"{days} day{'s' if days != 1 else ''} overdue"


def upfirst(text: str) -> str:
    """Capitalise the first letter only ('due by ... Monday' -> 'Due by ... Monday')."""
    return text[:1].upper() + text[1:]
