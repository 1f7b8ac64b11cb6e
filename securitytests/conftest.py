"""Fixtures for the security tests: a finished and a running audit, a second empty database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import Engine
from engine.models import HumanTask

SIMPLE = Path(__file__).parents[1] / "tests" / "fixtures" / "simple"


def open_task(engine: Engine, audit_id: int) -> HumanTask:
    with engine.transaction() as s:
        return s.execute(select(HumanTask).where(
            HumanTask.instance_id == audit_id, HumanTask.status == "open")).scalars().one()


@pytest.fixture
def audits(engine: Engine, people, deploy) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Child C-1's audit, finished by the auditor; child C-2's audit, still open."""
    deploy(SIMPLE)
    done = engine.start("simple", "cpp1", {"child_ref": "C-1"}, practitioner="sw",
                        auditor="auditor")
    engine.complete_task(open_task(engine, done).id, "auditor", {"answer": "Seen the file"})
    running = engine.start("simple", "cpp1", {"child_ref": "C-2"}, practitioner="sw",
                           auditor="auditor")
    return {"C-1": done, "C-2": running}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def other_database_url(request: pytest.FixtureRequest,  # type: ignore[no-untyped-def]
                       make_empty_database) -> Iterator[str]:
    """A second fresh, empty database of either kind, to restore into."""
    with make_empty_database(request.param, "restored") as url:
        yield url
