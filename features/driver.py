"""Drive one audit through the engine as its people would, for the features' step definitions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Engine, FrozenClock, forms, org, spiff
from engine.definitions import ParsedDefinition
from engine.models import AuditEvent, HumanTask, Instance, Notification, Person
from engine.service import stored_state_of

LONDON = ZoneInfo("Europe/London")


def when(text: str) -> datetime:
    """Read 'Friday 19 December 2025 at 16:00' (London time) as an aware datetime."""
    return datetime.strptime(text, "%A %d %B %Y at %H:%M").replace(tzinfo=LONDON)


def in_words(moment: datetime) -> str:
    local = moment.astimezone(LONDON)
    return f"{local:%A} {local.day} {local:%B %Y at %H:%M}"


def sample(schema: dict[str, Any], today: str) -> dict[str, Any]:
    """Return a plausible, valid answer to every question of a form (the first option of each)."""
    answer: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        answer[name] = _value(prop, today)
    return answer


def _value(prop: dict[str, Any], today: str) -> Any:
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return max(prop.get("minimum", 1), 1)
    if kind == "array":
        items = prop.get("items", {})
        if "enum" in items:
            return items["enum"][:1]
        return [_value(items, today)]
    if kind == "object":
        return {k: _value(v, today) for k, v in prop.get("properties", {}).items()}
    if prop.get("format") == "date":
        return today
    if prop.get("format") == "date-time":
        return f"{today}T10:00:00+00:00"
    for candidate in ("Recorded for the feature", "10:00", "sam.patel"):
        if re.search(prop.get("pattern", ""), candidate):
            return candidate
    return "Recorded for the feature"


class AuditDriver:
    def __init__(self, engine: Engine, clock: FrozenClock):
        self.engine, self.clock = engine, clock
        self.instance_id: int | None = None
        self.bespoke_reason: str | None = None
        self.grade: str | None = None
        self.rejected: Exception | None = None
        self.form: dict[str, Any] = {}

    def at(self, moment: datetime) -> None:
        self.clock.set(moment)
        self.engine.fire_due_timers()

    def allocate(self, child_ref: str, status: str, audit_type: str = "monthly",
                 by: str = "cpp1") -> int:
        data = {"child_ref": child_ref, "child_status": status, "audit_type": audit_type,
                "supplementary_reading": "Working Together to Safeguard Children 2023"}
        if self.bespoke_reason:
            data["bespoke_reason"] = self.bespoke_reason
        self.instance_id = self.engine.start("deep_dive_audit", by, data, practitioner="sw",
                                             auditor="auditor")
        return self.instance_id

    def open_tasks(self) -> list[HumanTask]:
        with self.engine.transaction() as s:
            return list(s.execute(select(HumanTask).where(
                HumanTask.instance_id == self.instance_id, HumanTask.status == "open")
                .order_by(HumanTask.id)).scalars())

    def task(self, name: str) -> HumanTask:
        found = [t for t in self.open_tasks() if t.name == name or t.spec_name == name]
        assert found, f"no open task '{name}'; open: {[t.name for t in self.open_tasks()]}"
        return found[0]

    def holder(self, task: HumanTask) -> str:
        if task.assignee is not None:
            return task.assignee.username
        with self.engine.transaction() as s:
            member = s.execute(select(Person.username).join(Person.roles).where(
                Person.roles.any(role=task.group_role)).order_by(Person.id)).scalars().first()
        assert member, f"nobody holds the group role {task.group_role}"
        return member

    def form_of(self, task: HumanTask) -> dict[str, Any]:
        """Return the task's form as this child's audit shows it (questions for other statuses
        pruned), its data read from storage as the task page reads it: the engine's live workflow
        is left where it is, so the next step runs on it as it would in the app."""
        with self.engine.transaction() as s:
            pd, state, changes = self._stored(s, task.instance_id)
            data = spiff.task_data(state, changes, task.task_uuid) or {}
            return forms.for_task(pd.form(task.form_file) or {}, data)

    def _stored(self, s: Session, instance_id: int) -> tuple[ParsedDefinition, str, list[str]]:
        """The audit's definition and its workflow state as stored."""
        inst = s.get(Instance, instance_id)
        assert inst is not None
        return (self.engine.definition_of(s, inst.process_version_id),
                *stored_state_of(s.connection(), inst.id))

    def _read(self, s: Session, instance_id: int) -> spiff.BpmnWorkflow:
        """The audit's workflow rebuilt from storage, the engine's live workflow left as it is."""
        pd, state, changes = self._stored(s, instance_id)
        return spiff.state_from_json(state, pd.spec, pd.subprocess_specs, changes)

    def complete(self, name: str, _omit: set[str] | frozenset[str] = frozenset(),
                 **answers: Any) -> None:
        """Complete the open task called `name` as its holder, answering the rest plausibly."""
        task = self.task(name)
        who = self.holder(task)
        if task.group_role and task.claimed_by_id is None:
            self.engine.claim(task.id, who)
        submitted = sample(self.form_of(task), self.clock.now().date().isoformat())
        submitted.update(answers)
        for key in _omit:
            submitted.pop(key, None)
        self.engine.complete_task(task.id, who, submitted)

    def holders(self, role: str) -> list[str]:
        """Return the usernames of whoever holds a role on this audit (or in the group)."""
        with self.engine.transaction() as s:
            inst = s.get(Instance, self.instance_id)
            people = [p.person.username for p in inst.participants if p.role == role]
            if not people:
                people = [p.username for p in org.members_of(s, role)]
            return people

    def username_of(self, name: str) -> str:
        with self.engine.transaction() as s:
            return s.execute(select(Person.username).where(Person.name == name)).scalar_one()

    def data(self) -> dict[str, Any]:
        with self.engine.transaction() as s:
            wf = self._read(s, self.instance_id)
            latest = max((t for t in wf.get_tasks() if t.data), key=lambda t: t.last_state_change)
            return dict(latest.data)

    def instance(self) -> Instance:
        with self.engine.transaction() as s:
            return s.get(Instance, self.instance_id)

    def notifications(self, username: str) -> list[Notification]:
        with self.engine.transaction() as s:
            return list(s.execute(select(Notification).join(Notification.recipient).where(
                Person.username == username, Notification.instance_id == self.instance_id)
                .order_by(Notification.id)).scalars())

    def events(self, kind: str) -> list[AuditEvent]:
        with self.engine.transaction() as s:
            return list(s.execute(select(AuditEvent).where(
                AuditEvent.instance_id == self.instance_id, AuditEvent.kind == kind)
                .order_by(AuditEvent.id)).scalars())


def where(driver: AuditDriver) -> tuple[str, list[str]]:
    """Where an audit stands: its status and its open tasks' spec names, sorted."""
    return driver.instance().status, sorted(t.spec_name for t in driver.open_tasks())


def walk_as_twins(first: AuditDriver, second: AuditDriver,
                  steer: dict[str, dict[str, Any]] | None = None, limit: int = 40) -> None:
    """Complete two audits' open tasks in step, the same task with the same answers (`steer`'s
    for a task it names, else sampled from the form), until they end or wait with nothing open;
    they must stand in the same place before every step."""
    for _ in range(limit):
        assert where(first) == where(second)
        status, open_now = where(first)
        if status != "running" or not open_now:
            return
        for driver in (first, second):
            driver.complete(open_now[0], **(steer or {}).get(open_now[0], {}))
