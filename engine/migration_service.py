"""Move running audits to a newer version of their process, only where that is safe.

SpiffWorkflow's `SpecDiff` aligns the old version's task specs with the new one's and says which
changed; an audit may move only when no step it has started or done was changed or removed
(SpiffWorkflow's `migrate_workflow` then re-predicts what is still ahead of it). Each audit moves
in its own transaction, under the instance's optimistic lock, and leaves a "migrated" event in
the audit trail.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    TimerConditionalEventDefinitionConverter,
)
from SpiffWorkflow.bpmn.util.diff import SpecDiff, migrate_workflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, spiff
from engine.definitions import ParsedDefinition
from engine.errors import EngineError, NotAllowed, NotFound
from engine.models import HumanTask, Instance, ProcessVersion
from engine.spiff import TaskState
from engine.timeline import all_tasks
from engine.versions import get_version

if TYPE_CHECKING:
    from engine.service import Engine

# Spec serialisations are compared attribute by attribute; our clock timers compare as timers.
_REGISTRY = BpmnWorkflowSerializer.configure({
    **SPIFF_CONFIG,
    spiff.ClockTimeDate: TimerConditionalEventDefinitionConverter,
    spiff.ClockDuration: TimerConditionalEventDefinitionConverter,
})
# A description changes nothing about how a step runs.
IGNORED = frozenset({"documentation", "description", "lookahead"})
NOT_STARTED = TaskState.MAYBE | TaskState.LIKELY | TaskState.FUTURE
WORDS = {
    "outputs": "what comes after it", "inputs": "what leads to it", "bpmn_name": "its name",
    "name": "its id", "lane": "its lane", "extensions": "its form or properties",
    "event_definition": "its timer or event", "cond_task_specs": "its conditions",
    "default_task_spec": "its default path", "script": "its script",
    "spec": "the process it calls", "typename": "what kind of step it is",
    "cancel_activity": "whether it interrupts its task", "prescript": "its script",
    "postscript": "its script", "condition": "its condition",
}
STATE_WORDS = {
    TaskState.COMPLETED: "has been done", TaskState.READY: "is open",
    TaskState.WAITING: "is under way", TaskState.STARTED: "is under way",
    TaskState.ERROR: "has failed", TaskState.CANCELLED: "was passed by",
}


@dataclass(frozen=True)
class Verdict:
    """Whether one running audit can move to the target version, and why not."""

    instance_id: int
    child_ref: str
    from_version: int
    to_version: int
    started_at: datetime
    where: tuple[str, ...]
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def movable(self) -> bool:
        return not self.reasons


@dataclass
class _SpecChanges:
    changed: dict[str, list[str]]
    removed: set[str]
    alignment: dict[str, str]
    any: bool


def _compare(old: Any, new: Any) -> list[str]:
    a, b = _REGISTRY.convert(old), _REGISTRY.convert(new)
    if a.get("typename") != b.get("typename"):
        return ["typename"]
    return [k for k, v in a.items() if b.get(k) != v and k not in IGNORED]


def _spec_changes(old: Any, new: Any) -> _SpecChanges:
    """Align two versions of one process spec by id (then by shape) and list what changed."""
    diff = SpecDiff(_REGISTRY, old, new)
    changed: dict[str, list[str]] = {}
    removed: set[str] = set()
    alignment: dict[str, str] = {}
    for name, ts in old.task_specs.items():
        # Event sub-process starts are not reached from the start event: align those by id.
        target = diff.alignment[ts] if ts in diff.alignment else new.task_specs.get(name)
        if target is None:
            removed.add(name)
            continue
        alignment[name] = target.name
        attrs = _compare(ts, target)
        if attrs:
            changed[name] = attrs
    added = [n for n in new.task_specs if n not in set(alignment.values())]
    return _SpecChanges(changed, removed, alignment, bool(changed or removed or added))


def _label(name: str, specs: Any) -> str:
    base = name.split(".")[0]
    spec = specs.task_specs.get(base) or specs.task_specs.get(name)
    if name in ("Start", "End") or name.endswith(".EndJoin"):
        return "the start of the process" if name == "Start" else "the end of the process"
    label = (getattr(spec, "bpmn_name", None) or base) if spec is not None else base
    return f"‘{label}’"


def _state_words(state: int) -> str:
    for flag, words in STATE_WORDS.items():
        if state & flag:
            return words
    return "has been reached"


def _reasons(wf: spiff.BpmnWorkflow, old: ParsedDefinition, new: ParsedDefinition) -> list[str]:
    """Say why the audit cannot move; empty when every step it has started or done is unchanged."""
    reasons: list[str] = []
    cache: dict[str, _SpecChanges] = {}
    workflows = [(wf, old.spec, new.spec)]
    for sub in wf.subprocesses.values():
        name = sub.spec.name
        if name not in new.subprocess_specs:
            reasons.append(f"It is part-way through ‘{name}’, which the new version no longer has")
            continue
        workflows.append((sub, old.subprocess_specs.get(name, sub.spec), new.subprocess_specs[name]))
    for workflow, old_spec, new_spec in workflows:
        changes = cache.setdefault(old_spec.name, _spec_changes(old_spec, new_spec))
        for task in workflow.tasks.values():
            if task.state & NOT_STARTED:
                continue
            name = task.task_spec.name
            where = _label(name, old_spec)
            if name in changes.removed:
                reasons.append(f"{where} {_state_words(task.state)} in this audit and the new "
                               "version removes it")
            elif name in changes.changed and not task.state & TaskState.CANCELLED:
                what = sorted({WORDS.get(a, a) for a in changes.changed[name]})
                reasons.append(f"{where} {_state_words(task.state)} in this audit and the new "
                               f"version changes {', '.join(what)}")
            elif task.state & TaskState.READY and name in old.user_tasks:
                form = old.user_tasks[name].form_file
                if form and old.files.get(form) != new.files.get(form):
                    reasons.append(f"{where} is open in this audit and the new version changes "
                                   "its form")
    return list(dict.fromkeys(reasons))


class _Alignment:
    """The one part of SpiffWorkflow's WorkflowDiff that migrate_workflow reads."""

    def __init__(self, alignment: dict[Any, Any]):
        self.alignment = alignment


