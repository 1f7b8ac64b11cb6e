"""bench/reports.py in miniature: a year of a small council written as the engine writes it,
then every report, export and report page built from it, on each database. `make bench` runs
the full-size year; this keeps the script working as the schema moves on (it once wrote the
workflow state to a column that had moved to its own table, and only `make bench` found out)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from sqlalchemy import func, select

from engine import Engine
from engine.definitions import Bundle
from engine.models import Instance, InstanceState, ProcessVersion
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import reports as reports_bench  # noqa: E402


def test_the_reports_bench_runs_every_report_on_a_small_year(database_url: str) -> None:
    results = reports_bench.run(database_url, "db", per_month=2)
    labels = [label for label, _ in results]
    assert len(labels) == 12 * 2 + 4 + 3  # monthly and briefing per month, quarters, pages
    assert "db monthly 2025-12 (+CSV, PDF)" in labels
    assert all(seconds > 0 for _, seconds in results)
    engine = Engine(database_url)
    try:
        with engine.transaction() as s:
            audits = s.execute(select(func.count()).select_from(Instance)).scalar_one()
            whole = s.execute(select(func.count()).select_from(InstanceState)).scalar_one()
    finally:
        engine.db.dispose()
    assert audits >= 24  # two a month, and the moderation sample's own
    assert whole == audits  # every audit written with its stored state


def test_an_instance_made_with_a_state_stores_it_whole(engine: Engine) -> None:
    """`Instance(state=...)`, as a writer of rows straight into the tables makes one, gets the
    row that holds the state, instead of failing on the missing row."""
    engine.deploy(Bundle.from_paths([ROOT / "processes"]), "test")
    now = datetime(2025, 12, 1, 9, tzinfo=UTC)
    with engine.transaction() as s:
        pv = s.execute(select(ProcessVersion).limit(1)).scalar_one()
        inst = Instance(process_version_id=pv.id, process_id=pv.process_id, status="running",
                        state='{"tasks":{}}', version=1, started_by="cpp", started_at=now,
                        updated_at=now)
        s.add(inst)
        s.flush()
        iid = inst.id
    with engine.transaction() as s:
        stored = s.get(InstanceState, iid)
        assert stored is not None
        assert stored.state == '{"tasks":{}}'
        loaded = s.get(Instance, iid)
        assert loaded is not None
        loaded.state = "{}"
    with engine.transaction() as s:
        again = s.get(InstanceState, iid)
        assert again is not None
        assert again.state == "{}"
