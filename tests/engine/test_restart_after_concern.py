"""A safety concern raised on an audit held live survives a restart: the audit rebuilt from what
was stored goes on exactly as its twin that was never restarted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine import Engine, FrozenClock
from engine.definitions import Bundle
from features.driver import AuditDriver, walk_as_twins, where
from tests.conftest import PROCESSES


@pytest.fixture
def live_engine(database_url: str, clock: FrozenClock) -> Iterator[Engine]:
    """Workflows kept live between steps, as in a server, so what is stored is what a restart
    reads."""
    eng = Engine(database_url, clock=clock, live_cache_size=64)
    eng.create_schema()
    yield eng
    eng.db.dispose()


def test_an_audit_restarted_after_a_concern_goes_on_as_its_twin(live_engine, clock,
                                                                  people) -> None:
    live_engine.deploy(Bundle.from_paths([PROCESSES]), "policy")
    twins = [AuditDriver(live_engine, clock), AuditDriver(live_engine, clock)]
    for i, driver in enumerate(twins):
        driver.allocate(f"DUD-{i}", "CP")
        driver.complete("Activity_ArrangeMeeting")
        live_engine.raise_safety_concern(driver.instance_id, "auditor", "Bruising seen")
        driver.complete("Activity_UpdateChildFile")
    kept, restarted = twins
    live_engine._live.pop(restarted.instance_id)  # a restart: rebuilt from storage next step
    assert "Activity_AddressSafetyConcern" in where(restarted)[1]
    walk_as_twins(kept, restarted)
    assert where(kept)[0] == "completed", where(kept)
    assert where(restarted) == where(kept)