def _migrate(wf: spiff.BpmnWorkflow, old: ParsedDefinition, new: ParsedDefinition) -> str:
    """Point the workflow at the new specs, re-predict what is ahead, return its state as JSON."""
    spec, subs = copy.deepcopy((new.spec, new.subprocess_specs))
    # Open tasks and running timers are reset and re-predicted; keep their data and due times.
    kept = {t.id: (t.data, t.internal_data) for t in all_tasks(wf)
            if t.state & (TaskState.READY | TaskState.WAITING)}
    pairs = [(wf, old.spec, spec)] + [
        (sub, old.subprocess_specs.get(sub.spec.name, sub.spec), subs[sub.spec.name])
        for sub in wf.subprocesses.values()]
    for workflow, old_spec, new_spec in pairs:
        changes = _spec_changes(old_spec, new_spec)
        if not changes.any:
            workflow.spec = new_spec
            for task in workflow.tasks.values():
                task.task_spec = new_spec.task_specs[task.task_spec.name]
            continue
        alignment = {t: new_spec.task_specs.get(changes.alignment.get(t.task_spec.name, ""))
                     for t in workflow.tasks.values()}
        migrate_workflow(_Alignment(alignment), workflow, new_spec)
    wf.subprocess_specs = subs
    for task in all_tasks(wf):
        if task.id in kept and task.state & (TaskState.READY | TaskState.WAITING):
            task.data, task.internal_data = kept[task.id]
    return spiff.state_to_json(wf)


