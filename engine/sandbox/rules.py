"""The rules a BPMN expression must pass before it may run: what it may name, call and build.

A policy owner's expression may read the audit's data and call the calendar and notification
helpers; it may not import, define functions or classes, loop with `while`, reach dunder,
private or frame attributes, walk objects through format strings, hold a method as a value,
or name any builtin outside the short list below.
"""

from __future__ import annotations

import ast
import builtins
import re
from typing import Any

from engine.errors import ExpressionRefused
from engine.sandbox.limits import EAGER, MAX_WIDTH

SAFE_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in (
        "abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "len", "list",
        "max", "min", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "zip",
    )
} | EAGER

# Attributes an expression may use: the public methods of plain data types, less the
# ones that reach other objects (str.format walks attributes: "{0.__class__}") or that
# turn a little text into a lot (translate) or into bytes.
_DATA_TYPES: tuple[type, ...] = (str, list, dict, set, tuple, int, float, bool)
ALLOWED_ATTRIBUTES = frozenset(
    name for t in _DATA_TYPES for name in dir(t) if not name.startswith("_")
) - {"format", "format_map", "mro", "maketrans", "translate", "encode", "from_bytes",
     "to_bytes", "fromhex", "hex"}
# The attributes that are values rather than methods; every other attribute must be called.
VALUE_ATTRIBUTES = frozenset({"real", "imag", "numerator", "denominator"})

MAX_EXPONENT = 64
MAX_SOURCE = 20_000
MAX_TREE_DEPTH = 60
MAX_LOOP_NESTING = 2
HELPER_NAMES = frozenset(
    {"now", "noon_next_day", "working_days_after", "after", "notify", "escalate"}
)
# Every other builtin is refused by name, even uncalled, so `x = eval` reads as a clear error.
DENIED_NAMES = frozenset(
    n for n in dir(builtins) if n not in SAFE_BUILTINS and n not in ("True", "False", "None")
)


def _refuse(node: ast.AST, reason: str) -> ExpressionRefused:
    line = getattr(node, "lineno", None)
    return ExpressionRefused(f"{reason}" + (f" (line {line})" if line else ""))


def _tree_depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _check_format_spec(spec: ast.JoinedStr) -> None:
    if not all(isinstance(v, ast.Constant) for v in spec.values):
        raise _refuse(spec, "a format spec must be plain text, not an expression")
    text = "".join(str(v.value) for v in spec.values if isinstance(v, ast.Constant))
    if any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", text)):
        raise _refuse(spec, f"format widths are limited to {MAX_WIDTH}")


_STATEMENTS_REFUSED = (
    ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Raise, ast.Delete, ast.Match, ast.Assert,
)
_LOOPS = (ast.For, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.DictComp)


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.callees: set[int] = set()
        self.loops = 0

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, _LOOPS):
            nesting = len(node.generators) if hasattr(node, "generators") else 1
            self.loops += nesting
            if self.loops > MAX_LOOP_NESTING:
                raise _refuse(node, f"loops may be nested at most {MAX_LOOP_NESTING} deep")
            try:
                super().visit(node)
            finally:
                self.loops -= nesting
            return
        super().visit(node)

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise _refuse(node, "imports are not allowed")
        if isinstance(node, ast.Global | ast.Nonlocal):
            raise _refuse(node, "global and nonlocal are not allowed")
        if isinstance(node, ast.Yield | ast.YieldFrom | ast.Await | ast.AsyncFunctionDef):
            raise _refuse(node, "generators and coroutines are not allowed")
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Lambda):
            raise _refuse(node, "defining functions or classes is not allowed")
        if isinstance(node, _STATEMENTS_REFUSED):
            raise _refuse(node, f"'{type(node).__name__.lower()}' statements are not allowed")
        if isinstance(node, ast.While):
            raise _refuse(node, "while loops are not allowed")
        if isinstance(node, ast.GeneratorExp):
            raise _refuse(node, "generator expressions are not allowed; use a list")
        if isinstance(node, ast.Call):
            self._check_call(node)
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise _refuse(node, f"the name '{node.id}' is not allowed")
            if node.id in DENIED_NAMES:
                raise _refuse(node, f"'{node.id}' is not available in BPMN expressions")
        if isinstance(node, ast.Attribute):
            if node.attr not in ALLOWED_ATTRIBUTES:
                raise _refuse(node, f"the attribute '.{node.attr}' is not allowed")
            if id(node) not in self.callees and node.attr not in VALUE_ATTRIBUTES:
                raise _refuse(node, f"the method '.{node.attr}' may only be called")
        if isinstance(node, ast.Starred) and isinstance(node.ctx, ast.Store):
            raise _refuse(node, "starred assignment is not allowed")
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) \
                and not isinstance(node.ctx, ast.Load):
            raise _refuse(node, "assigning to a slice is not allowed")
        if isinstance(node, ast.keyword) and node.arg and node.arg.startswith("_"):
            raise _refuse(node, f"the argument '{node.arg}' is not allowed")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bytes):
                raise _refuse(node, "bytes are not allowed")
            if isinstance(node.value, str) and "__" in node.value:
                raise _refuse(node, "text containing '__' is not allowed")
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            _check_format_spec(node.format_spec)  # type: ignore[arg-type]
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

    def _check_call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name):
            if node.func.id not in SAFE_BUILTINS and node.func.id not in HELPER_NAMES:
                raise _refuse(node, f"the function '{node.func.id}' is not available")
        elif isinstance(node.func, ast.Attribute):
            self.callees.add(id(node.func))
        else:
            raise _refuse(node, "only named functions and methods may be called")


def check(source: str, mode: str) -> ast.AST:
    """Parse `source` and apply every rule; raise ExpressionRefused at the first one broken."""
    if source is None or not str(source).strip():
        raise ExpressionRefused("the expression is empty")
    if len(source) > MAX_SOURCE:
        raise ExpressionRefused(f"the expression is longer than {MAX_SOURCE} characters")
    try:
        tree = ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except SyntaxError as exc:
        raise ExpressionRefused(f"syntax error: {exc.msg} (line {exc.lineno})") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExpressionRefused(f"the expression cannot be read: {type(exc).__name__}") from None
    if _tree_depth(tree) > MAX_TREE_DEPTH:
        raise ExpressionRefused(f"the expression is nested more than {MAX_TREE_DEPTH} deep")
    _Checker().visit(tree)
    return tree
