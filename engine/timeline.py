"""Read deadlines and waiting timers out of a live workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.spiff import BpmnWorkflow, TaskState, timer_definition


def all_tasks(wf: BpmnWorkflow) -> list[Any]:
    """Every task of the workflow and its subprocesses, read straight from their task maps."""
    tasks = list(wf.tasks.values())
    for sub in wf.subprocesses.values():
        tasks.extend(sub.tasks.values())
    return tasks


def ready_user_tasks(wf: BpmnWorkflow, tasks: list[Any] | None = None) -> list[Any]:
    return [t for t in (tasks if tasks is not None else all_tasks(wf))
            if t.state == TaskState.READY and t.task_spec.manual]


def waiting_timers(tasks: list[Any]) -> list[Any]:
    return [t for t in tasks
            if t.state == TaskState.WAITING and timer_definition(t.task_spec) is not None]


def timers_fired_since(tasks: list[Any], since: float) -> list[Any]:
    """Timers that fired at or after `since` (SpiffWorkflow's wall-clock state-change time)."""
    return [t for t in tasks
            if t.state == TaskState.COMPLETED and t.last_state_change >= since
            and timer_definition(t.task_spec) is not None]


def _timer_value(task: Any) -> datetime | None:
    value = task.internal_data.get("event_value")
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value)


def task_due_at(task: Any) -> datetime | None:
    """Return the earliest deadline set by a non-interrupting timer on this task: one still
    waiting, or one that has already fired (a task can open after its deadline has passed)."""
    parent = task.parent
    if parent is None or type(parent.task_spec).__name__ != "BoundaryEventSplit":
        return None
    due: datetime | None = None
    for sibling in parent.children:
        spec = sibling.task_spec
        if sibling is task or not sibling.has_state(TaskState.WAITING | TaskState.COMPLETED):
            continue
        if timer_definition(spec) is None or getattr(spec, "cancel_activity", True):
            continue
        value = _timer_value(sibling)
        if value is not None and (due is None or value < due):
            due = value
    return due


def next_timer_at(tasks: list[Any]) -> datetime | None:
    """Return when the next of these waiting timers falls due."""
    soonest: datetime | None = None
    for task in waiting_timers(tasks):
        value = _timer_value(task)
        if value is not None and (soonest is None or value < soonest):
            soonest = value
    return soonest
