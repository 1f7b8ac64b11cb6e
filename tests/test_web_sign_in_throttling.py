"""Password spraying: many refused sign-ins from one address throttle that address."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select

from engine import Engine
from engine.accounts import MAX_ADDRESS_FAILURES
from engine.demo import DEMO_PASSWORD
from engine.models import AuditEvent, SignInAttempt

SPRAYER, OFFICE = "203.0.113.9", "198.51.100.20"


def _sign_in(app: Flask, address: str, username: str, password: str = DEMO_PASSWORD):  # type: ignore[no-untyped-def]
    client = app.test_client()
    return client.post("/sign-in", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_many_wrong_passwords_from_one_address_throttle_it_whatever_the_usernames(
        app: Flask, web_engine: Engine, web_clock) -> None:
    # Fewer than five tries per account, so no account locks: only the address gives it away.
    for i in range(MAX_ADDRESS_FAILURES):
        assert _sign_in(app, SPRAYER, f"user{i % 10}", "Winter2025!").status_code == 200
    page = _sign_in(app, SPRAYER, "sw.paul")  # a right password, from the throttled address
    assert page.status_code == 200
    assert "too many attempts" in page.text
    assert _sign_in(app, OFFICE, "sw.paul").status_code == 302  # other addresses are unaffected
    with web_engine.transaction() as s:
        last = s.execute(select(AuditEvent).where(AuditEvent.actor == "sw.paul")
                         .order_by(AuditEvent.id.desc())).scalars().first()
        refused = s.execute(select(AuditEvent).where(AuditEvent.actor == "sw.paul")
                            .order_by(AuditEvent.id.desc()).offset(1)).scalars().first()
    assert json.loads(last.detail) == {"address": OFFICE}
    assert json.loads(refused.detail) == {"reason": "throttled address", "address": SPRAYER}
    web_clock.advance(timedelta(minutes=16))
    assert _sign_in(app, SPRAYER, "sw.paul").status_code == 302


def test_old_refusals_are_cleared_as_new_ones_arrive(app: Flask, web_engine: Engine,
                                                     web_clock) -> None:
    for _ in range(3):
        _sign_in(app, SPRAYER, "nobody", "guess")
    web_clock.advance(timedelta(minutes=16))
    _sign_in(app, SPRAYER, "nobody", "guess")
    with web_engine.transaction() as s:
        assert s.execute(select(func.count(SignInAttempt.id))).scalar_one() == 1
