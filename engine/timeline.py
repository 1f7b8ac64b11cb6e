"""Read deadlines and waiting timers out of a live workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.spiff import BpmnWorkflow, TaskState, timer_definition


def all_tasks(wf: BpmnWorkflow) -> list[Any]:
    """Every task of the workflow and its subprocesses, read straight from their task maps."""
    tasks = list(wf.tasks.values())
    for sub in wf.subprocesses.values():
        tasks.extend(sub.tasks.values())
    return tasks


def waiting_timers(tasks: list[Any]) -> list[Any]:
    return [t for t in tasks
            if t.state == TaskState.WAITING and timer_definition(t.task_spec) is not None]


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


_READY, _WAITING, _COMPLETED = TaskState.READY, TaskState.WAITING, TaskState.COMPLETED


@dataclass
class Scan:
    """What the engine needs to know after running a workflow, gathered in one pass."""

    more_to_run: bool = False  # a ready task the engine runs itself (a timer refreshed late)
    ready_user_tasks: list[Any] = field(default_factory=list)
    waiting_timers: list[Any] = field(default_factory=list)
    fired_since: list[Any] = field(default_factory=list)
    next_timer_at: datetime | None = None
    latest_completed: Any = None  # its data is the process's current data


def scan(wf: BpmnWorkflow, since: float) -> Scan:
    """One pass over every task: ready work, waiting timers and the soonest of them, timers that
    fired at or after `since` (SpiffWorkflow's wall-clock state-change time), and the task that
    completed last. Reads the state attribute directly: this runs after every step."""
    found = Scan()
    latest_at = -1.0
    for task in all_tasks(wf):
        state = task._state
        if state == _READY:
            if task.task_spec.manual:
                found.ready_user_tasks.append(task)
            else:
                found.more_to_run = True
        elif state == _WAITING:
            if timer_definition(task.task_spec) is not None:
                found.waiting_timers.append(task)
                value = _timer_value(task)
                if value is not None and (found.next_timer_at is None
                                          or value < found.next_timer_at):
                    found.next_timer_at = value
        elif state == _COMPLETED:
            changed = task.last_state_change
            if changed >= latest_at:
                found.latest_completed, latest_at = task, changed
            if changed >= since and timer_definition(task.task_spec) is not None:
                found.fired_since.append(task)
    return found
