"""A safety concern raised on an audit held live survives a restart: the audit rebuilt from what
was stored goes on exactly as its twin that was never restarted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine import Engine, FrozenClock
from engine.definitions import Bundle
from features.driver import AuditDriver
from tests.conftest import PROCESSES


@pytest.fixture
def live_engine(database_url: str, clock: FrozenClock) -> Iterator[Engine]:
    """Workflows kept live between steps, as in a server, so what is stored is what a restart
    reads."""
    eng = Engine(database_url, clock=clock, live_cache_size=64)
    eng.create_schema()
    yield eng
    eng.db.dispose()


def _where(driver: AuditDriver) -> tuple[str, list[str]]:
    return driver.instance().status, sorted(t.spec_name for t in driver.open_tasks())


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
    assert "Activity_AddressSafetyConcern" in _where(restarted)[1]
    for _ in range(40):
        assert _where(restarted) == _where(kept)
        status, open_now = _where(kept)
        if status != "running" or not open_now:
            break
        for driver in twins:
            driver.complete(open_now[0])
    assert _where(kept)[0] == "completed", _where(kept)
    assert _where(restarted) == _where(kept)
