"""Migrations that move children's records keep every byte of them, both ways."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import text

from engine import Engine, FrozenClock, spiff
from engine.definitions import Bundle
from engine.migrate import config, upgrade
from engine.service import stored_state_of
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
            state, changes = stored_state_of(conn, driver.instance_id)
            conn.rollback()
            if changes:
                break
    assert changes, "a step should have stored only its changes"
    expected = spiff.stored_state(state, changes)
    live.db.dispose()

    command.downgrade(config(engine.db), "0006")
    with engine.db.connect() as conn:
        folded = conn.execute(text("SELECT state FROM instance WHERE id = :id"),
                              {"id": driver.instance_id}).scalar_one()
    assert json.loads(folded) == expected

    upgrade(engine.db)
    with engine.db.connect() as conn:
        moved, none = stored_state_of(conn, driver.instance_id)
    assert (json.loads(moved), none) == (expected, [])

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


def test_0009_moves_each_steps_changes_to_rows_of_their_own_and_back(
        engine: Engine, database_url: str, clock: FrozenClock, people: dict[str, str]) -> None:
    def stored() -> tuple[str, list[str]]:
        with engine.db.connect() as conn:
            return stored_state_of(conn, driver.instance_id)

    def step_until(enough: int) -> tuple[str, list[str]]:
        live = Engine(database_url, clock=clock, live_cache_size=64)  # saves changes, as a server
        driver.engine = live
        try:
            for _ in range(6):
                driver.complete(driver.open_tasks()[0].spec_name)
                whole, changes = stored()
                if len(changes) == enough:
                    return whole, changes
        finally:
            live.db.dispose()
        raise AssertionError(f"no step stored a line of {enough} change sets")

    engine.deploy(Bundle.from_paths([PROCESSES]), "policy")
    driver = AuditDriver(engine, clock)
    driver.allocate("DUD-10", "CIN")
    engine.raise_safety_concern(driver.instance_id, "auditor", "Not seen alone")

    # Down: several steps' change sets folded into the whole state, none left beside it.
    whole, changes = step_until(2)
    expected = spiff.stored_state(whole, changes)
    command.downgrade(config(engine.db), "0008")
    with engine.db.connect() as conn:
        folded, delta = conn.execute(text(
            "SELECT s.state, i.state_delta FROM instance i JOIN instance_state s "
            "ON s.instance_id = i.id WHERE i.id = :id"), {"id": driver.instance_id}).one()
    assert (json.loads(folded), delta) == (expected, None)
    upgrade(engine.db)
    assert stored() == (folded, [])

    # Up: a change set as 0008 stored it (in the instance row, against the whole state) becomes
    # the first row of changes, numbered with the instance's version.
    whole, changes = step_until(1)
    command.downgrade(config(engine.db), "0008")
    with engine.db.begin() as conn:
        conn.execute(text("UPDATE instance_state SET state = :state WHERE instance_id = :id"),
                     {"state": whole, "id": driver.instance_id})
        conn.execute(text("UPDATE instance SET state_delta = :delta WHERE id = :id"),
                     {"delta": changes[0], "id": driver.instance_id})
        version = conn.execute(text("SELECT version FROM instance WHERE id = :id"),
                               {"id": driver.instance_id}).scalar_one()
    upgrade(engine.db)
    assert stored() == (whole, changes)
    with engine.db.connect() as conn:
        assert conn.execute(text("SELECT version FROM instance_change WHERE instance_id = :id"),
                            {"id": driver.instance_id}).scalar_one() == version

    # The audit carries on from what was moved (nothing live: rebuilt from the rows), its step
    # stored beside the moved change set.
    after = Engine(database_url, clock=clock, live_cache_size=0)
    driver.engine = after
    try:
        step = driver.open_tasks()[0].spec_name
        driver.complete(step)
        assert step not in [t.spec_name for t in driver.open_tasks()]
    finally:
        after.db.dispose()
    whole_after, changes_after = stored()
    assert (whole_after, changes_after[0]) == (whole, changes[0])
    assert len(changes_after) == 2
