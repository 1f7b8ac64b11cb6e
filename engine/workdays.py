"""Working-day arithmetic on England and Wales bank holidays, in London local time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from engine import clock

LONDON = ZoneInfo("Europe/London")


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("GB", subdiv="ENG", years=year)


def is_working_day(day: date) -> bool:
    """Return True for Monday to Friday that is not an England and Wales bank holiday."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def parse_when(when: str | datetime) -> datetime:
    """Read an ISO 8601 time (naive means London local time) as an aware datetime."""
    dt = datetime.fromisoformat(when) if isinstance(when, str) else when
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=LONDON)
    return dt


def _iso(dt: datetime) -> str:
    return dt.astimezone(LONDON).isoformat()


def next_working_day(day: date) -> date:
    day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def noon_next_day(when: str | datetime, working: bool = True) -> str:
    """Return 12:00 London time on the day after `when` (the next working day if `working`)."""
    local = parse_when(when).astimezone(LONDON).date()
    day = next_working_day(local) if working else local + timedelta(days=1)
    return _iso(datetime.combine(day, time(12, 0), LONDON))


def working_days_after(when: str | datetime, n: int) -> str:
    """Return the same London time `n` working days after `when`."""
    local = parse_when(when).astimezone(LONDON)
    day = local.date()
    for _ in range(int(n)):
        day = next_working_day(day)
    return _iso(datetime.combine(day, local.timetz().replace(tzinfo=None), LONDON))


def _parse_duration(duration: str) -> tuple[int, int, int, timedelta]:
    """Split an ISO 8601 duration into years, months, weeks and an exact remainder."""
    text = duration.strip().upper()
    if not text.startswith("P") or len(text) < 3:
        raise ValueError(f"not an ISO 8601 duration: {duration!r}")
    date_part, _, time_part = text[1:].partition("T")
    values: dict[str, int] = {}
    for part, units in ((date_part, "YMWD"), (time_part, "HMS")):
        number = ""
        for ch in part:
            if ch.isdigit():
                number += ch
            elif ch in units and number:
                key = ch if part is date_part else ch.lower()
                if key in values:
                    raise ValueError(f"repeated unit in duration: {duration!r}")
                values[key] = int(number)
                number = ""
            else:
                raise ValueError(f"not an ISO 8601 duration: {duration!r}")
        if number:
            raise ValueError(f"not an ISO 8601 duration: {duration!r}")
    exact = timedelta(
        days=values.get("D", 0),
        hours=values.get("h", 0),
        minutes=values.get("m", 0),
        seconds=values.get("s", 0),
    )
    return values.get("Y", 0), values.get("M", 0), values.get("W", 0), exact


def add_months(dt: datetime, months: int) -> datetime:
    """Add calendar months, clamping to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = dt.month - 1 + months
    year, month = dt.year + month_index // 12, month_index % 12 + 1
    for day in range(dt.day, 27, -1):
        try:
            return dt.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return dt.replace(year=year, month=month)


def after(when: str | datetime, duration: str) -> str:
    """Return `when` plus an ISO 8601 duration ("P1W", "P1M", "P3M"), months as calendar months."""
    years, months, weeks, exact = _parse_duration(duration)
    local = parse_when(when).astimezone(LONDON)
    shifted = add_months(local.replace(tzinfo=None), years * 12 + months)
    shifted = shifted + timedelta(weeks=weeks) + exact
    return _iso(shifted.replace(tzinfo=LONDON))


def now_iso() -> str:
    """Return the engine clock's current time as ISO 8601."""
    return clock.now().astimezone(LONDON).isoformat()
