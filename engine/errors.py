"""Errors the engine raises to its callers, each with a message fit for a person."""

from __future__ import annotations

from dataclasses import dataclass


class EngineError(Exception):
    """Base class of every error the engine reports to a user."""


class NotFound(EngineError):
    """The thing does not exist, or the person may not know that it does."""


class AccessRefused(NotFound):
    """Someone asked for an audit they may not see. To them it does not exist; the audit trail
    records the attempt, so a curious look at a relative's file shows in the access report."""

    def __init__(self, message: str, username: str, instance_id: int, child_ref: str):
        super().__init__(message)
        self.username, self.instance_id, self.child_ref = username, instance_id, child_ref


class AlreadyDone(EngineError):
    """The person asked for a task they have already completed (a resubmission after the answer
    was lost on the way back, say): nothing to do, and they should be told so, not 'not found'."""


class NotAllowed(EngineError):
    """The person may see the thing but may not do this to it."""


class ConcurrentUpdate(EngineError):
    """Someone else changed the audit first; nothing of this attempt was saved."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a process definition, located by file and element."""

    file: str
    element: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.element}: {self.reason}"


class DefinitionInvalid(EngineError):
    """A process definition was refused; `problems` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FormInvalid(EngineError):
    """Submitted form data broke the form's rules; `errors` maps field -> message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class ExpressionRefused(EngineError):
    """An expression or script tried something the restricted environment forbids."""


class ProcessFailed(EngineError):
    """The process definition could not go on (a script or expression failed); nothing was saved."""
