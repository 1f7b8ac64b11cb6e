"""The limits on what one run of a BPMN expression may make, and the checks that enforce them.

Every check runs before the operation it guards, so nothing too large is ever built: a value
is weighed (items and characters, counting shared parts each time they appear, as printing or
comparing them would) before it is compared, hashed, printed or stored; repetition, powers,
joins, padding and list growth are sized before they happen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from datetime import date, datetime, timedelta
from datetime import time as dtime
from itertools import islice
from typing import Any

from engine.errors import ExpressionRefused

MAX_CHARS = 1_000_000  # characters in any one value, nested text included
MAX_ITEMS = 100_000  # items in any one value, nested containers included
MAX_DEPTH = 32  # nesting of lists and dicts
MAX_INT_BITS = 10_000  # about 3,000 decimal digits
MAX_WIDTH = 1_000  # field width or precision in a format
MAX_ARGS = 64
MAX_BUDGET = 4_000_000  # characters plus items created in one run
MAX_STEPS = 200_000  # passes through loops in one run
MAX_SECONDS = 0.25
MAX_HELPER_CALLS = 200

_SCALARS = (str, int, float, bool, type(None), datetime, date, dtime, timedelta)
TEXT = (str, bytes)
_SEQUENCES = (str, bytes, list, tuple)
_CONTAINERS = (list, tuple, set, frozenset)
SIZED = (str, bytes, list, tuple, set, frozenset, dict)
_FLAT = frozenset({str, int, float, bool, type(None)})
_NUMBERS = frozenset({int, float, bool})
_BIG = 2 ** 64  # numbers beyond this are counted by their digits
_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
# Methods that compare or hash every element of their receiver.
_WALKING_METHODS = frozenset({"index", "count", "remove", "sort"})


def refuse(reason: str) -> ExpressionRefused:
    return ExpressionRefused(reason)


def weigh(value: Any, what: str = "a value", plain: bool = False) -> int:
    """Refuse a value too large, too deep or too odd to compare, hash, print or store.

    Return its size, counting each item and each character of text or digits of a large
    number, and counting shared parts as often as they appear (as printing them would).
    """
    kind = type(value)
    if kind is str:
        if len(value) > MAX_CHARS:
            raise refuse(f"{what} is longer than {MAX_CHARS:,} characters")
        return len(value)
    if kind in (int, float, bool) or value is None:
        return 1
    items = chars = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        items += 1
        if isinstance(v, str):
            chars += len(v)
        elif isinstance(v, list | tuple) or not plain and isinstance(v, _CONTAINERS + _VIEWS):
            if depth >= MAX_DEPTH:
                raise refuse(f"{what} is nested more than {MAX_DEPTH} deep")
            seq: Any = v
            kinds = set(map(type, seq))  # flat lists are counted at C speed, not walked
            if kinds <= _FLAT:
                items += len(seq)
                if str in kinds:
                    chars += sum(map(len, [x for x in seq if type(x) is str]))
                if int in kinds:
                    ints = seq if kinds <= _NUMBERS else [x for x in seq if type(x) is int]
                    if ints and (max(ints) >= _BIG or min(ints) <= -_BIG):
                        chars += sum([x.bit_length() // 3 for x in ints
                                      if type(x) is int and not -_BIG < x < _BIG])
            else:
                below = depth + 1
                stack.extend([(x, below) for x in seq])
        elif isinstance(v, dict):
            if depth >= MAX_DEPTH:
                raise refuse(f"{what} is nested more than {MAX_DEPTH} deep")
            for k, x in v.items():
                stack.append((k, depth + 1))
                stack.append((x, depth + 1))
        elif type(v) is int and not -_BIG < v < _BIG:
            chars += v.bit_length() // 3
        elif plain and not isinstance(v, _SCALARS):
            raise refuse(f"{what} holds a {type(v).__name__}; store lists, dicts, text and numbers")
        if items > MAX_ITEMS or chars > MAX_CHARS:
            raise refuse(f"{what} is too large (over {MAX_ITEMS:,} items or "
                         f"{MAX_CHARS:,} characters, counting repeats)")
    return items + chars


def length_limit(value: Any) -> int:
    return MAX_CHARS if isinstance(value, TEXT) else MAX_ITEMS


def _check_format(fmt: str | bytes, args: Any) -> None:
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    for m in _PERCENT.finditer(text):
        for part in m.groups():
            if part == "*" or (part and int(part) > MAX_WIDTH):
                raise refuse(f"format widths are limited to {MAX_WIDTH}")
    weigh(args, "a formatted value")


def check_op(name: str, a: Any, b: Any) -> None:
    """Refuse before computing an operation whose result would be too large."""
    if name == "Mult":
        seq, n = (a, b) if isinstance(a, _SEQUENCES) else (b, a)
        if isinstance(seq, _SEQUENCES) and isinstance(n, int):
            if n > 0 and len(seq) * n > length_limit(seq):
                raise refuse("repetition would make a value too large")
        elif isinstance(a, int) and isinstance(b, int):
            if a.bit_length() + b.bit_length() > MAX_INT_BITS:
                raise refuse(f"numbers are limited to {MAX_INT_BITS} bits")
    elif name == "Pow":
        if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
            if a.bit_length() * b > MAX_INT_BITS:
                raise refuse(f"numbers are limited to {MAX_INT_BITS} bits")
    elif name == "LShift":
        if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b > MAX_INT_BITS:
            raise refuse(f"numbers are limited to {MAX_INT_BITS} bits")
    elif name == "Add":
        if isinstance(a, _SEQUENCES) and isinstance(b, Sized):
            if len(a) + len(b) > length_limit(a):
                raise refuse("joining these would make a value too large")
    elif name == "Mod" and isinstance(a, TEXT):
        _check_format(a, b)


def materialise(values: Any) -> Any:
    if isinstance(values, Sized):
        return values
    got = list(islice(values, MAX_ITEMS + 1))
    if len(got) > MAX_ITEMS:
        raise refuse(f"a list is limited to {MAX_ITEMS:,} items")
    return got


def check_method(owner: Any, name: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a method call on data that would grow it or walk it too far; return the args."""
    if name in _WALKING_METHODS:
        weigh(owner, "the list")
    if isinstance(owner, str):
        if name in ("ljust", "rjust", "center", "zfill") and args:
            if isinstance(args[0], int) and args[0] > MAX_CHARS:
                raise refuse(f"text is limited to {MAX_CHARS:,} characters")
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(size, int) and len(owner) * max(size, 1) > MAX_CHARS:
                raise refuse(f"text is limited to {MAX_CHARS:,} characters")
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if isinstance(old, str) and isinstance(new, str):
                hits = owner.count(old) if old else len(owner) + 1
                if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                    hits = min(hits, args[2])
                if len(owner) + hits * (len(new) - len(old)) > MAX_CHARS:
                    raise refuse(f"text is limited to {MAX_CHARS:,} characters")
        elif name == "join" and args:
            parts = materialise(args[0])
            weigh(parts, "the joined text")
            total = sum([len(p) for p in parts if isinstance(p, str)])
            if total + len(owner) * max(len(parts) - 1, 0) > MAX_CHARS:
                raise refuse(f"text is limited to {MAX_CHARS:,} characters")
            return (parts, *args[1:])
    elif isinstance(owner, list | set | dict):
        if name in ("append", "insert", "add", "setdefault") and len(owner) >= MAX_ITEMS:
            raise refuse(f"a list is limited to {MAX_ITEMS:,} items")
        if name in ("extend", "update") and args:
            args = tuple([materialise(a) for a in args])
            if len(owner) + sum([len(a) for a in args]) > MAX_ITEMS:
                raise refuse(f"a list is limited to {MAX_ITEMS:,} items")
    return args


def _sum(values: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float):
        raise refuse("sum() adds numbers only")
    return sum(values, start)


def _eager(fn: Callable[..., Any]) -> Callable[..., list[Any]]:
    """Return a list-making version of a lazy builtin, so no iterator can outgrow its source."""

    def run(*args: Any, **kwargs: Any) -> list[Any]:
        return list(fn(*[materialise(a) for a in args], **kwargs))

    run.__name__ = fn.__name__
    return run


EAGER: dict[str, Callable[..., Any]] = {
    "zip": _eager(zip), "enumerate": _eager(enumerate), "reversed": _eager(reversed),
    "sum": _sum,
}
