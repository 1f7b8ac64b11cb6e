"""Steps for the monthly schedule and the moderation sample: each one call into the engine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when
from sqlalchemy import select, update

from engine import NotAllowed, moderation, register, reports, schedule
from engine.models import HumanTask, Instance, Notification, Person
from engine.register_models import ChildRecord
from features import council
from features.monthly import Month

COLUMNS = ("reference", "service area", "team", "allocated practitioner", "status", "start date")


def _month(words: str) -> str:
    return f"{datetime.strptime(words, '%B %Y'):%Y-%m}"


def _day(words: str) -> date:
    return datetime.strptime(words, "%d %B %Y").date()


@pytest.fixture
def framework_month(engine, clock, deploy) -> Month:  # type: ignore[no-untyped-def]
    deploy()
    return Month(engine, clock)


@pytest.fixture
def outcome() -> dict[str, Any]:
    return {}


# -- the register ------------------------------------------------------------------------

@given(parsers.parse("the children register holds {count:d} children's files across two "
                     "service areas"))
def register_holds(framework_month: Month, count: int) -> None:
    assert framework_month.import_result.created == count


@when("CPP imports a children register with these rows:", target_fixture="imported")
def imports_rows(framework_month: Month, datatable: list[list[str]]) -> register.ImportResult:
    rows = [tuple(r) for r in datatable[1:]]
    return register.import_children(framework_month.engine, "cpp1",
                                    council.register_csv(rows))  # type: ignore[arg-type]


@then(parsers.parse("{count:d} files are imported"))
def files_imported(imported: register.ImportResult, count: int) -> None:
    assert imported.created + imported.updated == count


@then(parsers.parse('row {row:d} is not imported because "{reason}"'))
def row_rejected(imported: register.ImportResult, row: int, reason: str) -> None:
    [found] = [e for e in imported.rejected if e.row == row]
    assert reason in found.reasons


@then(parsers.parse("the register still holds the {held:d} files it held before, and the "
                    "{new:d} new ones"))
def register_kept(framework_month: Month, held: int, new: int) -> None:
    assert register.register_size(framework_month.engine)[0] == held + new


# -- drawing the schedule ------------------------------------------------------------------

def _draw(m: Month, period: str, size: int | None, seed: int, outcome: dict[str, Any]) -> None:
    month = _month(period)
    schedule.draw(m.engine, "cpp1", month, size=size, seed=seed)
    [batch] = schedule.batches(m.engine, month)
    outcome.setdefault("draws", []).append(batch)
    outcome["batch"] = batch


DRAWN = parsers.re(r"CPP has drawn (?P<size>\d+) files? for (?P<period>\w+ \d{4}) with the seed "
                   r"(?P<seed>\d+)")
DRAWS = parsers.re(r"CPP draws (?P<size>\d+) files for (?P<period>\w+ \d{4})(?: again)? with the "
                   r"seed (?P<seed>\d+)")
MODERATION_DRAWS = parsers.re(r"CPP draws the moderation sample for (?P<period>\w+ \d{4})"
                              r"(?: again)? with the seed (?P<seed>\d+)")


@given(DRAWN, converters={"size": int, "seed": int})
@when(DRAWS, converters={"size": int, "seed": int})
def draws(framework_month: Month, outcome: dict[str, Any], size: int, period: str,
          seed: int) -> None:
    _draw(framework_month, period, size, seed, outcome)


@when(parsers.parse("CPP draws every file it may for {period}"))
def draws_all(framework_month: Month, outcome: dict[str, Any], period: str) -> None:
    _draw(framework_month, period, 1000, 1, outcome)


@then("both draws chose the same files for the same auditors")
def same_draws(outcome: dict[str, Any]) -> None:
    first, second = outcome["draws"]
    assert [(r.child_ref, r.auditor) for r in first.rows] == [
        (r.child_ref, r.auditor) for r in second.rows]
    assert len(first.rows) == 8


@then(parsers.parse("the seed {seed:d} is shown with the schedule"))
def seed_shown(outcome: dict[str, Any], seed: int) -> None:
    assert outcome["batch"].seed == seed


def _past_audit(m: Month, ref: str, when: datetime, still_open: bool) -> None:
    now = m.clock.now()
    m.clock.set(when)
    with m.engine.transaction() as s:
        child = s.execute(select(ChildRecord).where(ChildRecord.reference == ref)).scalar_one()
        practitioner = child.practitioner.username
    audit_id = m.engine.start("deep_dive_audit", "cpp1", {
        "child_ref": ref, "child_status": "CIN", "audit_type": "monthly"},
        practitioner=practitioner, auditor="tm21")
    m.clock.set(now)
    if not still_open:  # the rest of that audit's life does not matter here, only that it ended
        with m.engine.transaction() as s:
            s.execute(update(Instance).where(Instance.id == audit_id).values(
                status="completed", completed_at=when))


@given(parsers.parse('the file "{ref}" has an audit open'))
def audit_open(framework_month: Month, ref: str) -> None:
    _past_audit(framework_month, ref, datetime(2025, 11, 3, 9, tzinfo=UTC), still_open=True)


@given(parsers.parse('the file "{ref}" was audited in {period}'))
def audited_in(framework_month: Month, ref: str, period: str) -> None:
    start, _ = schedule.month_bounds(_month(period))
    _past_audit(framework_month, ref, start.replace(day=3, hour=9), still_open=False)


@then(parsers.parse('"{ref}" is not chosen'))
def not_chosen(outcome: dict[str, Any], ref: str) -> None:
    assert ref not in {r.child_ref for r in outcome["batch"].rows}


@then(parsers.parse('"{ref}" is chosen'))
def chosen(outcome: dict[str, Any], ref: str) -> None:
    assert ref in {r.child_ref for r in outcome["batch"].rows}


def _people(m: Month) -> dict[str, Person]:
    with m.engine.transaction() as s:
        return {p.name: p for p in s.execute(select(Person)).scalars()}


@then("no file is allocated to a manager in the practitioner's own team or line of management")
def allocation_rules(framework_month: Month, outcome: dict[str, Any]) -> None:
    with framework_month.engine.transaction() as s:
        people = {p.name: p for p in s.execute(select(Person)).scalars()}
        rows = outcome["batch"].rows
        assert len(rows) == 12
        for row in rows:
            assert schedule.may_audit(people[row.auditor], people[row.practitioner]) is None


@then("files are chosen from both service areas")
def both_areas(outcome: dict[str, Any]) -> None:
    assert {r.service_area for r in outcome["batch"].rows} == set(council.AREAS)


@when("CPP gives the file to the practitioner's own Team Manager")
def give_to_own_tm(framework_month: Month, outcome: dict[str, Any]) -> None:
    [row] = outcome["batch"].rows
    with framework_month.engine.transaction() as s:
        tm = s.execute(select(Person).where(Person.name == row.practitioner)).scalar_one().manager
        username = tm.username
    try:
        schedule.change_auditor(framework_month.engine, "cpp1", row.id, username)
    except NotAllowed as exc:
        outcome["refused"] = exc


@then("the change is refused")
def change_refused(outcome: dict[str, Any]) -> None:
    assert "refused" in outcome


@when("CPP confirms the schedule")
def confirms(framework_month: Month, outcome: dict[str, Any]) -> None:
    outcome["started"] = schedule.confirm(framework_month.engine, "cpp1", outcome["batch"].id)


@then(parsers.parse('{count:d} "{kind}" audits have started'))
def audits_started(framework_month: Month, count: int, kind: str) -> None:
    audits = framework_month.audits()
    assert len(audits) == count
    assert {a.audit_type for a in audits} == {kind}


@then(parsers.parse('each auditor has been asked to "{task}"'))
def each_auditor_asked(framework_month: Month, outcome: dict[str, Any], task: str) -> None:
    tasks = framework_month.open_tasks("deep_dive_audit")
    assert sorted(t.assignee.name for t in tasks if t.name == task) == sorted(
        r.auditor for r in outcome["batch"].rows)


@given("the children register records when children in care last moved placement")
def placement_moves(framework_month: Month) -> None:
    rows = [("DUD-8001", council.AREAS[1], "Team 2.1", "sw211", "CiC", "2024-01-01", "2025-10-14"),
            ("DUD-8002", council.AREAS[1], "Team 2.2", "sw221", "CiC", "2024-01-01", "2025-11-20"),
            ("DUD-8003", council.AREAS[1], "Team 2.1", "sw212", "CiC", "2024-01-01", "2025-06-02"),
            ("DUD-8004", council.AREAS[0], "Team 1.1", "sw111", "CP", "2024-01-01", "")]
    result = register.import_children(framework_month.engine, "cpp1",
                                      council.register_csv(rows, ",Last placement move"))
    assert not result.rejected


@when(parsers.parse('CPP draws a targeted sample "{theme}" of children in care who moved '
                    "placement since {day}"))
def targeted(framework_month: Month, outcome: dict[str, Any], theme: str, day: str) -> None:
    criteria = schedule.Criteria(statuses=("CiC",), placement_move_since=_day(day))
    batch_id = schedule.draw(framework_month.engine, "cpp1", "2025-12", kind="targeted", size=10,
                             seed=1, theme=theme, criteria=criteria)
    [outcome["batch"]] = [b for b in schedule.batches(framework_month.engine, "2025-12")
                          if b.id == batch_id]


@then(parsers.parse("only children in care who moved placement since {day} are chosen"))
def only_theme(outcome: dict[str, Any], day: str) -> None:
    assert sorted(r.child_ref for r in outcome["batch"].rows) == ["DUD-8001", "DUD-8002"]


@then(parsers.parse('the audits started are "{kind}" audits'))
def started_kind(framework_month: Month, kind: str) -> None:
    audits = framework_month.audits()
    assert audits
    assert {a.audit_type for a in audits} == {kind}


# -- moderation --------------------------------------------------------------------------

@given(parsers.parse("these audits were submitted in {period}:"), target_fixture="submitted")
def audits_submitted(framework_month: Month, period: str,
                     datatable: list[list[str]]) -> dict[int, str]:
    grades = [g for g, n in datatable[1:] for _ in range(int(n))]
    ids = framework_month.start_audits(_month(period), len(grades), seed=2)
    submitted = {}
    for audit_id, grade in zip(ids, grades, strict=True):
        framework_month.submit(audit_id, grade)
        framework_month.agree(audit_id)
        submitted[audit_id] = grade
    return submitted


def _draw_moderation(m: Month, period: str, seed: int, outcome: dict[str, Any]) -> None:
    moderation.draw(m.engine, "cpp1", _month(period), seed=seed)
    view = moderation.view(m.engine, _month(period))
    outcome.setdefault("samples", []).append(view)
    outcome["sample"] = view


@when(MODERATION_DRAWS, converters={"seed": int})
def draws_moderation(framework_month: Month, outcome: dict[str, Any], period: str,
                     seed: int) -> None:
    _draw_moderation(framework_month, period, seed, outcome)


@given(parsers.parse("CPP has confirmed the moderation sample for {period} drawn with the "
                     "seed {seed:d}"))
def confirmed_moderation(framework_month: Month, outcome: dict[str, Any], period: str,
                         seed: int) -> None:
    _draw_moderation(framework_month, period, seed, outcome)
    assert moderation.confirm(framework_month.engine, "cpp1", outcome["sample"].id) == 3


@then(parsers.parse('the {count:d} "Inadequate" audits are moderated in their follow-up'))
def inadequate_in_follow_up(framework_month: Month, outcome: dict[str, Any], count: int) -> None:
    picks = [p for p in outcome["sample"].picks if p.reason == "inadequate"]
    assert len(picks) == count
    assert {p.grade for p in picks} == {"Inadequate"}
    moderations = [t for t in framework_month.open_tasks("grading_follow_up")
                   if t.spec_name == "Activity_ModerateAudit"]
    assert sorted(t.instance_id for t in moderations) == sorted(p.audit_id for p in picks)


@then(parsers.parse("{drawn:d} of the other {rest:d} audits are drawn for moderation"))
def drawn_for_moderation(outcome: dict[str, Any], drawn: int, rest: int) -> None:
    assert (outcome["sample"].sampled, outcome["sample"].rest) == (drawn, rest)


@then(parsers.parse('the drawn audits include the grades "{a}", "{b}" and "{c}"'))
def drawn_range(outcome: dict[str, Any], a: str, b: str, c: str) -> None:
    assert {p.grade for p in outcome["sample"].picks if p.reason == "sample"} == {a, b, c}


@then("both moderation draws chose the same audits")
def same_moderation(outcome: dict[str, Any]) -> None:
    first, second = outcome["samples"]
    assert [p.audit_id for p in first.picks] == [p.audit_id for p in second.picks]


def _sampled_tasks(m: Month) -> list[HumanTask]:
    return [t for t in m.open_tasks("moderation") if t.spec_name == "Activity_ModerateSampledAudit"]


@when(parsers.parse('CPP moderates a drawn audit and gives the grade "{grade}" because "{why}"'))
def moderates_drawn(framework_month: Month, outcome: dict[str, Any], grade: str, why: str) -> None:
    task = _sampled_tasks(framework_month)[0]
    outcome["moderated"] = task.instance_id
    framework_month.complete(task.instance_id, task.spec_name, moderation_agrees=False,
                             moderation_grade=grade, moderation_reasons=why)


@then("the Head of Service of that audit is told the moderation found it Inadequate")
def hos_told(framework_month: Month, outcome: dict[str, Any]) -> None:
    hos = framework_month.driver(outcome["moderated"]).holders("Head of Service")
    with framework_month.engine.transaction() as s:
        subjects = s.execute(select(Notification.subject).join(Notification.recipient).where(
            Person.username.in_(hos), Notification.instance_id == outcome["moderated"])).scalars()
        assert any(x.startswith("Moderation found the audit of") for x in subjects)


@when(parsers.parse("CPP agrees with the grade of {agreed:d} drawn audits and gives another "
                    "grade to the third"))
def agrees_with_drawn(framework_month: Month, agreed: int) -> None:
    tasks = _sampled_tasks(framework_month)
    for task in tasks[:agreed]:
        framework_month.complete(task.instance_id, task.spec_name, moderation_agrees=True)
    [last] = tasks[agreed:]
    framework_month.complete(last.instance_id, last.spec_name, moderation_agrees=False,
                             moderation_grade="Requires Improvement",
                             moderation_reasons="The plan has drifted")


@when("CPP agrees with the grade of both Inadequate audits in their follow-up")
def agrees_with_inadequate(framework_month: Month) -> None:
    tasks = [t for t in framework_month.open_tasks("grading_follow_up")
             if t.spec_name == "Activity_ModerateAudit"]
    assert len(tasks) == 2
    for task in tasks:
        framework_month.complete(task.instance_id, task.spec_name, moderation_agrees=True)


@then(parsers.parse("the moderation agreement for {period} is {pct:d}%"))
def agreement(framework_month: Month, period: str, pct: int) -> None:
    report = reports.monthly(framework_month.engine, _month(period))
    assert report.moderated == 5
    assert report.agreement == pct
