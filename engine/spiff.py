"""Everything that touches SpiffWorkflow: parser, restricted script engine, clock timers, state codec.

Only this module (and definitions.py, which uses its parser) imports SpiffWorkflow.
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import pickle
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from SpiffWorkflow import __version__ as SPIFF_VERSION
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.control import BpmnStartTask, _EndJoin
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    IntermediateCatchEvent,
    StartEvent,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter, BpmnTaskIterator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.spiff.parser.event_parsers import (
    SpiffBoundaryEventParser,
    SpiffIntermediateCatchEventParser,
    SpiffStartEventParser,
)
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.event_definitions import SignalEventDefinition
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskFilter, TaskIterator, TaskState
from SpiffWorkflow.workflow import Workflow

from engine import clock, sandbox

__all__ = [
    "VALIDATOR",
    "BpmnWorkflow",
    "SpiffWorkflowException",
    "explain",
    "QaParser",
    "TaskState",
    "make_workflow",
    "timer_definition",
    "send_signal",
    "state_from_json",
    "state_to_json",
    "state_to_save",
    "stored_state",
    "stored_state_json",
]

# SpiffWorkflow decides from its loggers' own level, not the effective one, whether to gather a
# whole workflow's task ids into a log record each time a workflow is made, and a task's data
# into one at each change of state: below INFO it does, and a logger nobody set is at 0. The
# records then go nowhere (the CLI sets "spiff" to WARNING: at INFO every state change is
# logged, naming children's data), but the gathering is a walk of every task. Set them as the
# CLI means them to be.
for _name in ("spiff.workflow", "spiff.task"):
    logging.getLogger(_name).setLevel(logging.WARNING)

_effects: contextvars.ContextVar[sandbox.Effects | None] = contextvars.ContextVar(
    "qaflow_effects", default=None
)


def collect_effects(effects: sandbox.Effects) -> contextvars.Token[sandbox.Effects | None]:
    """Send what scripts ask for (notifications, escalations) to `effects` until reset."""
    return _effects.set(effects)


def stop_collecting(token: contextvars.Token[sandbox.Effects | None]) -> None:
    _effects.reset(token)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Run BPMN expressions and scripts through engine.sandbox."""

    def evaluate(self, expression, context, external_context=None):  # type: ignore[no-untyped-def]
        return sandbox.evaluate(expression, context, _effects.get())

    def execute(self, script, context, external_context=None):  # type: ignore[no-untyped-def]
        sandbox.execute(script, context, _effects.get())
        return True

    def call_service(self, context, **kwargs):  # type: ignore[no-untyped-def]
        raise sandbox.ExpressionRefused("service tasks are not supported")


SCRIPT_ENGINE = PythonScriptEngine(environment=RestrictedEnvironment())


def _clock_now() -> datetime:
    return clock.now().astimezone(UTC)


class ClockTimeDate(TimeDateEventDefinition):
    """A timeDate timer that reads the engine's clock instead of the wall clock."""

    def has_fired(self, my_task):  # type: ignore[no-untyped-def]
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            event_value = TimerEventDefinition.get_datetime(str(event_value)).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.get_datetime(event_value) <= _clock_now():
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockDuration(DurationTimerEventDefinition):
    """A timeDuration timer measured from the engine's clock."""

    def has_fired(self, my_task):  # type: ignore[no-untyped-def]
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            parsed = TimerEventDefinition.parse_iso_duration(expression)
            start = _clock_now()
            delta = TimerEventDefinition.get_timedelta_from_start(parsed, start)
            event_value = (start + delta).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.get_datetime(event_value) <= _clock_now():
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class _ClockTimerParsing:
    def parse_timer_event(self, event):  # type: ignore[no-untyped-def]
        parsed = super().parse_timer_event(event)  # type: ignore[misc]
        if type(parsed) is TimeDateEventDefinition:
            return ClockTimeDate(parsed.name, parsed.expression, description=parsed.description)
        if type(parsed) is DurationTimerEventDefinition:
            return ClockDuration(parsed.name, parsed.expression, description=parsed.description)
        return parsed


class _StartParser(_ClockTimerParsing, SpiffStartEventParser):
    pass


class _BoundaryParser(_ClockTimerParsing, SpiffBoundaryEventParser):
    pass


class _CatchParser(_ClockTimerParsing, SpiffIntermediateCatchEventParser):
    pass


class QaParser(SpiffBpmnParser):
    """SpiffWorkflow's spiff-flavour parser with timers on the engine's clock."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("startEvent"): (_StartParser, StartEvent),
        full_tag("boundaryEvent"): (_BoundaryParser, BoundaryEvent),
        full_tag("intermediateCatchEvent"): (_CatchParser, IntermediateCatchEvent),
    }


_MUTABLE = (dict, list, set)


class _FastTasks:
    """A workflow converter whose restore of a workflow's tasks is TaskConverter.from_dict's for
    each, done in one loop: a rebuild restores every task of an audit (hundreds), and the generic
    path (the registry's look-up and copy of each task's dict, a deep merge to copy the parent's
    data, a UUID parsed for every mention of an id) costs several times the work itself. Each id
    is parsed once per workflow, its UUID shared by the task, its parent's children and its
    children's parent. Any other mapping, or a task of another typename, goes the stock way.
    tests/engine/test_restore.py holds every task it restores to the stock converter's, attribute
    by attribute, at every step of the framework's pathway."""

    registry: Any

    def mapping_from_dict(self, mapping: dict[str, Any], key_class: Any = None,
                          **kwargs: Any) -> dict[Any, Any]:
        workflow = kwargs.get("workflow")
        if key_class is not UUID or workflow is None or len(kwargs) != 1:
            return super().mapping_from_dict(mapping, key_class, **kwargs)  # type: ignore[misc]
        restore = self.registry.restore
        specs, events = workflow.spec.task_specs, workflow.top_workflow.event_manager
        ids: dict[str, UUID] = {}
        mutable: dict[int, set[str]] = {}  # per task restored here, its data's mutable values

        def uid(text: str) -> UUID:
            found = ids.get(text)
            if found is None:
                found = ids[text] = UUID(text)
            return found

        tasks: dict[UUID, Any] = {}
        for key, dct in mapping.items():
            if dct.get("typename") != "Task":
                tasks[uid(key)] = restore(dct, workflow=workflow)
                continue
            spec = specs.get(dct["task_spec"])
            task = Task(workflow, spec, state=dct["state"], id=uid(dct["id"]))
            parent = dct["parent"]
            task._parent = uid(parent) if parent is not None else None
            task._children = [uid(child) for child in dct["children"]]
            task.last_state_change = dct["last_state_change"]
            task.triggered = dct["triggered"]
            task.internal_data = restore(dct["internal_data"])
            if isinstance(spec, CatchingEvent) and task._state & TaskState.WAITING:
                events.add_task(task)
            delta = dct.get("delta")
            above = task.parent
            if delta and above is not None:
                # DeepMerge.merge({}, the parent's data): the parent's data with a shallow copy
                # of each mutable value. Which of its values are mutable is known from the
                # parent's own restore (a copy is of the same type), so only they are looked at.
                data = dict(above.data)
                held = mutable.get(id(above))
                if held is None:
                    held = {name for name, value in data.items() if isinstance(value, _MUTABLE)}
                else:
                    held = set(held)
                for name in held:
                    data[name] = copy.copy(data[name])
                updates = restore(delta.get("updates", {}))
                data.update(updates)
                for name, value in updates.items():
                    if isinstance(value, _MUTABLE):
                        held.add(name)
                    else:
                        held.discard(name)
                for name in delta.get("deletions", {}):
                    if name in data:
                        del data[name]
                        held.discard(name)
            else:
                data = restore(dct["data"])
                held = {name for name, value in data.items() if isinstance(value, _MUTABLE)}
            mutable[id(task)] = held
            task.data = data
            tasks[uid(key)] = task
        return tasks


