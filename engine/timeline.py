"""Read deadlines and waiting timers out of a live workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.spiff import BpmnWorkflow, TaskState, timer_definition


def ready_user_tasks(wf: BpmnWorkflow) -> list[Any]:
    return [t for t in wf.get_tasks(state=TaskState.READY, manual=True)]


def _timer_value(task: Any) -> datetime | None:
    value = task.internal_data.get("event_value")
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value)


def task_due_at(task: Any) -> datetime | None:
    """Return the earliest deadline set by a waiting non-interrupting timer on this task."""
    parent = task.parent
    if parent is None or type(parent.task_spec).__name__ != "BoundaryEventSplit":
        return None
    due: datetime | None = None
    for sibling in parent.children:
        spec = sibling.task_spec
        if sibling is task or not sibling.has_state(TaskState.WAITING):
            continue
        if timer_definition(spec) is None or getattr(spec, "cancel_activity", True):
            continue
        value = _timer_value(sibling)
        if value is not None and (due is None or value < due):
            due = value
    return due


def next_timer_at(wf: BpmnWorkflow) -> datetime | None:
    """Return when the next timer in this workflow (and its subprocesses) falls due."""
    soonest: datetime | None = None
    for task in wf.get_tasks(state=TaskState.WAITING):
        if timer_definition(task.task_spec) is None:
            continue
        value = _timer_value(task)
        if value is not None and (soonest is None or value < soonest):
            soonest = value
    return soonest
