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
FILL = """([preferred, chosen]) => {
  const shown = (el) => el.offsetParent !== null
  const form = document.querySelector('main form[method=post]')
  const names = new Set([...form.querySelectorAll('input[type=radio]')].map(r => r.name))
  for (const name of names) {
    const radios = [...form.querySelectorAll(`input[type=radio][name="${name}"]`)].filter(shown)
    if (!radios.length || radios.some(r => r.checked)) continue
    const pick = radios.find(r => chosen[name] === r.value)
      || radios.find(r => preferred.includes(r.value)) || radios[0]
    pick.click()
  }
  for (const [name, value] of Object.entries(chosen)) {
    const input = form.querySelector(`input[type=text][name="${name}"], textarea[name="${name}"]`)
    if (input && shown(input)) input.value = value
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


def _walk(page: Any, base: str, child: str, practitioner: str, auditor: str,
          chosen: dict[str, str], preferred: list[str]) -> tuple[str, list[str]]:
    """Start an audit as CPP, then complete whatever it asks next as whoever holds it."""
    sign_in(page, base, "cpp.chris")
    page.goto(f"{base}/audits/new")
    page.fill("#child_ref", child)
    page.check("input[name=child_status][value=CiC]")
    page.check("input[name=audit_type][value=monthly]")
    page.select_option("#practitioner", practitioner)
    page.select_option("#auditor", auditor)
    page.click("button:has-text('Start the audit')")
    expect(page.locator("h1")).to_have_text(f"Audit for child {child}")
    audit_url = page.url
    done: list[str] = []
    for _ in range(40):
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
        if "audit tool" in task.lower():
            page.click("button:has-text('Submit')")  # an empty audit tool is refused...
            expect(page.locator(".govuk-error-summary")).to_be_visible()
            shot(page, "10-real-audit-tool-errors")
            assert axe_violations(page) == []
        page.wait_for_load_state("load")
        page.evaluate(FILL, [preferred, chosen])
        page.click("button:has-text('Submit')")
        expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
            "is complete")
        done.append(f"{holder}: {task}")
        sign_out(page)
        sign_in(page, base, "cpp.chris")
    return audit_url, done


def test_a_deep_dive_audit_walked_by_everyone_in_it(real_processes: None, page: Any,
                                                    live_server: str) -> None:
    base = live_server
    audit_url, done = _walk(page, base, "CH-400500", "sw.peter", "aud.alex", {}, PREFERRED)
    page.goto(audit_url)
    expect(page.locator("#diagrams")).to_have_attribute("data-ready", "true", timeout=15000)
    shot(page, "11-real-audit-page")
    assert axe_violations(page) == []
    assert len(done) >= 5, done
    expect(page.locator("main")).to_contain_text("Good")
    assert page.problems == []


def test_a_requires_improvement_audit_disputed_followed_up_and_reaudited(
        real_processes: None, page: Any, live_server: str) -> None:
    """Allocation, meeting, family feedback, audit tool, dispute, restorative conversation,
    follow-up and re-audit, each done in the browser by the person who holds it."""
    chosen = {
        "practitioner_agrees": "no",
        "disagreement_reasons": "The family's views were not taken into account",
        "dispute_stage1_outcome": "unresolved",
        "restorative_worker": "cpp.carla",
        "dispute_stage2_outcome": "resolved-grade-stands",
        "reaudit_grade": "Good",
        "reaudit_file_still_inadequate_or_ri": "no",
    }
    preferred = ["Requires Improvement", "yes", "grade-stands"]
    audit_url, done = _walk(page, live_server, "CH-400777", "sw.peter", "aud.alex", chosen,
                            preferred)
    tasks = [d.split(": ", 1)[1] for d in done]
    for expected in ("Contact the practitioner and Team Manager and arrange a time to meet",
                     "Obtain feedback from the child's main carer, and the child if appropriate",
                     "Complete the audit tool", "Respond to the findings of the audit",
                     "Discuss the findings with the practitioner",
                     "Allocate a worker to hold a Restorative Conversation",
                     "Hold the Restorative Conversation", "Acknowledge the audit grading",
                     "Follow up remedial actions", "Respond to and sign off the actions",
                     "Re-audit the child's file"):
        assert expected in tasks, (expected, tasks)
    assert tasks.index("Hold the Restorative Conversation") < tasks.index(
        "Follow up remedial actions") < tasks.index("Re-audit the child's file")
    page.goto(audit_url)
    expect(page.locator("main")).to_contain_text("Requires Improvement")
    assert page.problems == []
