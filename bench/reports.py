"""Every QA report for a year of a council doing 600 audits (target: each under 2 s).

Simulates 2025 for a council of two service areas, 12 teams and 48 practitioners: 50 audits
allocated a month, submitted over the following weeks, graded across the range; follow-up
tasks with their deadlines (most met, some late), disputes, safety concerns, the Inadequate
moderation in the follow-up and the monthly 20% sample. Rows are written as the engine
writes them (instances, projected human tasks, hash-chained `task_completed` events with the
submitted data), directly, for speed. Then builds each monthly report, each quarterly report
and each learning briefing, with their CSV and PDF, and the monthly page through the web app,
on SQLite and on PostgreSQL. Prints a table; the last line is `slowest report: N s (target 2)`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from engine import Engine, FrozenClock, audit, register, reports, workdays  # noqa: E402
from engine.definitions import Bundle  # noqa: E402
from engine.models import HumanTask, Instance, Participant, Person, ProcessVersion  # noqa: E402
from engine.register_models import ChildRecord  # noqa: E402
from features import council  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
YEAR = 2025
PER_MONTH = 50
SECTION_KEYS = ("lived_experience", "assessment", "plan", "oversight", "multi_agency",
                "recording", "impact")
THEMES = ("The child's voice is heard", "The child's voice is missing", "Fathers are not included",
          "Good assessment", "Assessment lacks detail", "Drift or delay in the plan",
          "Management oversight is lacking", "Strong multi-agency working")
TASK_NAMES = {
    "Activity_CompleteAuditTool": ("Complete the audit tool", "Auditor"),
    "Activity_AcknowledgeGrading": ("Acknowledge the grading", "Head of Service"),
    "Activity_FollowUpRemedialActions": ("Follow up remedial actions", "Team Manager"),
    "Activity_SignOffActions": ("Respond to and sign off the actions", "Service Manager"),
    "Activity_RespondToRemedialActions": ("Respond to and follow up remedial actions",
                                          "Service Manager"),
    "Activity_ReauditChildFile": ("Re-audit the child's file", "Head of Service"),
    "Activity_ModerateAudit": ("Moderate the audit", "CPP"),
    "Activity_ModerateSampledAudit": ("Moderate the audit", "CPP"),
    "Activity_DiscussFindings": ("Discuss the findings with the practitioner", "Auditor"),
    "Activity_AddressSafetyConcern": ("Record how the safety concern was addressed",
                                      "Head of Service"),
}


class Sim:
    """Writes a year of activity straight into the tables, as the engine would have."""

    def __init__(self, s: Session, rng: random.Random):
        self.s, self.rng = s, rng
        self.pv = {pv.process_id: pv.id for pv in s.execute(select(ProcessVersion)).scalars()}
        self.people = {p.username: p for p in s.execute(select(Person)).scalars()}
        self.children = list(s.execute(select(ChildRecord).order_by(ChildRecord.reference)).scalars())

    def instance(self, process_id: str, child: ChildRecord, started: datetime, audit_type: str,
                 data: dict[str, Any]) -> Instance:
        prac = child.practitioner
        inst = Instance(process_version_id=self.pv[process_id], process_id=process_id,
                        status="running", state="{}", version=1, child_ref=child.reference,
                        child_status=child.status, audit_type=audit_type, started_by="cpp1",
                        started_at=started, updated_at=started, team_id=prac.team_id,
                        service_area_id=child.service_area_id)
        self.s.add(inst)
        self.s.flush()
        auditor = self.rng.choice([p for u, p in self.people.items() if u.startswith("tm")
                                   and p.team_id != prac.team_id])
        tm = prac.manager
        roles = {"Practitioner": prac, "Auditor": auditor, "Team Manager": tm,
                 "Service Manager": tm.manager, "Head of Service": tm.manager.manager}
        for role, person in roles.items():
            self.s.add(Participant(instance_id=inst.id, role=role, person_id=person.id))
        audit.append(self.s, started, "cpp1", "started",
                     {"process_id": process_id, "version": 1, "data": data,
                      "participants": {r: p.username for r, p in roles.items()}},
                     inst.id, inst.child_ref)
        return inst

    def task(self, inst: Instance, spec: str, created: datetime, due: datetime | None,
             done: datetime | None, data: dict[str, Any] | None = None,
             holder: str | None = None) -> None:
        name, role = TASK_NAMES[spec]
        person = self.people.get(holder or "")
        self.s.add(HumanTask(
            instance_id=inst.id, task_uuid=str(uuid.UUID(int=self.rng.getrandbits(128))),
            spec_name=spec, name=name, process_id=inst.process_id, role=role,
            assignee_id=person.id if person and role != "CPP" else None,
            group_role="CPP" if role == "CPP" else None, due_at=due,
            status="completed" if done else "open", created_at=created, completed_at=done,
            completed_by_id=person.id if person and done else None,
            escalated_at=due if due and (done is None or done > due) else None))
        if done is not None:
            audit.append(self.s, done, holder or "cpp1", "task_completed",
                         {"task": name, "spec": spec, "data": data or {}}, inst.id, inst.child_ref)
        for _ in range(3):  # the views and notifications every audit collects
            audit.append(self.s, created, holder or "cpp1", "viewed", {}, inst.id, inst.child_ref)

    def later(self, start: datetime, days: float) -> datetime:
        return start + timedelta(days=days * self.rng.uniform(0.3, 1.6))


def simulate(engine: Engine, seed: int = 2025, per_month: int = PER_MONTH) -> int:
    """Write a year of audits (`per_month` allocated each month); return how many."""
    rng = random.Random(seed)
    engine.create_schema()
    engine.deploy(Bundle.from_paths([ROOT / "processes"]), "bench")
    council.build(engine, teams_per_area=6, workers_per_team=4)
    register.import_children(engine, "cpp1", council.children(1500, 6, 4, start=datetime(
        2024, 6, 3).date()))
    allocated = 0
    with engine.transaction() as s:
        sim = Sim(s, rng)
        pool = sim.children[:]
        rng.shuffle(pool)
        for month in range(1, 13):
            first = datetime(YEAR, month, 1, 9, tzinfo=UTC)
            for _ in range(per_month):
                child = pool.pop()
                allocated += 1
                simulate_audit(sim, child, first + timedelta(days=rng.randint(0, 3)))
            s.flush()
    return allocated


def simulate_audit(sim: Sim, child: ChildRecord, started: datetime) -> None:
    rng = sim.rng
    inst = sim.instance("deep_dive_audit", child, started, "monthly",
                        {"child_ref": child.reference, "child_status": child.status})
    auditor = next(p.person.username for p in sim.s.execute(select(Participant).where(
        Participant.instance_id == inst.id, Participant.role == "Auditor")).scalars())
    names = {p.role: p.person.username for p in sim.s.execute(select(Participant).where(
        Participant.instance_id == inst.id)).scalars()}
    if rng.random() < 0.03:
        raised = sim.later(started, 10)
        sim.task(inst, "Activity_AddressSafetyConcern", raised, None, sim.later(raised, 2),
                 holder=names["Head of Service"])
    submitted = sim.later(started, 24)
    if submitted > datetime(YEAR + 1, 1, 15, tzinfo=UTC) or rng.random() < 0.04:
        sim.task(inst, "Activity_CompleteAuditTool", started, None, None, holder=auditor)
        return
    grade = rng.choices(("Outstanding", "Good", "Requires Improvement", "Inadequate"),
                        (8, 55, 28, 9))[0]
    index = ("Outstanding", "Good", "Requires Improvement", "Inadequate").index(grade)
    sections = {f"section_{k}_grade": ("Outstanding", "Good", "Requires Improvement",
                                       "Inadequate")[max(0, min(3, index + rng.choice((-1, 0, 0, 1))))]
                for k in SECTION_KEYS}
    good = rng.random() < 0.3
    tool = {"grade": grade, **sections, "themes": rng.sample(THEMES, rng.randint(0, 3)),
            "strengths": "Relationship-based work with the family is evident",
            "areas_for_development": "Chronology to be brought up to date",
            "stretch_target_practitioner": "Use a direct work tool to capture the child's wishes",
            "good_practice_identified": good,
            "good_practice_example": "Creative direct work with the child" if good else ""}
    sim.task(inst, "Activity_CompleteAuditTool", started, None, submitted, tool, auditor)
    inst.grade = grade
    if rng.random() < 0.08:
        outcome = rng.choice(("resolved-grade-stands", "resolved-grade-changed"))
        sim.task(inst, "Activity_DiscussFindings", submitted, None, sim.later(submitted, 5),
                 {"dispute_stage1_outcome": outcome, "dispute_stage1_new_grade": "Good"}, auditor)
    if grade in ("Requires Improvement", "Inadequate"):
        ack_due = workdays.parse_when(workdays.noon_next_day(submitted))
        on_time = rng.random() < 0.85
        sim.task(inst, "Activity_AcknowledgeGrading", submitted, ack_due,
                 ack_due - timedelta(hours=2) if on_time else ack_due + timedelta(days=1),
                 {"hos_acknowledged": True}, names["Head of Service"])
        week = submitted + timedelta(days=7)
        if grade == "Requires Improvement":
            sim.task(inst, "Activity_FollowUpRemedialActions", submitted, week,
                     sim.later(submitted, 6), {}, names["Team Manager"])
            sim.task(inst, "Activity_SignOffActions", week, submitted + timedelta(days=30),
                     sim.later(submitted, 26), {}, names["Service Manager"])
        else:
            sim.task(inst, "Activity_RespondToRemedialActions", submitted, week,
                     sim.later(submitted, 6), {}, names["Service Manager"])
            sim.task(inst, "Activity_ModerateAudit", submitted, None, sim.later(submitted, 10),
                     {"moderation_agrees": rng.random() < 0.8, "moderation_grade":
                      "Requires Improvement"}, "cpp1")
        sim.task(inst, "Activity_ReauditChildFile", submitted, submitted + timedelta(days=91),
                 sim.later(submitted, 85), {"reaudit_grade": "Good"}, names["Head of Service"])
    elif rng.random() < 0.2:
        mod = sim.instance("moderation", child, submitted + timedelta(days=20), "moderation",
                           {"audited_grade": grade, "moderated_audit_id": inst.id})
        agrees = rng.random() < 0.85
        sim.task(mod, "Activity_ModerateSampledAudit", mod.started_at, None,
                 sim.later(mod.started_at, 7),
                 {"moderation_agrees": agrees, "moderation_grade": "Requires Improvement"}, "cpp2")
    inst.status = "completed"


def timed(label: str, fn: Any) -> tuple[str, float]:
    start = time.perf_counter()
    fn()
    return label, time.perf_counter() - start


def run(url: str, name: str, per_month: int = PER_MONTH) -> list[tuple[str, float]]:
    from webui import create_app
    from webui.reports import exports, pdf

    engine = Engine(url, clock=FrozenClock(datetime(YEAR + 1, 1, 20, 9, tzinfo=UTC)))
    started = time.perf_counter()
    n = simulate(engine, per_month=per_month)
    print(f"{name}: simulated {n} audits in {time.perf_counter() - started:.1f} s", flush=True)
    results: list[tuple[str, float]] = []
    for m in range(1, 13):
        month = f"{YEAR}-{m:02d}"
        results.append(timed(f"{name} monthly {month} (+CSV, PDF)", lambda month=month: (
            (r := reports.monthly(engine, month)), exports.report_csv(r), pdf.report_pdf(r))))
        results.append(timed(f"{name} briefing {month} (+text, PDF)", lambda month=month: (
            (b := reports.briefing(engine, month)), exports.briefing_text(b), pdf.briefing_pdf(b))))
    for q in range(1, 5):
        results.append(timed(f"{name} quarterly {YEAR}-Q{q} (+CSV, PDF)", lambda q=q: (
            (r := reports.quarterly(engine, f"{YEAR}-Q{q}")), exports.report_csv(r),
            pdf.report_pdf(r))))
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "ENGINE": engine,
                      "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["user"] = "cpp1"
    for path in (f"/reports/monthly/{YEAR}-12", f"/reports/quarterly/{YEAR}-Q4",
                 f"/reports/briefing/{YEAR}-12"):
        def get(path: str = path) -> None:
            assert client.get(path).status_code == 200, path
        results.append(timed(f"{name} page {path}", get))
    engine.db.dispose()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="write the SQLite database here and keep it")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qaflow-report-bench-"))
    sqlite_path = Path(args.keep) if args.keep else work / "reports.sqlite"
    sqlite_path.unlink(missing_ok=True)
    results = run(f"sqlite:///{sqlite_path}", "sqlite")
    if not args.no_postgres:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception as exc:  # no PostgreSQL here: say so, time SQLite only
            print(f"postgresql: not reachable ({exc.__class__.__name__}); skipped")
        else:
            try:
                results += run(f"{POSTGRES}?options=-csearch_path%3D{schema}", "postgresql")
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    width = max(len(label) for label, _ in results)
    print(f"{'report'.ljust(width)}  seconds")
    for label, seconds in results:
        print(f"{label.ljust(width)}  {seconds:7.3f}")
    slowest = max(seconds for _, seconds in results)
    print(f"slowest report: {slowest:.2f} s (target 2)")


if __name__ == "__main__":
    main()
