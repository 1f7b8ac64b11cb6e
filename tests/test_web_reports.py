"""Reports, the children register, the schedule and moderation pages, through the web app."""

from __future__ import annotations

import io
from typing import Any

import pytest

from engine import Engine, schedule
from engine.definitions import Bundle
from tests.conftest import PROCESSES

CIN_CP = "Children in Need and Child Protection"
CIC = "Children in Care"
REGISTER = (
    "Reference,Service area,Team,Allocated practitioner,Status,Start date\n"
    f"CH-1,{CIN_CP},Assessment Team,sw.priya,CIN,2025-02-01\n"
    f"CH-2,{CIN_CP},Child Protection Team,Paul Jones,CP,01/03/2025\n"
    f"CH-3,{CIC},Children in Care Team 1,sw.peter,CiC,2025-04-01\n"
    f"CH-4,{CIC},Children in Care Team 2,sw.nadia,CiC,2025-05-01\n"
    f"CH-5,{CIC},Children in Care Team 2,sw.nobody,CiC,2025-05-01\n"
)


@pytest.fixture
def app_config(web_engine: Engine) -> dict[str, Any]:
    web_engine.deploy(Bundle.from_paths([PROCESSES]), "test", "the framework")
    return {"TESTING": True, "SECRET_KEY": "test-secret", "ENGINE": web_engine,
            "WTF_CSRF_ENABLED": False, "AUDIT_PROCESS": "deep_dive_audit", "DEMO": False}


def _upload(client, text: str = REGISTER):  # type: ignore[no-untyped-def]
    return client.post("/reports/register", data={
        "register": (io.BytesIO(text.encode()), "register.csv")},
        content_type="multipart/form-data")


@pytest.mark.parametrize("path", ["/reports/", "/reports/monthly/2025-12",
                                  "/reports/register", "/reports/schedule/2025-12"])
def test_a_practitioner_cannot_see_reports_or_planning(client, auth, path):
    auth.login("sw.priya")
    assert client.get(path).status_code == 404


def test_the_hos_for_safeguarding_reads_reports_but_does_not_run_the_schedule(client, auth):
    auth.login("spqa.head")
    assert client.get("/reports/monthly/2025-12").status_code == 200
    assert client.get("/reports/schedule/2025-12").status_code == 404
    assert b"Reports" in client.get("/tasks").data


def test_the_register_import_reports_bad_rows_by_number(client, auth):
    auth.login("cpp.chris")
    page = _upload(client).get_data(as_text=True)
    assert "4 rows imported" in page
    assert "No active member of staff" in page
    assert ">6</td>" in page


def test_cpp_draw_with_a_seed_review_and_confirm_the_schedule(client, auth, web_engine):
    auth.login("cpp.chris")
    _upload(client)
    drawn = client.post("/reports/schedule/2025-12/draw", data={
        "kind": "monthly", "size": "3", "seed": "2024"}, follow_redirects=True)
    page = drawn.get_data(as_text=True)
    assert "2024" in page
    assert "Confirm and start 3 audits" in page
    [batch] = schedule.batches(web_engine, "2025-12")
    confirmed = client.post(f"/reports/schedule/2025-12/{batch.id}/confirm",
                            follow_redirects=True)
    assert "3 audits have started" in confirmed.get_data(as_text=True)
    assert all(r.audit_id for r in schedule.batches(web_engine, "2025-12")[0].rows)


def test_a_targeted_sample_needs_a_theme(client, auth):
    auth.login("cpp.chris")
    page = client.post("/reports/schedule/2025-12/draw", data={"kind": "targeted"})
    assert "Enter the theme of the targeted sample" in page.get_data(as_text=True)


def test_the_monthly_report_has_charts_with_text_and_tables(client, auth):
    auth.login("cpp.chris")
    page = client.get("/reports/monthly/2025-12").get_data(as_text=True)
    assert 'role="img"' in page
    assert "<desc id=\"trend-chart-d\">" in page
    assert "Deadlines met" in page
    assert "style=" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_the_report_downloads_as_csv_and_pdf(client, auth):
    auth.login("cpp.chris")
    csv = client.get("/reports/monthly/2025-12.csv")
    assert csv.mimetype == "text/csv"
    assert csv.get_data(as_text=True).startswith("section,group,measure,value")
    pdf = client.get("/reports/quarterly/2025-Q4.pdf")
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")


def test_the_briefing_downloads_as_text(client, auth):
    auth.login("slt.director")
    text = client.get("/reports/briefing/2025-12.txt").get_data(as_text=True)
    assert text.startswith("Learning from audit: December 2025")


def test_the_moderation_sample_page(client, auth):
    auth.login("cpp.chris")
    page = client.post("/reports/moderation/2025-12/draw", data={"seed": "9"},
                       follow_redirects=True).get_data(as_text=True)
    assert "No audits were submitted this month" in page


def test_a_month_that_is_not_a_month_is_not_found(client, auth):
    auth.login("cpp.chris")
    assert client.get("/reports/monthly/2025-13").status_code == 404
    assert client.get("/reports/quarterly/2025-Q5").status_code == 404
