"""Walk one audit through the browser as the people who do it, checking accessibility on the way."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from engine.demo import DEMO_PASSWORD
from tests.browser.conftest import axe_violations, shot


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/sign-in")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator(".govuk-phase-banner")).to_contain_text("Signed in as")


def sign_out(page: Any) -> None:
    page.click("button:has-text('Sign out')")
    expect(page.locator("h1")).to_have_text("Sign in")


def no_axe_violations(page: Any) -> None:
    assert axe_violations(page) == []


def test_an_audit_from_allocation_to_moderation(page: Any, live_server: str) -> None:
    base = live_server
    page.goto(f"{base}/sign-in")
    shot(page, "01-sign-in")
    no_axe_violations(page)

    # CPP allocate the audit.
    sign_in(page, base, "cpp.chris")
    page.click("a:has-text('Audits')")
    page.click("a:has-text('Start an audit')")
    page.fill("#child_ref", "CH-300100")
    page.check("input[name=child_status][value=CP]")
    page.check("input[name=audit_type][value=monthly]")
    page.select_option("#practitioner", "sw.paul")
    page.select_option("#auditor", "aud.aisha")
    page.click("button:has-text('Start the audit')")
    expect(page.locator("h1")).to_have_text("Audit for child CH-300100")
    sign_out(page)

    # The auditor arranges the meeting; a wrong date is refused and kept.
    sign_in(page, base, "aud.aisha")
    expect(page.locator("h1")).to_have_text("My tasks")
    shot(page, "02-my-tasks")
    no_axe_violations(page)
    page.click("a:has-text('Arrange the audit meeting')")
    page.fill("#meeting_date-day", "31")
    page.fill("#meeting_date-month", "2")
    page.fill("#meeting_date-year", "2026")
    page.fill("#meeting_notes", "Bring the chronology")
    page.click("button:has-text('Submit')")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Date of the audit meeting must be a real date")
    expect(page.locator("#meeting_date-day")).to_have_value("31")
    expect(page.locator("#meeting_notes")).to_have_value("Bring the chronology")
    shot(page, "03-form-with-errors")
    no_axe_violations(page)
    summary.locator("a").first.click()
    expect(page.locator("#meeting_date-day")).to_be_focused()
    page.fill("#meeting_date-day", "18")
    page.fill("#meeting_date-month", "12")
    page.fill("#meeting_date-year", "2025")
    page.click("button:has-text('Submit')")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("is complete")
    sign_out(page)

    # The practitioner prepares the file (a CP child: the plan question is asked).
    sign_in(page, base, "sw.paul")
    page.click("a:has-text('Prepare the child')")
    page.check("#file_ready")
    page.check("#cp_plan_current")
    expect(page.locator("#care_plan_current")).to_have_count(0)
    page.click("button:has-text('Submit')")
    expect(page.locator(".govuk-notification-banner--success")).to_be_visible()
    sign_out(page)

    # The auditor saves a draft of the audit tool, comes back, and submits it.
    sign_in(page, base, "aud.aisha")
    page.click("a:has-text('Complete the audit tool')")
    page.check("input[name=grade][value='Requires Improvement']")
    page.fill("#strengths", "Visits are on time and recorded well.")
    page.click("button:has-text('Save as draft')")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("draft")
    page.goto(f"{base}/tasks")
    page.click("a:has-text('Complete the audit tool')")
    expect(page.locator("#strengths")).to_have_value("Visits are on time and recorded well.")
    page.check("input[name=child_voice][value=Partly]")
    page.check("input[name=areas][value=Planning]")
    page.fill("#hours", "3")
    page.check("input[name=cp_conference_attended][value=yes]")
    page.fill("#actions-0-action", "Update the child protection plan")
    page.fill("#actions-0-by_when-day", "9")
    page.fill("#actions-0-by_when-month", "1")
    page.fill("#actions-0-by_when-year", "2026")
    page.click("button:has-text('Submit')")
    expect(page.locator(".govuk-notification-banner--success")).to_be_visible()
    sign_out(page)

    # CPP claim the moderation from the group list and complete it.
    sign_in(page, base, "cpp.carla")
    page.click("a:has-text('Group tasks')")
    shot(page, "04-group-tasks")
    no_axe_violations(page)
    page.click("button:has-text('Claim')")
    expect(page.locator("h1")).to_have_text("Moderate the audit")
    page.check("input[name=moderation_agreed][value=yes]")
    page.click("button:has-text('Submit')")
    expect(page.locator(".govuk-notification-banner--success")).to_be_visible()

    # The audit page shows the finished audit and its diagram.
    page.click("a:has-text('Audits')")
    page.click("a:has-text('CH-300100')")
    expect(page.locator("#diagrams")).to_have_attribute("data-ready", "true", timeout=15000)
    expect(page.locator("main")).to_contain_text("Requires Improvement")
    expect(page.locator("main")).to_contain_text(re.compile(r"Completed on \w+day"))
    assert page.locator("g.djs-element.qa-completed").count() >= 5
    shot(page, "05-audit-page")
    no_axe_violations(page)
    assert page.problems == []


def test_the_audit_page_marks_where_the_audit_is(page: Any, live_server: str,
                                                 start_audit: Any) -> None:
    audit_id = start_audit("CH-100234")
    sign_in(page, live_server, "aud.aisha")
    page.goto(f"{live_server}/audits/{audit_id}")
    expect(page.locator("#diagrams")).to_have_attribute("data-ready", "true", timeout=15000)
    current = page.locator("g.djs-element.qa-current")
    expect(current).to_have_count(1)
    assert current.get_attribute("data-element-id") == "Activity_ArrangeMeeting"
    page.click("a:has-text('Raise a safety concern')")
    expect(page.locator("h1")).to_contain_text("Raise a safety concern")
    shot(page, "06-safety-concern")
    no_axe_violations(page)
    assert page.problems == []
