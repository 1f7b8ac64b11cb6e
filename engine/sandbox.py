"""The restricted environment that BPMN conditions, timers and scripts run in.

A policy owner's expression may read the audit's data and call the calendar and
notification helpers; it may not import, reach dunder or private attributes,
walk objects through format strings, open files or sockets, or ask for a number
so large that it stalls the server.
"""

from __future__ import annotations

import ast
import builtins
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from engine import workdays
from engine.errors import ExpressionRefused

SAFE_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in (
        "abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "len", "list",
        "max", "min", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "zip",
    )
}

# Attributes an expression may use: the public methods of plain data types, less the
# ones that reach other objects (str.format walks attributes: "{0.__class__}").
_DATA_TYPES: tuple[type, ...] = (str, list, dict, set, tuple, int, float, bool)
ALLOWED_ATTRIBUTES = frozenset(
    name for t in _DATA_TYPES for name in dir(t) if not name.startswith("_")
) - {"format", "format_map", "mro", "maketrans", "from_bytes", "to_bytes", "fromhex"}

MAX_EXPONENT = 64
MAX_SOURCE = 20_000
HELPER_NAMES = frozenset(
    {"now", "noon_next_day", "working_days_after", "after", "notify", "escalate"}
)


def _refuse(node: ast.AST, reason: str) -> ExpressionRefused:
    line = getattr(node, "lineno", None)
    return ExpressionRefused(f"{reason}" + (f" (line {line})" if line else ""))


class _Checker(ast.NodeVisitor):
    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise _refuse(node, "imports are not allowed")
        if isinstance(node, ast.Global | ast.Nonlocal):
            raise _refuse(node, "global and nonlocal are not allowed")
        if isinstance(node, ast.Yield | ast.YieldFrom | ast.Await | ast.AsyncFunctionDef):
            raise _refuse(node, "generators and coroutines are not allowed")
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Lambda):
            raise _refuse(node, "defining functions or classes is not allowed")
        if isinstance(node, ast.With | ast.AsyncWith | ast.Try | ast.Raise | ast.Delete):
            raise _refuse(node, f"'{type(node).__name__.lower()}' statements are not allowed")
        if isinstance(node, ast.While):
            raise _refuse(node, "while loops are not allowed")
        if isinstance(node, ast.GeneratorExp):
            raise _refuse(node, "generator expressions are not allowed; use a list")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id not in SAFE_BUILTINS
            and node.func.id not in HELPER_NAMES
        ):
            raise _refuse(node, f"the function '{node.func.id}' is not available")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise _refuse(node, f"the name '{node.id}' is not allowed")
        if isinstance(node, ast.Attribute):
            if node.attr not in ALLOWED_ATTRIBUTES:
                raise _refuse(node, f"the attribute '.{node.attr}' is not allowed")
        if isinstance(node, ast.keyword) and node.arg and node.arg.startswith("_"):
            raise _refuse(node, f"the argument '{node.arg}' is not allowed")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            raise _refuse(node, "text containing '__' is not allowed")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exp = node.right
            if not (
                isinstance(exp, ast.Constant)
                and isinstance(exp.value, int | float)
                and abs(exp.value) <= MAX_EXPONENT
            ):
                raise _refuse(node, f"powers are limited to constant exponents up to {MAX_EXPONENT}")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.LShift):
            raise _refuse(node, "bit shifts are not allowed")
        super().generic_visit(node)


@lru_cache(maxsize=2048)
def compile_restricted(source: str, mode: str) -> Any:
    """Check `source` against the rules and compile it; raise ExpressionRefused if it breaks one."""
    if source is None or not str(source).strip():
        raise ExpressionRefused("the expression is empty")
    if len(source) > MAX_SOURCE:
        raise ExpressionRefused(f"the expression is longer than {MAX_SOURCE} characters")
    try:
        tree = ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except SyntaxError as exc:
        raise ExpressionRefused(f"syntax error: {exc.msg} (line {exc.lineno})") from None
    _Checker().visit(tree)
    return compile(tree, "<bpmn>", mode)


@dataclass
class Effects:
    """What a run asked the outside world to do; the engine carries it out in the same transaction."""

    notifications: list[tuple[list[str], str, str]] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)


def fill(template: str, data: dict[str, Any]) -> str:
    """Fill `$name` placeholders from data; unknown names stay as they are (no attribute walks)."""
    flat = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
    return string.Template(template).safe_substitute(flat)


def helpers(data: dict[str, Any], effects: Effects | None) -> dict[str, Callable[..., Any]]:
    """Return the functions an expression may call, bound to the task's data and the run's effects."""

    def notify(roles: list[str] | str, subject: str, body: str = "") -> None:
        if isinstance(roles, str):
            roles = [roles]
        if effects is not None:
            effects.notifications.append((list(roles), fill(subject, data), fill(body, data)))

    def escalate(task_id: str) -> None:
        if effects is not None:
            effects.escalations.append(str(task_id))

    return {
        "now": workdays.now_iso,
        "noon_next_day": workdays.noon_next_day,
        "working_days_after": workdays.working_days_after,
        "after": workdays.after,
        "notify": notify,
        "escalate": escalate,
    }


def evaluate(source: str, data: dict[str, Any], effects: Effects | None = None) -> Any:
    """Evaluate an expression against task data in the restricted environment."""
    code = compile_restricted(source, "eval")
    scope: dict[str, Any] = {"__builtins__": SAFE_BUILTINS}
    scope.update(helpers(data, effects))
    scope.update(data)
    return eval(code, scope)  # noqa: S307 - checked and restricted above


def execute(source: str, data: dict[str, Any], effects: Effects | None = None) -> None:
    """Run a script against task data; new and changed plain variables are written back."""
    code = compile_restricted(source, "exec")
    bound = helpers(data, effects)
    clash = set(bound).intersection(data)
    if clash:
        raise ExpressionRefused(f"task data uses reserved names: {', '.join(sorted(clash))}")
    scope: dict[str, Any] = {"__builtins__": SAFE_BUILTINS}
    scope.update(bound)
    scope.update(data)
    exec(code, scope)  # noqa: S102 - checked and restricted above
    for key, value in scope.items():
        if key == "__builtins__" or key in bound or callable(value):
            continue
        data[key] = value
