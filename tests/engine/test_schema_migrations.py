"""Migrations that move children's records keep every byte of them, both ways."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import text

from engine import Engine, FrozenClock, spiff
from engine.definitions import Bundle
from engine.migrate import config, upgrade
from features.driver import AuditDriver
from tests.conftest import PROCESSES

STEPS = ("Activity_ArrangeMeeting", "Activity_UpdateChildFile", "Activity_UndertakeAuditTogether",
         "Activity_ObtainFamilyFeedback")


def test_0007_moves_each_state_to_its_own_table_and_back_keeping_the_changes(
        engine: Engine, database_url: str, clock: FrozenClock, people: dict[str, str]) -> None:
    live = Engine(database_url, clock=clock, live_cache_size=64)  # saves changes, as a server does
    live.deploy(Bundle.from_paths([PROCESSES]), "policy")
    driver = AuditDriver(live, clock)
    driver.allocate("DUD-9", "CIN")
    # A concern raised makes the state big enough beside a step's changes to store only those.
    live.raise_safety_concern(driver.instance_id, "auditor", "Not seen alone")
    steps = iter(STEPS)
    with live.db.connect() as conn:
        for name in steps:
            driver.complete(name)
            state, delta = conn.execute(text(
                "SELECT s.state, i.state_delta FROM instance i JOIN instance_state s "
                "ON s.instance_id = i.id WHERE i.id = :id"), {"id": driver.instance_id}).one()
            conn.rollback()
            if delta:
                break
    assert delta, "a step should have stored only its changes"
    expected = spiff.stored_state(state, delta)
    live.db.dispose()

    command.downgrade(config(engine.db), "0006")
    with engine.db.connect() as conn:
        folded = conn.execute(text("SELECT state FROM instance WHERE id = :id"),
                              {"id": driver.instance_id}).scalar_one()
    assert json.loads(folded) == expected

    upgrade(engine.db)
    with engine.db.connect() as conn:
        moved, none = conn.execute(text(
            "SELECT s.state, i.state_delta FROM instance i JOIN instance_state s "
            "ON s.instance_id = i.id WHERE i.id = :id"), {"id": driver.instance_id}).one()
    assert (json.loads(moved), none) == (expected, None)

    # The audit carries on from what was moved (nothing live: rebuilt from the row).
    after = Engine(database_url, clock=clock, live_cache_size=0)
    driver.engine = after
    step = next(steps)
    assert step in [t.spec_name for t in driver.open_tasks()]
    driver.complete(step)
    still_open = [t.spec_name for t in driver.open_tasks()]
    assert still_open
    assert step not in still_open
    after.db.dispose()
