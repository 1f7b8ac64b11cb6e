"""Browser fixtures: the app served on a random local port, and Debian's headless Chromium."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from engine import Engine

CHROMIUM = Path(os.environ.get("QAFLOW_CHROMIUM", "/usr/bin/chromium"))
VENDOR = Path(__file__).resolve().parents[2] / "webui" / "static" / "vendor"
SHOTS = Path(os.environ.get("QAFLOW_SHOTS", "/tmp/shots"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _need(ok: bool, why: str) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI is set, so browser tests must run)")
        pytest.skip(why)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _need(CHROMIUM.exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    _need((VENDOR / "govuk" / "govuk-frontend.min.css").exists(),
          "front-end assets missing: run `npm install` and `python -m webui.assets`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app_config: dict[str, Any], web_engine: Engine) -> Iterator[str]:
    """Serve the app (demo mode, fixture process) on 127.0.0.1 and a free port."""
    from webui import create_app

    app = create_app({**app_config, "TESTING": False, "WTF_CSRF_ENABLED": True, "DEMO": True})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


class QuietHandler(WSGIRequestHandler):
    """Serve without logging every request into the test output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Problems(list[str]):
    """Console errors, failed requests and page errors seen while a test ran."""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    problems = Problems()
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.problems = problems
    yield pg
    context.close()


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.2 A and AA rules) on the page; return what it found."""
    if not (VENDOR / "axe.min.js").exists():
        _need(False, "axe-core missing: run `npm install` and `python -m webui.assets`")
    page.add_script_tag(url="/static/vendor/axe.min.js")
    result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})""")
    found = [{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]],
              "html": [n["html"] for n in v["nodes"]]} for v in result["violations"]]
    return [v for v in found if not _govuk_conditional_radio(v)]


def _govuk_conditional_radio(violation: dict[str, Any]) -> bool:
    # GOV.UK Frontend marks a radio that reveals more questions with aria-expanded; axe says
    # radios may not carry it. GOV.UK keep it on purpose (screen readers announce the reveal).
    return violation["id"] == "aria-allowed-attr" and all(
        'class="govuk-radios__input"' in html and "aria-expanded" in html
        for html in violation["html"])