class _FastSubWorkflowConverter(_FastTasks, BpmnSubWorkflowConverter):
    pass


class _StateOnlyConverter(_FastTasks, BpmnWorkflowConverter):
    """Serialise a workflow's state without its spec; the spec lives once per definition version."""

    def __init__(self, registry: Any, specs: tuple[Any, dict[str, Any]] | None = None):
        self.target_class = BpmnWorkflow
        self.registry = registry
        self.typename = None
        self.specs = specs

    def to_dict(self, workflow):  # type: ignore[no-untyped-def]
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def parts(self, workflow, skip: dict[str, dict[int, Any]] | None = None,  # type: ignore[no-untyped-def]
              fresh: dict[int, tuple[Any, str]] | None = None
              ) -> dict[str, tuple[str, list[tuple[Any, str]], int]]:
        """Each workflow's head (its JSON without the tasks), its tasks' JSON fragments
        (`"id":{...}`) in order and how many it skipped, keyed "" for the top workflow and by
        task id for subprocesses. Tasks in `skip` (per workflow, by id(task): the task and its
        children then) are left out, only counted, while their children are the same; the JSON
        of tasks that have not changed since an earlier call (see below) is reused from it, and
        that of the others from `fresh`, which collects it (for a second call, unchanged
        workflow, same moment)."""
        # Keyed by id(task) (cheaper than hashing a UUID); the entry keeps the task itself, so a
        # recycled id never matches a different task.
        cache: dict[int, tuple[Any, float, list[Any], tuple[str, ...] | None, str, Any]] = \
            workflow.__dict__.setdefault("_qaflow_json", {})
        convert, dumps = self.registry.convert, _dumps
        made: dict[int, tuple[Any, str]] = {} if fresh is None else fresh

        def tasks(wf, skipping: dict[int, Any]) -> tuple[list[tuple[Any, str]], int]:  # type: ignore[no-untyped-def]
            out, skipped = [], 0
            for tid, task in wf.tasks.items():
                key = id(task)
                if skipping:
                    was = skipping.get(key)
                    if was is not None and was[0] is task and was[1] == task._children:
                        skipped += 1
                        continue
                hit = cache.get(key)
                if hit is not None and hit[0] is task and hit[1] == task.last_state_change \
                        and hit[2] == task._children:
                    if task._state & _FINISHED:
                        out.append((task, hit[4]))
                        continue
                    names = hit[3]
                    # The names in the parent's data, through the parent kept with the entry
                    # rather than found by id.
                    if names is not None and not task.data and not task.internal_data \
                            and _names_in(hit[5]) == names:
                        out.append((task, hit[4]))
                        continue
                again = made.get(key)
                if again is not None and again[0] is task:
                    out.append(again)
                    continue
                text = f'"{_text(tid)}":' + _task_json(task)
                made[key] = (task, text)
                # A finished task changes only when it gains a child (an event subprocess
                # triggered under the start); any other with no data of its own (a task ahead,
                # a join waiting for its other branches) only with its state (and so the time
                # of its last change), its children or the names in its parent's data.
                finished = task._state & _FINISHED
                names = None if finished else _bare(task)
                if finished or names is not None:
                    cache[key] = (task, task.last_state_change, list(task._children), names,
                                  text, task.parent)
                out.append((task, text))
            return out, skipped

        def head(wf, extra: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
            fields = {
                "data": wf.data, "correlations": wf.correlations,
                "last_task": _text(wf.last_task.id) if wf.last_task is not None else None,
                "success": wf.success, "completed": wf.completed, "root": _text(wf.task_tree.id),
                **extra,
            }
            # The data as it is when JSON can write it: the converter returns JSON's own types
            # unchanged (it registers none of them) and the JSON is the same, at a fraction of
            # the cost of its walk; anything else (a date, a callable) goes through the converter.
            try:
                return dumps(fields)
            except (TypeError, ValueError):
                fields["data"] = convert(wf.data)  # which drops callables itself
                return dumps(fields)

        skip = skip or {}
        found = {"": (head(workflow, {"bpmn_events": convert(workflow.bpmn_events)}),
                      *tasks(workflow, skip.get("", {})))}
        for tid, sp in workflow.subprocesses.items():
            key = _text(tid)
            found[key] = (head(sp, {"parent_task_id": _text(sp.parent_task_id),
                                    "spec": sp.spec.name,
                                    "typename": self.registry.typenames[type(sp)]}),
                          *tasks(sp, skip.get(key, {})))
        return found

    def from_dict(self, dct):  # type: ignore[no-untyped-def]
        assert self.specs is not None, "restore needs the definition's specs"
        spec, subprocess_specs = self.specs
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _bare(task: Any) -> tuple[str, ...] | None:
    """For a task with no data of its own, the names in its parent's data; None for a task with
    data. A task's data is stored as its changes from its parent's, so a task with none stores
    its parent's names as deletions: its JSON changes when they do, though the task has not."""
    if task.data or task.internal_data:
        return None
    return _names_in(task.parent)


def _names_in(parent: Any) -> tuple[str, ...]:
    """The names in a parent task's data (none without a parent)."""
    return tuple(parent.data) if parent is not None else ()


# Task ids as text: an id is written as the task's own, as its parent's child and as its
# children's parent, at every save that writes any of them, and str(UUID) is Python code. Keyed by
# id() with the UUID itself kept, so a recycled id never matches; emptied when full.
_TEXTS: dict[int, tuple[UUID, str]] = {}
_TEXTS_MAX = 50_000


def _text(u: UUID) -> str:
    hit = _TEXTS.get(id(u))
    if hit is not None and hit[0] is u:
        return hit[1]
    if len(_TEXTS) >= _TEXTS_MAX:
        _TEXTS.clear()
    text = str(u)
    _TEXTS[id(u)] = (u, text)
    return text


_KEYS: dict[tuple[str, ...] | str, str] = {}


def _keys_json(keys: tuple[str, ...] | str) -> str:
    """The JSON of a spec's name, or of a list of data keys: a few hundred different ones per
    process, written at every save."""
    text = _KEYS.get(keys)
    if text is None:
        if len(_KEYS) >= _TEXTS_MAX:
            _KEYS.clear()
        text = _KEYS[keys] = _dumps(keys if isinstance(keys, str) else list(keys))
    return text


def _task_json(task: Any) -> str:
    """SpiffWorkflow's JSON for a task (TaskConverter.to_dict with its typename, as `_dumps`
    writes it: the data as its changes from the parent's), built directly: the converter's
    generic walk costs several times as much, and most of a save is tasks. Tests hold it to the
    converter's output, byte for byte, for every task of the framework's pathway."""
    parent = task.parent
    ours = task.data
    if parent is None:
        up, data, delta = "null", _dumps(ours), "{}"
    else:
        up, data, theirs = f'"{_text(task._parent)}"', "{}", parent.data
        if ours and ours == theirs and _SAME_EITHER_WAY.issuperset(map(type, ours.values())):
            updates, deletions = "{}", "[]"  # a task that has not changed its parent's data
        elif ours:
            updates = _dumps({k: v for k, v in ours.items() if k not in theirs or v != theirs[k]})
            deletions = _dumps([k for k in theirs if k not in ours])
        else:  # most tasks: predicted ones, whose parents' data all counts as deleted
            updates, deletions = "{}", _keys_json(tuple(theirs))
        delta = '{"updates":' + updates + ',"deletions":' + deletions + "}"
    internal = _dumps(_registry.convert(task.internal_data)) if task.internal_data else "{}"
    children = ",".join(f'"{_text(child)}"' for child in task._children)
    return (f'{{"id":"{_text(task.id)}","parent":{up},"children":[{children}],'
            f'"last_state_change":{float.__repr__(task.last_state_change)},'
            f'"state":{int(task._state)},"task_spec":{_keys_json(task.task_spec.name)},'
            f'"triggered":{"true" if task.triggered else "false"},"internal_data":{internal},'
            f'"data":{data},"delta":{delta},"typename":"Task"}}')


# Values whose `!=` says the opposite of the comparison dictionaries make (which takes the same
# object as equal): a task whose data equals its parent's, holding only these, has no updates.
# Not float (NaN is the same object as itself yet unequal to it) nor anything a script may make.
_SAME_EITHER_WAY = frozenset({str, int, bool, type(None), dict, list})
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED | TaskState.ERROR
_registry = BpmnWorkflowSerializer.configure(
    {**DEFAULT_CONFIG, BpmnSubWorkflow: _FastSubWorkflowConverter})
_converter = _StateOnlyConverter(_registry)


_dumps = json.JSONEncoder(separators=(",", ":")).encode
_BASE = "_qaflow_saved"
# The change sets stored since the last whole state are folded into a new whole one once they
# would pass this share of it: a rebuild then reads at most twice the state's JSON (measured on
# the deep-dive's largest state: 2.7 ms to rebuild, of which 0.24 ms is reading the JSON).
CHANGES_SHARE = 1.0


def _whole(parts: dict[str, tuple[str, list[tuple[Any, str]], int]]) -> str:
    def one(head: str, tasks: list[tuple[Any, str]], _skipped: int) -> str:
        return head[:-1] + ',"tasks":{' + ",".join(text for _, text in tasks) + "}}"

    top = one(*parts[""])
    subs = ",".join(f'"{key}":' + one(*part) for key, part in parts.items() if key)
    return top[:-1] + ',"subprocesses":{' + subs + "}}"


def state_to_json(workflow: BpmnWorkflow) -> str:
    """Return the workflow's state (tasks, data, subprocesses) as JSON, without any spec."""
    return _whole(_converter.parts(workflow))


class _Saved:
    """What storage holds of a live workflow, as of its last save: per workflow (keyed "" for the
    top one, by task id for subprocesses) its head, its unfinished tasks with their JSON, and its
    finished tasks with their children (a finished task changes only by gaining a child); the
    length of the whole state last stored, and of the changes stored since."""

    __slots__ = ("workflows", "whole", "since")

    def __init__(self, parts: dict[str, tuple[str, list[tuple[Any, str]], int]], whole: int,
                 settled: dict[str, dict[int, tuple[Any, list[Any]]]] | None = None,
                 since: int = 0):
        """From the parts of the state as stored (`settled`: the finished tasks they left out)."""
        self.workflows = {
            key: (head,
                  {id(task): (task, text) for task, text in tasks if not task._state & _FINISHED},
                  settled[key] if settled is not None else
                  {id(task): (task, list(task._children)) for task, _ in tasks
                   if task._state & _FINISHED})
            for key, (head, tasks, _) in parts.items()}
        self.whole, self.since = whole, since


def state_to_save(workflow: BpmnWorkflow) -> tuple[str | None, str | None]:
    """Return what to store for the workflow: (its whole state, None); or (None, the changes since
    its last save), a change set stored beside the ones before it; or (None, None) when nothing
    changed.

    Most steps change a handful of tasks of hundreds, so a step stores only those: what a step
    writes does not grow with the steps before it. The stored state is the last whole state with
    each change set since applied in turn (`stored_state`). Once the change sets would pass
    CHANGES_SHARE of the whole state, the whole state is stored again and they are dropped; so it
    is when a finished task has changed, and by a workflow that does not know what storage holds
    (one made new; `state_from_json` tells a rebuilt one). What storage holds is updated here:
    the caller stores what this returns in the same transaction, or (on failure) drops the
    workflow.
    """
    saved: _Saved | None = workflow.__dict__.get(_BASE)
    fresh: dict[int, tuple[Any, str]] = {}  # JSON made for the change set, reused by the whole
    if saved is not None:
        # Tasks that had finished at the last save are stored as they are now: only the others
        # are looked at.
        parts = _converter.parts(workflow, {key: was[2] for key, was in saved.workflows.items()},
                                 fresh)
        changes = _changes(parts, saved)
        if changes is _NO_CHANGES:
            return None, None
        if changes is not None and saved.since + len(changes) <= saved.whole * CHANGES_SHARE:
            saved.since += len(changes)
            return None, changes
    parts = _converter.parts(workflow, fresh=fresh)
    whole = _whole(parts)
    workflow.__dict__[_BASE] = _Saved(parts, len(whole))
    return whole, None


_NO_CHANGES = '{"workflows":{},"gone":[]}'


def _changes(parts: dict[str, tuple[str, list[tuple[Any, str]], int]], saved: _Saved) -> str | None:
    """The change set from what `saved` holds to `parts` (which left out the tasks it holds
    finished): per workflow its head if changed, the tasks that are new or changed (in their
    order), the ids of tasks gone; and subprocesses gone. None if a task it holds finished has
    gone or gained a child (an event subprocess triggered): the whole state is stored instead.
    `saved` is brought up to `parts` on the way (if the change set is not stored, the whole
    state is, and `saved` made afresh)."""
    held = saved.workflows
    workflows = []
    for key, (head, tasks, skipped) in parts.items():
        was = held.get(key)
        was_head, was_tasks, settled = was if was is not None else ("", {}, {})
        if skipped < len(settled):
            return None
        changed: list[str] = []
        unfinished: dict[int, tuple[Any, str]] = {}
        kept = 0
        for task, text in tasks:
            tid = id(task)
            old = was_tasks.get(tid)
            if old is not None and old[0] is task:
                kept += 1
                if old[1] is not text and old[1] != text:
                    changed.append(text)
            else:
                changed.append(text)
            if task._state & _FINISHED:
                settled[tid] = (task, list(task._children))
            else:
                unfinished[tid] = (task, text)
        gone: list[str] = []
        if kept < len(was_tasks):
            gone = [_text(task.id) for tid, (task, _) in was_tasks.items()
                    if tid not in unfinished and tid not in settled]
        held[key] = (head, unfinished, settled)
        if head == was_head and not changed and not gone:
            continue
        workflows.append(f'"{key}":{{"head":{head if head != was_head else "null"},'
                         f'"tasks":{{{",".join(changed)}}},"gone":{_dumps(gone)}}}')
    gone_subs = [key for key in held if key and key not in parts]
    for key in gone_subs:
        del held[key]
    if not workflows and not gone_subs:
        return _NO_CHANGES
    return f'{{"workflows":{{{",".join(workflows)}}},"gone":{_dumps(gone_subs)}}}'


def stored_state(state: str, changes: str | Sequence[str] | None = ()) -> dict[str, Any]:
    """The workflow state as stored: the last whole state with each change set since applied in
    turn (one change set as text, or a sequence of them in the order they were stored)."""
    doc: dict[str, Any] = json.loads(state)
    for change in _change_sets(changes):
        _apply(doc, json.loads(change))
    return doc


def _change_sets(changes: str | Sequence[str] | None) -> Sequence[str]:
    """Stored change sets as a sequence: one given as text (as migration 0007 stored it) alone."""
    return (changes,) if isinstance(changes, str) else changes or ()


def _apply(doc: dict[str, Any], changes: dict[str, Any]) -> None:
    subs = doc.setdefault("subprocesses", {})
    for key in changes["gone"]:
        subs.pop(key, None)
    for key, change in changes["workflows"].items():
        wf = doc if key == "" else subs.setdefault(key, {"tasks": {}})
        if change["head"] is not None:
            wf.update(change["head"])
        tasks = wf["tasks"]
        for tid in change["gone"]:
            tasks.pop(tid, None)
        tasks.update(change["tasks"])


def stored_state_json(state: str, changes: str | Sequence[str] | None = ()) -> str:
    """`stored_state` as JSON text, for readers of the stored form (exports, seeding)."""
    return state if not changes else _dumps(stored_state(state, changes))


def _private(spec: Any, subprocess_specs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # SpiffWorkflow rewires a process spec the first time one of its event subprocesses is
    # triggered (BpmnStartTask.trigger_wf); a spec shared between audits would carry one audit's
    # safety concern into every later one. A workflow whose event subprocess is triggered
    # therefore owns a copy of each spec that has event subprocesses (the deep-dive's own); the
    # others (the dispute, the follow-up, the concern's body), which nothing rewires and which
    # name one another only by id, are shared. Until then it runs on the cached specs themselves
    # (see _trigger_wf): most audits never raise a concern, and a copy costs about a rebuild's
    # quarter. A deep copy by unpickling a snapshot taken once from the pristine cached specs
    # (None when no spec has event subprocesses): the same object graph as copy.deepcopy,
    # several times faster.
    snapshot = spec.__dict__.get(_SNAPSHOT)
    if snapshot is None or snapshot[0] is not subprocess_specs:
        spec.__dict__.pop(_SNAPSHOT, None)
        pristine = {name: s for name, s in (("", spec), *subprocess_specs.items())
                    if getattr(s.start, "trigger_specs", None)}
        snapshot = (subprocess_specs, pickle.dumps(pristine, protocol=5) if pristine else None)
        spec.__dict__[_SNAPSHOT] = snapshot
    if snapshot[1] is None:
        return spec, subprocess_specs
    copies = cast(dict[str, Any], pickle.loads(snapshot[1]))  # noqa: S301 (our own bytes)
    own_spec = copies.pop("", spec)
    return own_spec, {**subprocess_specs, **copies} if copies else subprocess_specs


_SNAPSHOT = "_qaflow_pickled"


_SHARED = "_qaflow_shared_specs"  # on a workflow running on the cached specs themselves


def _own_specs(top: BpmnWorkflow) -> None:
    """Move a workflow (its subprocesses with it) from the cached specs onto a private copy of
    those with event subprocesses: each workflow on such a spec, each of its tasks, and each
    subprocess's call back to the task that started it, which runs through that task's spec."""
    spec, subs = top.spec, top.subprocess_specs
    own_spec, own_subs = _private(spec, subs)
    copies = {id(spec): own_spec} if own_spec is not spec else {}
    copies.update((id(subs[name]), own) for name, own in own_subs.items()
                  if name in subs and own is not subs[name])
    if not copies:
        return
    starters = [(sp, top.get_task_from_id(tid)) for tid, sp in top.subprocesses.items()]
    callbacks = [(sp, task, task.task_spec._on_subworkflow_completed) for sp, task in starters
                 if task is not None and sp.completed_event.is_connected(
                     task.task_spec._on_subworkflow_completed)]
    for wf in _audit_workflows(top):  # the top workflow's own spec among them
        own = copies.get(id(wf.spec))
        if own is None:
            continue
        wf.spec = own
        for task in wf.tasks.values():
            task.task_spec = own.task_specs[task.task_spec.name]
    top.subprocess_specs = own_subs
    for sp, task, was in callbacks:
        if task.task_spec._on_subworkflow_completed != was:
            sp.completed_event.disconnect(was)
            sp.completed_event.connect(task.task_spec._on_subworkflow_completed, task)


_stock_trigger_wf = BpmnStartTask.trigger_wf


def _trigger_wf(self: Any, my_task: Task, spec_name: str) -> Any:
    """BpmnStartTask.trigger_wf, on a private copy of the specs for a workflow still running on
    the cached ones: the copy, not the cached spec every audit shares, is rewired."""
    top = my_task.workflow.top_workflow
    if top.__dict__.pop(_SHARED, False):
        _own_specs(top)
        self = my_task.workflow.spec.task_specs[self.name]  # this start, in the copy
    return _stock_trigger_wf(self, my_task, spec_name)


BpmnStartTask.trigger_wf = _trigger_wf  # type: ignore[method-assign]


def _rewire_triggered(workflow: BpmnWorkflow) -> None:
    """Re-apply the rewiring that triggering an event subprocess did before the state was saved."""
    for wf in (workflow, *workflow.subprocesses.values()):
        start, end = wf.spec.start, wf.spec.end
        for child in wf.task_tree.children:
            if child.triggered and child.task_spec.name in getattr(start, "trigger_specs", ()):
                if start not in child.task_spec.inputs:
                    start.connect(child.task_spec)
                    child.task_spec.connect(end)


def state_from_json(text: str, spec: Any, subprocess_specs: dict[str, Any],
                    changes: str | Sequence[str] | None = ()) -> BpmnWorkflow:
    """Rebuild a workflow from its stored state (and the change sets since) and the cached
    parsed specs (a private copy of them once an event subprocess has been triggered), knowing
    what storage holds of it: its next save stores only what changed (another web process, a
    worker or a restart carries on where it was)."""
    changes = _change_sets(changes)
    doc = stored_state(text, changes)
    triggered = any(task.get("triggered") for wf in (doc, *doc.get("subprocesses", {}).values())
                    for task in wf["tasks"].values())
    specs = _private(spec, subprocess_specs) if triggered else (spec, subprocess_specs)
    workflow = _walk_fast(_StateOnlyConverter(_registry, specs).from_dict(doc))
    if triggered:
        _rewire_triggered(workflow)
    else:
        workflow.__dict__[_SHARED] = True
    workflow.script_engine = SCRIPT_ENGINE
    # What is stored is what this workflow serialises to (tests/engine/test_state_changes.py
    # holds every step to it), so its unfinished tasks' JSON stands for what storage holds of
    # them; a finished task is stored as it is while it gains no child, so it is only counted.
    settled = {key: {id(task): (task, list(task._children)) for task in wf.tasks.values()
                     if task._state & _FINISHED}
               for key, wf in (("", workflow), *((_text(tid), sp) for tid, sp
                                                 in workflow.subprocesses.items()))}
    workflow.__dict__[_BASE] = _Saved(_converter.parts(workflow, settled), len(text), settled,
                                      since=sum(map(len, changes)))
    return workflow


def task_data(state: str, changes: str | Sequence[str] | None, task_id: str
              ) -> dict[str, Any] | None:
    """The data one task sees, read from the stored state without rebuilding the workflow (None
    if no task has that id): what SpiffWorkflow's converter gives the task on restoring it.

    A task stores its data as the changes from its parent's (`delta`: updates and deletions), or
    whole where it has no parent or was stored before deltas; so its data is the nearest whole
    one down its line of ancestors with each one's changes applied in turn.
    """
    doc = stored_state(state, changes)
    for wf in (doc, *doc.get("subprocesses", {}).values()):
        tasks = wf["tasks"]
        if task_id in tasks:
            break
    else:
        return None
    line = [tasks[task_id]]
    while line[-1].get("delta") and line[-1]["parent"] in tasks:
        line.append(tasks[line[-1]["parent"]])
    restore = _registry.restore
    data: dict[str, Any] = restore(line[-1]["data"])
    for stored in reversed(line[:-1]):
        delta = stored["delta"]
        data = {**data, **restore(delta.get("updates", {}))}
        for key in delta.get("deletions", ()):
            data.pop(key, None)
    return data


# -- the task tree walk ---------------------------------------------------------------------
#
# SpiffWorkflow finds tasks by walking its task tree (TaskIterator): the ready tasks at every
# engine step, the waiting ones after every task completes, a join's inputs. In memory, those
# walks are most of what a step costs, and most of a walk's cost is its bookkeeping: the list of
# tasks to visit popped from the front, a climb up the parents after every leaf to keep the
# depth, a property call and a list per node's children. `_walk` visits the same tasks in the
# same order, prunes where that walk prunes, stops at the same spec and cuts at the same depth
# (the number it keeps, quirks and all: leaving a subprocess's tree it counts as the stock walk
# does), with the bookkeeping done on a stack of (task, depth in its own tree). Only workflows
# the engine makes or rebuilds are walked this way (marked with _FAST_WALK): SpiffWorkflow's own
# walk is untouched for everything else, the benchmarks' in-memory baseline included.
# tests/engine/test_walk.py holds it to the stock walk, walk by walk, on the framework's
# processes, and to the one SpiffWorkflow version it mirrors.

_FAST_WALK = "_qaflow_fast_walk"
WALK_MIRRORS = "3.2.0"  # the SpiffWorkflow version whose TaskIterator `_walk` reproduces


def _walk(it: Any) -> Iterator[Any]:
    """The tasks a depth-first TaskIterator (or BpmnTaskIterator) yields, in its order."""
    first = it.task_list[0]
    wanted = it.task_filter
    state, end_at, max_depth, min_state = wanted.state, it.end_at_spec, it.max_depth, it.min_state
    plain = type(wanted) is TaskFilter or (
        type(wanted) is BpmnTaskFilter and wanted.catches_event is None and wanted.lane is None)
    since, manual = wanted.updated_ts, wanted.manual
    spec_name, spec_class = wanted.spec_name, wanted.spec_class
    if isinstance(it, BpmnTaskIterator):
        subprocesses = first.workflow.top_workflow.subprocesses  # live: a run may add one
        enter = not it.skip_subprocesses
    else:
        subprocesses, enter = {}, False
    if plain and it.__dict__.get("whole"):
        placed = _in_walk_order(first, subprocesses, enter, it)
        if placed is not None:
            yield from placed
            return
    elif plain and not _any_wanted(first.workflow, subprocesses if enter else None, state, since,
                                   manual, spec_name, spec_class):
        return
    stack = [(first, 0)]  # the next task last; each with its depth in its own workflow's tree
    pop = stack.pop
    depth = 0
    while stack:
        task, level = pop()
        children = task._children
        sub = subprocesses.get(task.id) if subprocesses else None
        if (children or sub is not None) and (task._state >= min_state or sub is not None) \
                and depth < max_depth and (end_at is None or task.task_spec.name != end_at):
            get = task.workflow.tasks.get
            below = level + 1
            stack += [(get(child), below) for child in reversed(children)]
            if sub is not None and enter and not (task._state >= _FINISHED
                                                  and state <= _FINISHED):
                stack.append((sub.task_tree, 0))
            depth += 1
        elif stack:
            # The stock walk climbs from the leaf's parent to the next task's parent, one down
            # per step, or to the top of the leaf's own tree when the next task is outside it.
            following, its_level = stack[-1]
            depth -= level - its_level if following.workflow is task.workflow else level
        if wanted.matches(task) if not plain else (
                task._state & state and task.last_state_change >= since
                and (manual is None or task.task_spec.manual == manual)
                and (spec_name is None or task.task_spec.name == spec_name)
                and (spec_class is None or isinstance(task.task_spec, spec_class))):
            yield task


def _any_wanted(workflow: Any, subprocesses: dict[Any, Any] | None, state: int, since: float,
                manual: bool | None, spec_name: str | None, spec_class: Any) -> bool:
    """Whether any task of the workflow (and, when the walk enters subprocesses, of the whole
    audit's) passes the filter. A walk yields only tasks that pass it, and does nothing else until
    it yields one, so when none does it yields nothing: a scan of the task maps (a few
    microseconds) tells so without the walk (tens). Most walks SpiffWorkflow starts ask for the
    waiting tasks after each task completes, of a workflow that has none."""
    return bool(_wanted(workflow, subprocesses, state, since, manual, spec_name, spec_class, 0))


def _wanted(workflow: Any, subprocesses: dict[Any, Any] | None, state: int, since: float,
            manual: bool | None, spec_name: str | None, spec_class: Any, most: int) -> list[Any]:
    """The tasks of the workflow (and, when the walk enters subprocesses, of the whole audit's)
    that pass the walk's filter, in the maps' order: all of them, or the first `most` + 1."""
    found: list[Any] = []
    for wf in _audit_workflows(workflow.top_workflow) if subprocesses else (workflow,):
        # A look for one spec's tasks (a join's, most often) asks its name first: it rules out
        # nearly every task, and every other test passes nearly every task.
        tasks = (wf.tasks.values() if spec_name is None else
                 [task for task in wf.tasks.values() if task.task_spec.name == spec_name])
        for task in tasks:
            if task._state & state and task.last_state_change >= since \
                    and (manual is None or task.task_spec.manual == manual) \
                    and (spec_class is None or isinstance(task.task_spec, spec_class)):
                found.append(task)
                if len(found) > most:
                    return found
    return found


# A walk whose every task is taken before the tree changes (a list of the tasks, or the first
# one) may find them in the task maps and put them in the walk's order (`_in_walk_order`) rather
# than walk; a walk its caller takes a task at a time, changing the tree in between
# (update_waiting_tasks), may not. Set while SpiffWorkflow makes such a list (`_taking_whole`).
_WHOLE: contextvars.ContextVar[bool] = contextvars.ContextVar("qaflow_whole_walk", default=False)
# More tasks found than this and the walk puts them in order (each is placed by a climb to the
# walk's first task).
_FEW = 8


def _in_walk_order(first: Any, subprocesses: dict[Any, Any], enter: bool, it: Any
                   ) -> list[Any] | None:
    """The tasks the walk would yield, in its order, found in the task maps: each task that
    passes the filter, kept if the walk reaches it and put where the walk meets it (`_place`).
    None (walk instead) when the walk's depth limit could cut the audit's tree, when more than a
    few tasks pass, or when the tree is not as SpiffWorkflow keeps it."""
    every = _audit_workflows(first.workflow.top_workflow)
    # The walk counts one level down at each task it goes below, so it cannot pass a limit
    # above the number of tasks there are.
    if sum(len(wf.tasks) for wf in every) >= it.max_depth:
        return None
    wanted = it.task_filter
    found = _wanted(first.workflow, subprocesses if enter else None, wanted.state,
                    wanted.updated_ts, wanted.manual, wanted.spec_name, wanted.spec_class, _FEW)
    if len(found) > _FEW:
        return None
    placed = []
    for task in found:
        where = _place(task, first, subprocesses, enter, it, every)
        if where is _UNSURE:
            return None
        if where is not None:
            placed.append((where, task))
    placed.sort(key=lambda pair: pair[0])
    return [task for _, task in placed]


_UNSURE: list[int] = []


def _place(task: Any, first: Any, subprocesses: dict[Any, Any], enter: bool, it: Any,
           every: tuple[Any, ...]) -> list[int] | None:
    """Where the walk from `first` meets the task: the child's position at each level down
    (-1 for a subprocess's tree, which the walk enters before the children of the task that runs
    it), or None when the walk does not go there: a task above it that the walk does not go
    below (a state under its minimum, the spec it ends at), a subprocess it does not enter, or
    `first` not above it at all. _UNSURE (walk instead) when the tree is not as SpiffWorkflow keeps
    it: a parent that does not list the task among its children, a subprocess the audit does not
    hold under the task that runs it.
    """
    min_state, end_at, state = it.min_state, it.end_at_spec, it.task_filter.state
    path: list[int] = []
    node = task
    while node is not first:
        workflow = node.workflow
        if node._parent is None:  # the root of its workflow's tree
            if node is not workflow.task_tree:
                return _UNSURE
            if not enter or not isinstance(workflow, BpmnSubWorkflow):
                return None
            runs = None
            for wf in every:
                runs = wf.tasks.get(workflow.parent_task_id)
                if runs is not None:
                    break
            if runs is None or subprocesses.get(runs.id) is not workflow:
                return _UNSURE
            # The walk's conditions for going into it (the second as the stock walk has it).
            if (end_at is not None and runs.task_spec.name == end_at) \
                    or (runs._state >= _FINISHED and state <= _FINISHED):
                return None
            path.append(-1)
            node = runs
            continue
        parent = workflow.tasks.get(node._parent)
        if parent is None:
            return _UNSURE
        if (parent._state < min_state and (not subprocesses or subprocesses.get(parent.id) is None)) \
                or (end_at is not None and parent.task_spec.name == end_at):
            return None
        try:
            path.append(parent._children.index(node.id))
        except ValueError:
            return _UNSURE
        node = parent
    path.reverse()
    return path


def _taking_whole(method: Any) -> Any:
    """Run a SpiffWorkflow method that takes every task of its walks before changing anything
    (or only the first) with such walks marked so."""
    def taking(*args: Any, **kwargs: Any) -> Any:
        token = _WHOLE.set(True)
        try:
            return method(*args, **kwargs)
        finally:
            _WHOLE.reset(token)
    return taking


class _WalkFast:
    """A TaskIterator whose depth-first walk is `_walk` (any other falls back to the stock one)."""

    task_list: list[Any]
    depth_first: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.whole = _WHOLE.get()
        self._walking = _walk(self) if self.depth_first else None

    def __next__(self) -> Any:
        if self._walking is None:
            return super().__next__()  # type: ignore[misc]
        return next(self._walking)


class _FastTaskIterator(_WalkFast, TaskIterator):
    pass


class _FastBpmnTaskIterator(_WalkFast, BpmnTaskIterator):
    pass


_FAST_CLASS: dict[type, type] = {TaskIterator: _FastTaskIterator,
                                 BpmnTaskIterator: _FastBpmnTaskIterator}


def _engines(workflow: Any) -> bool:
    """Whether a workflow (or the one a subprocess belongs to) is one the engine made or rebuilt:
    asked a few hundred times a step, so the mark is looked for in the workflow's own attributes,
    then in those of the workflow a subprocess holds as an attribute (BpmnWorkflow's own
    `top_workflow` is a property, itself)."""
    own = workflow.__dict__
    if own.get(_FAST_WALK):
        return True
    top = own.get("top_workflow")
    return top is not None and bool(top.__dict__.get(_FAST_WALK))


def _iterator_for(cls: type, *args: Any, **kwargs: Any) -> Any:
    """TaskIterator.__new__: the fast class for a walk over a workflow the engine marked."""
    fast = _FAST_CLASS.get(cls)
    task = args[0] if args else kwargs.get("task")
    if fast is not None and task is not None and _engines(task.workflow):
        cls = fast
    return object.__new__(cls)


def fast_walk_installed() -> bool:
    return TaskIterator.__dict__.get("__new__") is not None


if SPIFF_VERSION == WALK_MIRRORS:
    TaskIterator.__new__ = staticmethod(_iterator_for)  # type: ignore[assignment]


# SpiffWorkflow 3.2.0's Task._set_state builds a log message and its extras (the state's name
# from a table made afresh at each call, the parent found by id, the spec's names) at every
# change of state, whether or not the "spiff.task" logger will emit the record; the engine keeps
# that logger at WARNING (above). On the workflows the engine runs, the state and the time of the
# change are set as the stock method sets them and the record is built only when the logger would
# emit it: with the logger at INFO or below, the stock method runs as it is.
_TASK_LOG = logging.getLogger("spiff.task")
_stock_set_state = Task._set_state


def _set_state(self: Task, value: int) -> None:
    if _TASK_LOG.isEnabledFor(logging.INFO) or not _engines(self.workflow):
        return _stock_set_state(self, value)
    if value != self._state:
        self.last_state_change = time.time()
        self._state = value
    return None


if SPIFF_VERSION == WALK_MIRRORS:
    Task._set_state = _set_state  # type: ignore[method-assign]


# Task.is_descendant_of climbs from a task to the root by recursion, a call and a property (the
# parent found by id) per level: a parallel gateway waiting for its other branches asks it of
# every arrival at each engine step, twice when the answer is no, and the deep-dive's tasks sit
# 30-50 levels down. On the workflows the engine runs the climb is a loop, by the same steps: each
# parent is the one the task's own workflow holds under its parent's id, compared by identity (a
# Task defines no equality of its own).
_stock_is_descendant_of = Task.is_descendant_of


def _is_descendant_of(self: Task, task: Task) -> bool:
    if not _engines(self.workflow):
        return _stock_is_descendant_of(self, task)
    parent = self.workflow.tasks.get(self._parent)
    while parent is not None:
        if parent is task:
            return True
        parent = parent.workflow.tasks.get(parent._parent)
    return False


if SPIFF_VERSION == WALK_MIRRORS:
    Task.is_descendant_of = _is_descendant_of  # type: ignore[method-assign]


# Task._inherit_data is DeepMerge.merge(the task's data, its parent's): a Python loop over the
# parent's 70-odd values at each task the engine steps reach (about a hundred a pathway), which
# either fills an empty data (each mutable value copied shallowly) or finds every value already
# equal. On the workflows the engine runs those two outcomes are reached without the loop: an
# empty data takes the parent's values in their order, then a shallow copy of each value whose
# type is a dict, list or set (or a subclass); a data equal to its parent's is left as it is.
# Equal as dictionaries means each value compares equal or is the same object; DeepMerge compares
# by `==` alone, and where the two differ (a value not equal to itself, such as NaN, held by
# both) it puts the parent's object, which is the same one. Any other data is merged as stock.
_stock_inherit_data = Task._inherit_data


def _inherit_data(self: Task) -> None:
    if not _engines(self.workflow):
        return _stock_inherit_data(self)
    data, theirs = self.data, self.parent.data
    if not data:
        data.update(theirs)
        mutable = [kind for kind in set(map(type, theirs.values())) if issubclass(kind, _MUTABLE)]
        if mutable:
            for name, value in theirs.items():
                if type(value) in mutable:
                    data[name] = copy.copy(value)
    elif data != theirs:
        return _stock_inherit_data(self)
    return None


if SPIFF_VERSION == WALK_MIRRORS:
    Task._inherit_data = _inherit_data  # type: ignore[method-assign]


# UnstructuredJoin._update_hook (the parallel gateways, the end join) looks through every task of
# the workflow for other waiting instances of its spec, asking each task whether its spec is the
# join's (a comparison Python makes both ways before it falls back on identity), whether it is
# the task updated, and its state, through the property. It runs at each update of a waiting
# join: about 55 times a pathway, over a hundred-odd tasks each. On the workflows the engine runs
# the same tasks are found, in the same order, asking first the question most of them fail, the
# state as the property reads it; Task and TaskSpec define no equality of their own, so the two
# identity questions after it are the stock comparisons. The rest is the stock method's.
_stock_join_update_hook = UnstructuredJoin._update_hook


def _join_update_hook(self: Any, my_task: Task) -> bool:
    if not _engines(my_task.workflow):
        return cast(bool, _stock_join_update_hook(self, my_task))
    may_fire = self._check_threshold_unstructured(my_task)
    waiting = TaskState.WAITING
    others = [t for t in my_task.workflow.tasks.values()
              if t._state == waiting and t.task_spec is self and t is not my_task]
    for task in others:
        # By cancelling the other waiting instances at once, they are not updated again.
        task.cancel()
    if not may_fire:
        # Only the most recent instance of the spec waits.
        my_task._set_state(TaskState.WAITING)
    else:
        # Only the task that goes on takes the data.
        my_task._inherit_data()
    return cast(bool, may_fire)


if SPIFF_VERSION == WALK_MIRRORS:
    UnstructuredJoin._update_hook = _join_update_hook  # type: ignore[method-assign]


# A parallel gateway waiting for its other branches asks again whether they have all arrived at
# every update of the waiting tasks (the deep-dive's re-audit gateway about 20 times a pathway),
# and the stock answer lists the gateway's instances in the walk's order and climbs from each to
# the root. That answer reads, of the audit, only: the gateway's instances, their ancestry and
# order (a task's parent never changes, and a tree only gains children at the end of a list and
# loses them, so two tasks stay in the same order), and the state of each instance's parent. On
# the workflows the engine runs it is kept with exactly those (the instances and their parents,
# held, and the parents' states, of every workflow of the audit: more than the walk can reach,
# never less) and given again while they are the same objects in the same states.
_stock_parallel_threshold = ParallelGateway._check_threshold_unstructured
_THRESHOLDS = "_qaflow_thresholds"
_ALL = 1 << 30  # as `most` for `_wanted`: every task found


def _parallel_threshold(self: Any, my_task: Task) -> bool:
    workflow = my_task.workflow
    if not _engines(workflow):
        return cast(bool, _stock_parallel_threshold(self, my_task))
    top = workflow.top_workflow
    seen: list[Any] = [self, my_task]
    for task in _wanted(top, top.subprocesses, TaskState.ANY_MASK, 0, None, self.name, None,
                        _ALL):
        parent = task.workflow.tasks.get(task._parent)
        seen += (task, parent, parent._state if parent is not None else None)
    kept: dict[int, tuple[list[Any], bool]] = top.__dict__.setdefault(_THRESHOLDS, {})
    last = kept.get(id(self))
    if last is not None and last[0] == seen:
        return last[1]
    may_fire = cast(bool, _stock_parallel_threshold(self, my_task))
    kept[id(self)] = (seen, may_fire)
    return may_fire


# The end of a subprocess (or of the audit) waits for every task of its workflow that is not
# finished, found by a walk from the root that stops at the first such task but does not go below
# the end itself: up the trunk of finished steps, 30-50 levels down. Nothing changes during that
# walk, so the order it meets tasks in does not matter, only whether it meets one: on the
# workflows the engine runs, any unfinished task of the workflow other than this one that is not
# below an instance of the end. Every task of a workflow is in its tree (as `_sole` has it), and
# the walk goes below every task but the end's, so it meets each of those.
_stock_end_join_threshold = _EndJoin._check_threshold_unstructured


def _end_join_threshold(self: Any, my_task: Task) -> bool:
    workflow = my_task.workflow
    if not _engines(workflow) or len(workflow.tasks) >= _DEPTH_LIMIT:
        return cast(bool, _stock_end_join_threshold(self, my_task))
    below: set[int] = set()
    ends = _wanted(workflow, None, TaskState.ANY_MASK, 0, None, self.name, None, _ALL)
    get = workflow.tasks.get
    while ends:
        for child in ends.pop()._children:
            found = get(child)
            if found is not None and id(found) not in below:
                below.add(id(found))
                ends.append(found)
    unfinished = TaskState.NOT_FINISHED_MASK
    return not any(task._state & unfinished and task is not my_task and id(task) not in below
                   for task in workflow.tasks.values())


if SPIFF_VERSION == WALK_MIRRORS:
    ParallelGateway._check_threshold_unstructured = _parallel_threshold  # type: ignore[method-assign]
    _EndJoin._check_threshold_unstructured = _end_join_threshold  # type: ignore[method-assign]


# SpiffWorkflow asks a workflow for its ready tasks (each engine step, of the audit and of each
# subprocess) and its waiting ones as lists: Workflow.get_tasks(state=...), a walk of the tree from
# its root. When the audit's task maps hold exactly one task in that state and it belongs to the
# workflow asked, that task is the whole answer, found without the walk: every task of a workflow
# is in its tree, the walk descends through every definite or finished task (SpiffWorkflow's
# TaskIterator: "Predicted tasks can follow definite tasks but not vice versa", so a ready or
# waiting task's ancestors are all definite or finished), and its depth limit cannot cut a tree of
# fewer tasks than it. Two or more such tasks, or one in another workflow, and the walk says
# which and in what order. tests/engine/test_walk.py holds every answer to the stock method's.
_stock_get_tasks = Workflow.get_tasks
_ONE_STATE = (TaskState.READY, TaskState.WAITING)
_DEPTH_LIMIT = 1000  # TaskIterator's default max_depth


def _audit_workflows(top: Any) -> tuple[Any, ...]:
    """An audit's workflow and every subprocess of it (SpiffWorkflow keeps them all on the top)."""
    return (top, *top.subprocesses.values())


def _sole(workflow: Any, state: int) -> list[Any] | None:
    """[the one task of the audit in `state`] if it is `workflow`'s, [] if there is none, None
    when the walk must decide."""
    workflows = _audit_workflows(workflow.top_workflow)
    if sum(len(wf.tasks) for wf in workflows) > _DEPTH_LIMIT:
        return None
    found = None
    for wf in workflows:
        for task in wf.tasks.values():
            if task._state == state:
                if found is not None:
                    return None
                found = task
    if found is not None and found.workflow is not workflow:
        return None
    return [found] if found is not None else []


def _get_tasks(self: Any, first_task: Any = None, **kwargs: Any) -> list[Any]:
    if first_task is None and len(kwargs) == 1 and kwargs.get("state") in _ONE_STATE \
            and _engines(self):
        found = _sole(self, kwargs["state"])
        if found is not None:
            return found
    return _stock_get_tasks_whole(self, first_task, **kwargs)


# The walks that are taken whole (_in_walk_order): a list of tasks, the first task found, and a
# join's look for the other arrivals of its thread (a list it makes before cancelling any).
_stock_get_tasks_whole = _taking_whole(_stock_get_tasks)

if SPIFF_VERSION == WALK_MIRRORS:
    Workflow.get_tasks = _get_tasks  # type: ignore[method-assign]
    Workflow.get_next_task = _taking_whole(Workflow.get_next_task)  # type: ignore[method-assign]
    Join._find_tasks = _taking_whole(Join._find_tasks)  # type: ignore[method-assign]


def _walk_fast(workflow: BpmnWorkflow) -> BpmnWorkflow:
    workflow.__dict__[_FAST_WALK] = True
    return workflow


def explain(exc: Exception) -> str:
    """Say in one line why SpiffWorkflow stopped: the step, and the error underneath."""
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None) or getattr(exc, "task_spec", None)
    where = getattr(spec, "bpmn_name", None) or getattr(spec, "name", None) or "a step"
    cause: BaseException = exc
    seen = {id(exc)}
    while (nxt := cause.__cause__ or cause.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        cause = nxt
    detail = str(cause) if cause is not exc else str(exc)
    return f"the process could not continue at '{where}': {detail}"


def make_workflow(spec: Any, subprocess_specs: dict[str, Any]) -> BpmnWorkflow:
    """A new workflow, on the cached specs until an event subprocess is triggered (_trigger_wf)."""
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE)
    workflow.__dict__[_SHARED] = True
    return _walk_fast(workflow)


def send_signal(workflow: BpmnWorkflow, name: str, payload: dict[str, Any]) -> None:
    """Deliver a signal from outside; raises if the process is not waiting for it."""
    workflow.send_event(BpmnEvent(SignalEventDefinition(name), payload))


def timer_definition(task_spec: Any) -> TimerEventDefinition | None:
    definition = getattr(task_spec, "event_definition", None)
    return definition if isinstance(definition, TimerEventDefinition) else None