def _try(wf: spiff.BpmnWorkflow, old: ParsedDefinition,
         new: ParsedDefinition) -> tuple[list[str], spiff.BpmnWorkflow | None]:
    """Check, then move a copy of the audit's workflow; return (reasons, the moved workflow)."""
    reasons = _reasons(wf, old, new)
    if reasons:
        return reasons, None
    try:
        state = _migrate(wf, old, new)
        return [], spiff.state_from_json(state, new.spec, new.subprocess_specs)
    except Exception as exc:  # SpiffWorkflow raises many kinds; any of them means "not safe"
        return [f"Its current state does not fit the new version ({type(exc).__name__}: {exc})"], None


def _open_names(s: Session, inst: Instance) -> tuple[str, ...]:
    return tuple(s.execute(select(HumanTask.name).where(
        HumanTask.instance_id == inst.id, HumanTask.status == "open")
        .order_by(HumanTask.id)).scalars())


def _verdict(s: Session, inst: Instance, source: ProcessVersion, target: ProcessVersion,
             reasons: list[str]) -> Verdict:
    return Verdict(inst.id, inst.child_ref, source.version, target.version, inst.started_at,
                   _open_names(s, inst), tuple(reasons))


def _target(s: Session, process_id: str, to_version: int | None) -> ProcessVersion:
    return get_version(s, process_id, to_version)


def preview(engine: Engine, process_id: str, to_version: int | None = None) -> list[Verdict]:
    """Which running audits on other versions of the process can move to `to_version` (the newest)."""
    with engine.transaction() as s:
        target = _target(s, process_id, to_version)
        new = engine.definition(s, target)
        audits = s.execute(
            select(Instance).join(Instance.process_version)
            .where(Instance.process_id == process_id, Instance.status == "running",
                   ProcessVersion.version < target.version)
            .order_by(Instance.id)).unique().scalars().all()
        verdicts: list[Verdict] = []
        for inst in audits:
            old = engine.definition(s, inst.process_version)
            state, changes = inst.stored
            wf = spiff.state_from_json(state, old.spec, old.subprocess_specs, changes)
            reasons, _ = _try(wf, old, new)
            verdicts.append(_verdict(s, inst, inst.process_version, target, reasons))
        return verdicts


def migrate(engine: Engine, instance_id: int, actor: str, to_version: int | None = None) -> Verdict:
    """Move one running audit to `to_version` (the newest) in one transaction, or refuse and say why."""
    with engine.transaction() as s:
        inst = s.get(Instance, instance_id)
        if inst is None:
            raise NotFound("There is no such audit")
        target = _target(s, inst.process_id, to_version)
        source = inst.process_version
        if inst.status != "running":
            raise NotAllowed(f"Audit {inst.id} is {inst.status}; only running audits move")
        if source.version >= target.version:
            raise NotAllowed(f"Audit {inst.id} is already on version {source.version}")
        old, new = engine.definition(s, source), engine.definition(s, target)
        wf, _ = engine._load(s, inst)
        reasons, moved = _try(wf, old, new)
        if moved is None:
            raise NotAllowed("; ".join(reasons))
        inst.process_version_id = target.id
        inst.process_version = target
        audit.append(s, engine.now(), actor, "migrated",
                     {"process_id": inst.process_id, "from_version": source.version,
                      "to_version": target.version}, inst.id, inst.child_ref)
        engine._run(s, inst, moved, new, actor)
        return _verdict(s, inst, source, target, [])


def migrate_many(engine: Engine, instance_ids: Iterable[int], actor: str,
                 to_version: int | None = None) -> tuple[list[Verdict], dict[int, str]]:
    """Move each audit in its own transaction; return those moved and why the others were not."""
    moved: list[Verdict] = []
    refused: dict[int, str] = {}
    for instance_id in instance_ids:
        try:
            moved.append(migrate(engine, instance_id, actor, to_version))
        except EngineError as exc:  # refused, moved meanwhile, or failed when run: unchanged
            refused[instance_id] = str(exc)
    return moved, refused
