"""The meter one run of a BPMN expression goes through: it counts what the run makes and does."""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterator
from types import MethodDescriptorType, ModuleType
from typing import Any

from engine.sandbox.limits import (
    MAX_ARGS,
    MAX_BUDGET,
    MAX_HELPER_CALLS,
    MAX_INT_BITS,
    MAX_SECONDS,
    MAX_STEPS,
    SIZED,
    TEXT,
    check_method,
    check_op,
    length_limit,
    materialise,
    refuse,
    weigh,
)

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add, "Sub": operator.sub, "Mult": operator.mul, "Div": operator.truediv,
    "FloorDiv": operator.floordiv, "Mod": operator.mod, "Pow": operator.pow,
    "BitAnd": operator.and_, "BitOr": operator.or_, "BitXor": operator.xor,
    "RShift": operator.rshift, "LShift": operator.lshift, "MatMult": operator.matmul,
}
_IOPS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.iadd, "Sub": operator.isub, "Mult": operator.imul, "Div": operator.itruediv,
    "FloorDiv": operator.ifloordiv, "Mod": operator.imod, "Pow": operator.ipow,
    "BitAnd": operator.iand, "BitOr": operator.ior, "BitXor": operator.ixor,
    "RShift": operator.irshift, "LShift": operator.ilshift, "MatMult": operator.imatmul,
}
GUARD_NAMES = ("_q_op", "_q_iop", "_q_call", "_q_w", "_q_text", "_q_acc", "_q_loop")


class Meter:
    """Counts what one run of an expression or script uses, and stops it at the limits."""

    def __init__(self) -> None:
        self.used = 0
        self.steps = 0
        self.helper_calls = 0
        self.deadline = 0.0

    def guards(self) -> dict[str, Callable[..., Any]]:
        return {"_q_op": self.op, "_q_iop": self.iop, "_q_call": self.call, "_q_w": self.weigh,
                "_q_text": self.text, "_q_acc": self.account, "_q_loop": self.loop}

    def tick(self) -> None:
        """Stop the run once it has taken too long (checked by every guard)."""
        if time.perf_counter() > self.deadline:
            raise refuse(f"the expression took longer than {MAX_SECONDS} seconds")

    def account(self, value: Any) -> Any:
        """Count a new value against the run's budget; refuse one that is too large on its own."""
        self.tick()
        if isinstance(value, SIZED):
            size = len(value)
            if size > length_limit(value):
                kind = "text" if isinstance(value, TEXT) else "a list"
                raise refuse(f"{kind} is limited to {length_limit(value):,} "
                             f"{'characters' if kind == 'text' else 'items'}")
            self.used += size
        elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise refuse(f"numbers are limited to {MAX_INT_BITS} bits")
        if self.used > MAX_BUDGET:
            raise refuse(f"the expression made more than {MAX_BUDGET:,} items and characters")
        return value

    def weigh(self, value: Any) -> Any:
        self.tick()
        weigh(value)
        return value

    def text(self, value: Any) -> Any:
        """Weigh a value about to be put into an f-string; its text counts against the budget."""
        self.tick()
        self.used += weigh(value, "a value put into text")
        if self.used > MAX_BUDGET:
            raise refuse(f"the expression made more than {MAX_BUDGET:,} items and characters")
        return value

    def op(self, name: str, a: Any, b: Any) -> Any:
        self.tick()
        check_op(name, a, b)
        return self.account(_OPS[name](a, b))

    def iop(self, name: str, a: Any, b: Any) -> Any:
        self.tick()
        if name == "Add" and isinstance(a, list):
            b = materialise(b)
        check_op(name, a, b)
        return self.account(_IOPS[name](a, b))

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.tick()
        if len(args) + len(kwargs) > MAX_ARGS:
            raise refuse(f"a call is limited to {MAX_ARGS} arguments")
        for value in (*args, *kwargs.values()):
            weigh(value, "an argument")
        owner = getattr(fn, "__self__", None)
        if owner is not None and not isinstance(owner, ModuleType | type):
            args = check_method(owner, fn.__name__, args, kwargs)
        elif isinstance(fn, MethodDescriptorType) and args:
            # Called through the type, as in str.ljust(text, n): the first argument is the owner.
            args = (args[0], *check_method(args[0], fn.__name__, args[1:], kwargs))
        return self.account(fn(*args, **kwargs))

    def trusted(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap one of the engine's own helpers so that a run calls them a limited number of times."""

        def run(*args: Any, **kwargs: Any) -> Any:
            self.tick()
            self.helper_calls += 1
            if self.helper_calls > MAX_HELPER_CALLS:
                raise refuse(f"a step may call the calendar and notification helpers at most "
                             f"{MAX_HELPER_CALLS} times")
            return fn(*args, **kwargs)

        run.__name__ = fn.__name__
        return run

    def loop(self, iterable: Any) -> Iterator[Any]:
        """Count each pass of a loop; stop the run when it has looped too often or too long."""
        self.tick()
        for item in iterable:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise refuse(f"the expression looped more than {MAX_STEPS:,} times")
            if not self.steps & 255:
                self.tick()
            yield item

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call `fn` with the clock started; turn exhaustion into a refusal."""
        self.deadline = time.perf_counter() + MAX_SECONDS
        try:
            return fn(*args)
        except (MemoryError, RecursionError, OverflowError) as exc:
            raise refuse(f"the expression ran out of room: {type(exc).__name__}") from None
