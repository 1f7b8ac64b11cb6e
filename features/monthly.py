"""Drive a month of the framework: register, schedule, audits to submission, moderation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine import Engine, FrozenClock, register, schedule
from engine.models import HumanTask, Instance
from features import council
from features.driver import AuditDriver

BEFORE_THE_TOOL = ("Activity_ArrangeMeeting", "Activity_UpdateChildFile",
                   "Activity_UndertakeAuditTogether", "Activity_ObtainFamilyFeedback")
SECTION_KEYS = ("lived_experience", "assessment", "plan", "oversight", "multi_agency",
                "recording", "impact")


class Month:
    """A council with a register of children, and CPP running its month."""

    def __init__(self, engine: Engine, clock: FrozenClock, children: int = 40):
        self.engine, self.clock = engine, clock
        self.org = council.build(engine)
        self.import_result = register.import_children(engine, "cpp1", council.children(children))
        self.drawn: list[list[tuple[str, str]]] = []
        self.batch_id: int | None = None
        self.moderation_id: int | None = None
        self.refused: Exception | None = None

    def at(self, moment: datetime) -> None:
        self.clock.set(moment)
        self.engine.fire_due_timers()

    def driver(self, audit_id: int) -> AuditDriver:
        d = AuditDriver(self.engine, self.clock)
        d.instance_id = audit_id
        return d

    def start_audits(self, month: str, count: int, seed: int = 1) -> list[int]:
        self.batch_id = schedule.draw(self.engine, "cpp1", month, size=count, seed=seed)
        schedule.confirm(self.engine, "cpp1", self.batch_id)
        [batch] = [b for b in schedule.batches(self.engine, month) if b.id == self.batch_id]
        return [r.audit_id for r in batch.rows if r.audit_id]

    def submit(self, audit_id: int, grade: str, sections: dict[str, str] | None = None,
               themes: list[str] | None = None, **answers: Any) -> None:
        """Do the audit up to and including the audit tool, with this overall grade."""
        d = self.driver(audit_id)
        for spec in BEFORE_THE_TOOL:
            d.complete(spec)
        tool: dict[str, Any] = {f"section_{k}_grade": grade for k in SECTION_KEYS}
        tool.update({f"section_{k}_grade": v for k, v in (sections or {}).items()})
        tool.update(grade=grade, themes=themes or [], good_practice_identified=False)
        tool.update(answers)
        d.complete("Activity_CompleteAuditTool", **tool)

    def agree(self, audit_id: int) -> None:
        self.driver(audit_id).complete("Activity_RespondToFindings", practitioner_agrees=True)

    def complete(self, audit_id: int, spec: str, **answers: Any) -> None:
        self.driver(audit_id).complete(spec, **answers)

    def open_tasks(self, process_id: str | None = None) -> list[HumanTask]:
        with self.engine.transaction() as s:
            q = select(HumanTask).where(HumanTask.status == "open").order_by(HumanTask.id)
            if process_id:
                q = q.where(HumanTask.process_id == process_id)
            return list(s.execute(q).scalars())

    def audits(self, process_id: str = "deep_dive_audit") -> list[Instance]:
        with self.engine.transaction() as s:
            return list(s.execute(select(Instance).where(Instance.process_id == process_id)
                                  .order_by(Instance.id)).scalars())
