"""The auditor's day, by keyboard alone: sign in, open a task, answer it, submit, raise a concern."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from engine import Engine
from engine.demo import DEMO_PASSWORD
from engine.models import AuditEvent


def _tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    target = page.locator(selector).first
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_an_auditor_completes_a_task_and_raises_a_concern_by_keyboard_alone(
        page: Any, live_server: str, start_audit: Any, web_engine: Engine) -> None:
    audit_id = start_audit(child_ref="CH-777001", auditor="aud.aisha")
    page.goto(f"{live_server}/sign-in")
    _tab_to(page, "#username")
    page.keyboard.type("aud.aisha")
    _tab_to(page, "#password")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("My tasks")

    _tab_to(page, "table a[href^='/tasks/']")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("Arrange")
    _tab_to(page, "input[name$='-day']")
    page.keyboard.type("27")
    page.keyboard.press("Tab")
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    page.keyboard.type("2026")
    _tab_to(page, "textarea")
    page.keyboard.type("We will meet in the team room.")
    _tab_to(page, "button:has-text('Submit')")
    page.keyboard.press("Enter")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("is complete")

    page.goto(f"{live_server}/audits/{audit_id}")
    _tab_to(page, "a:has-text('Raise a safety concern'), button:has-text('Raise a safety concern')")
    page.keyboard.press("Enter")
    _tab_to(page, "textarea")
    page.keyboard.type("The child said they are frightened to go home.")
    _tab_to(page, "button[type=submit]:not(:has-text('Sign out'))")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_contain_text("safety concern")
    with web_engine.transaction() as s:
        kinds = list(s.execute(select(AuditEvent.kind).where(
            AuditEvent.instance_id == audit_id).order_by(AuditEvent.id)).scalars())
    assert "task_completed" in kinds
    assert "signal" in kinds
    assert page.problems == []
