"""The QA framework engine: BPMN definitions, instances, tasks, timers and the audit trail."""

from engine.clock import Clock, FrozenClock, SystemClock
from engine.errors import (
    ConcurrentUpdate,
    DefinitionInvalid,
    EngineError,
    FormInvalid,
    NotAllowed,
    NotFound,
    ProcessFailed,
)
from engine.service import Engine

__all__ = [
    "Clock",
    "ConcurrentUpdate",
    "DefinitionInvalid",
    "Engine",
    "EngineError",
    "FormInvalid",
    "FrozenClock",
    "NotAllowed",
    "NotFound",
    "ProcessFailed",
    "SystemClock",
]
