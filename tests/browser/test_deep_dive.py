"""Walk the framework's real deep-dive audit (processes/) in the browser, person by person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from engine import Engine, demo
from engine.definitions import Bundle
from tests.browser.conftest import axe_violations, shot
from tests.browser.test_walkthrough import sign_in, sign_out

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
PREFERRED = ["Good", "yes", "resolved-grade-stands", "grade-stands"]
NAMES = {a.name: a.username for a in demo.ACCOUNTS}

# Answer every question a person can see: the preferred option where there is one, a date,
# a sentence, a tick. Questions hidden under other answers are left alone.
FILL = """(preferred) => {
  const shown = (el) => el.offsetParent !== null
  const form = document.querySelector('main form[method=post]')
  const names = new Set([...form.querySelectorAll('input[type=radio]')].map(r => r.name))
  for (const name of names) {
    const radios = [...form.querySelectorAll(`input[type=radio][name="${name}"]`)].filter(shown)
    if (!radios.length || radios.some(r => r.checked)) continue
    const pick = radios.find(r => preferred.includes(r.value)) || radios[0]
    pick.click()
  }
  for (const box of form.querySelectorAll('input[type=checkbox]')) {
    if (shown(box) && !box.checked && (box.value === 'yes' || box.id === box.name)) box.click()
  }
  for (const input of form.querySelectorAll('input[type=text], textarea')) {
    if (!shown(input) || input.value) continue
    if (input.name.endsWith('-day')) input.value = '12'
    else if (input.name.endsWith('-month')) input.value = '1'
    else if (input.name.endsWith('-year')) input.value = '2026'
    else if (input.inputMode === 'numeric') input.value = '1'
    else if (/_time$/.test(input.name)) input.value = '10:30'
    else input.value = 'Discussed and recorded on the child\\'s file.'
  }
}"""


@pytest.fixture
def real_processes(web_engine: Engine, app_config: dict[str, Any]) -> None:
    if not (PROCESSES / "deep-dive-audit.bpmn").exists():
        pytest.skip("processes/ has no deep-dive-audit.bpmn yet")
    web_engine.deploy(Bundle.from_paths([PROCESSES]), "test", "the framework's processes")
    app_config["AUDIT_PROCESS"] = "deep_dive_audit"


def _holders(page: Any) -> list[str]:
    rows = page.locator("main table.govuk-table tbody tr")
    return [rows.nth(i).locator("td").nth(1).inner_text().split(" (")[0]
            for i in range(rows.count())]


def test_a_deep_dive_audit_walked_by_everyone_in_it(real_processes: None, page: Any,
                                                    live_server: str) -> None:
    base = live_server
    sign_in(page, base, "cpp.chris")
    page.goto(f"{base}/audits/new")
    page.fill("#child_ref", "CH-400500")
    page.check("input[name=child_status][value=CiC]")
    page.check("input[name=audit_type][value=monthly]")
    page.select_option("#practitioner", "sw.peter")
    page.select_option("#auditor", "aud.alex")
    page.click("button:has-text('Start the audit')")
    expect(page.locator("h1")).to_have_text("Audit for child CH-400500")
    audit_url = page.url
    done: list[str] = []
    for _ in range(25):
        page.goto(audit_url)
        holders = _holders(page) if page.locator("main table.govuk-table").count() else []
        if not holders:
            break
        holder = holders[0]
        sign_out(page)
        if holder.startswith(("CPP", "HoS")):
            sign_in(page, base, "cpp.carla" if holder.startswith("CPP") else "spqa.head")
            page.goto(f"{base}/tasks/group")
            page.locator("button:has-text('Claim')").first.click()
        else:
            sign_in(page, base, NAMES[holder])
            page.locator("table a[href^='/tasks/']").first.click()
        task = page.locator("h1").inner_text()
        if task.startswith("Complete the audit tool") or "audit tool" in task.lower():
            page.click("button:has-text('Submit')")  # an empty audit tool is refused...
            expect(page.locator(".govuk-error-summary")).to_be_visible()
            shot(page, "10-real-audit-tool-errors")
            assert axe_violations(page) == []
        page.wait_for_load_state("load")
        page.evaluate(FILL, PREFERRED)
        page.click("button:has-text('Submit')")
        expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
            "is complete")
        done.append(f"{holder}: {task}")
        sign_out(page)
        sign_in(page, base, "cpp.chris")
    page.goto(audit_url)
    expect(page.locator("#diagrams")).to_have_attribute("data-ready", "true", timeout=15000)
    shot(page, "11-real-audit-page")
    assert axe_violations(page) == []
    assert len(done) >= 5, done
    expect(page.locator("main")).to_contain_text("Good")
    assert page.problems == []
