"""The restricted, bounded environment that BPMN conditions, timers and scripts run in.

Three layers: `rules` refuses at deploy anything that could reach outside the data (imports,
dunders, frames, format-string walks, builtins beyond a short list); `instrument` rewrites what
passes so that every operation that could grow or walk a value, and every loop, goes through a
`Meter`; the meter, with the checks in `limits`, stops a run that would make too much, loop too
often or take too long, before it does. See SECURITY.md for the limits and the tests.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from engine import workdays
from engine.errors import ExpressionRefused
from engine.sandbox.instrument import instrument
from engine.sandbox.limits import MAX_CHARS, weigh
from engine.sandbox.meter import GUARD_NAMES, Meter
from engine.sandbox.rules import ALLOWED_ATTRIBUTES, HELPER_NAMES, SAFE_BUILTINS, check

__all__ = [
    "ALLOWED_ATTRIBUTES", "HELPER_NAMES", "SAFE_BUILTINS", "Effects", "ExpressionRefused",
    "compile_restricted", "evaluate", "execute", "fill", "helpers",
]

MAX_NOTIFICATIONS = 50
MAX_WORKING_DAYS = 3_660
# Load the bank-holiday calendars now, not inside the first expression's time limit.
workdays.is_working_day(date(2025, 1, 1))


@dataclass(frozen=True)
class _Compiled:
    code: Any
    helpers: frozenset[str]  # the helpers it names


def compile_restricted(source: str, mode: str) -> Any:
    """Check `source` against the rules and compile it; raise ExpressionRefused if it breaks one."""
    return _compile(source, mode).code


@lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> _Compiled:
    """Check, instrument and compile `source`, noting which helpers running it will need."""
    tree = check(source, mode)
    named = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)) & HELPER_NAMES
    try:
        code = compile(instrument(tree), "<bpmn>", mode)  # type: ignore[call-overload]
        return _Compiled(code, named)
    except (RecursionError, MemoryError) as exc:
        raise ExpressionRefused(f"the expression cannot be compiled: {type(exc).__name__}") from None


@dataclass
class Effects:
    """What a run asked the outside world to do; the engine carries it out in the same transaction."""

    notifications: list[tuple[list[str], str, str]] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)


def fill(template: str, data: dict[str, Any]) -> str:
    """Fill `$name` placeholders from data; unknown names stay as they are (no attribute walks)."""
    flat = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
    longest = max((len(str(v)) for v in flat.values()), default=0)
    if len(template) + template.count("$") * longest > MAX_CHARS:
        raise ExpressionRefused(f"a notification is limited to {MAX_CHARS:,} characters")
    return string.Template(template).safe_substitute(flat)


def helpers(data: dict[str, Any], effects: Effects | None) -> dict[str, Callable[..., Any]]:
    """Return the functions an expression may call, bound to the task's data and the run's effects."""

    def notify(roles: list[str] | str, subject: str, body: str = "") -> None:
        if isinstance(roles, str):
            roles = [roles]
        if effects is not None:
            if len(effects.notifications) >= MAX_NOTIFICATIONS:
                raise ExpressionRefused(f"a step may send at most {MAX_NOTIFICATIONS} notifications")
            effects.notifications.append((list(roles), fill(subject, data), fill(body, data)))

    def escalate(task_id: str) -> None:
        if effects is not None:
            if len(effects.escalations) >= MAX_NOTIFICATIONS:
                raise ExpressionRefused(f"a step may escalate at most {MAX_NOTIFICATIONS} times")
            effects.escalations.append(str(task_id))

    def working_days_after(when: str, n: int) -> str:
        if abs(int(n)) > MAX_WORKING_DAYS:
            raise ExpressionRefused(f"working days are limited to {MAX_WORKING_DAYS}")
        return workdays.working_days_after(when, n)

    return {
        "now": workdays.now_iso,
        "noon_next_day": workdays.noon_next_day,
        "working_days_after": working_days_after,
        "after": workdays.after,
        "notify": notify,
        "escalate": escalate,
    }


_FLAT = frozenset({str, int, float, bool, type(None)})


def _scope(run: _Compiled, meter: Meter, data: dict[str, Any],
           effects: Effects | None) -> tuple[dict[str, Any], set[str]]:
    """Build the names a run sees: safe builtins, the helpers it names, the data, the guards."""
    scope: dict[str, Any] = {"__builtins__": SAFE_BUILTINS}
    bound: set[str] = set()
    if run.helpers:
        named = {k: f for k, f in helpers(data, effects).items() if k in run.helpers}
        scope.update({k: meter.trusted(f) for k, f in named.items()})
        bound = set(named)
    scope.update(data)
    scope.update(meter.guards())
    return scope, bound


def evaluate(source: str, data: dict[str, Any], effects: Effects | None = None) -> Any:
    """Evaluate an expression against task data in the restricted environment, within bounds."""
    run = _compile(source, "eval")
    meter = Meter()
    scope, _ = _scope(run, meter, data, effects)
    result = meter.run(eval, run.code, scope)
    weigh(result, "the result")
    return result


def execute(source: str, data: dict[str, Any], effects: Effects | None = None) -> None:
    """Run a script against task data within bounds; new and changed plain values are written back."""
    run = _compile(source, "exec")
    clash = HELPER_NAMES.intersection(data)
    if clash:
        raise ExpressionRefused(f"task data uses reserved names: {', '.join(sorted(clash))}")
    meter = Meter()
    scope, bound = _scope(run, meter, data, effects)
    meter.run(exec, run.code, scope)
    for key, value in scope.items():
        if key == "__builtins__" or key in bound or key in GUARD_NAMES or callable(value):
            continue
        if type(value) not in _FLAT or type(value) is str and len(value) > MAX_CHARS:
            weigh(value, f"the value of '{key}'", plain=True)
        data[key] = value
