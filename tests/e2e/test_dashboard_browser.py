"""The leaders' dashboard in a real browser: Debian's headless Chromium driven by playwright.

    intake (TestClient)  the city of tests/integration/test_dashboard.py: seven cases,
                         projected into the ledger's case_summary
    uvicorn (a thread)   the dashboard app on a free port, the same database
    browser              ZX001 周卫东 (the centre's principal leader) signs in, reads the
                         figures and the charts, opens case C's timeline; a screenshot of
                         each page goes to tests/artifacts/ (gitignored)

Without /usr/bin/chromium the test is skipped locally and fails under CI.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, expect, sync_playwright

from services.common.embedded import free_port
from services.common.settings import Settings
from services.dashboard.app import create_app
from tests.integration.test_dashboard import build_city

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium here (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def dashboard_url(db_settings: Settings, demo_directory) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db_settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="dashboard-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is required: apt-get install -y chromium"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_a_leader_reads_the_dashboard_and_a_case_timeline(intake, token_for, database_url,
                                                         dashboard_url, browser):
    city = build_city(intake, token_for, database_url)
    page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000}
                               ).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{dashboard_url}/dashboard")
    expect(page).to_have_url(f"{dashboard_url}/dashboard/sign-in")
    page.fill("input[name=staff_id]", "ZX001")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{dashboard_url}/dashboard")
    expect(page.locator("#signed-in-as")).to_have_text("周卫东")

    figures = {i: page.locator(f"#{i}").inner_text() for i in
               ("total-open", "total-overdue", "total-escalated", "on-time-rate", "satisfaction")}
    assert figures == {"total-open": "6", "total-overdue": "2", "total-escalated": "1",
                       "on-time-rate": "67%", "satisfaction": "50%"}
    centre = page.locator('tr.unit[data-unit="ZWFWZX"]')
    assert [centre.locator(f"td.{c}").inner_text() for c in ("open", "overdue", "escalated")] \
        == ["5", "2", "1"]
    bars = page.locator('#chart-units rect[data-series="超期 overdue"]')
    assert sorted(bars.evaluate_all("els => els.map(e => e.dataset.value)")) == ["0", "2"]
    for chart in ("#chart-units", "#chart-on-time", "#chart-satisfaction"):
        box = page.locator(chart).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100, chart  # drawn, not empty
    on_time = page.locator("#chart-on-time circle").evaluate_all(
        "els => els.map(e => e.dataset.value)")
    assert on_time == ["67%"]  # one week with answers: this one
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    attention = page.locator("#attention tr[data-case]")
    assert sorted(attention.evaluate_all("els => els.map(e => e.dataset.case)")) == sorted(
        [city["B"], city["C"]])
    page.locator(f'#attention tr[data-case="{city["C"]}"] a').click()
    expect(page).to_have_url(f"{dashboard_url}/dashboard/cases/{city['C']}")
    items = page.locator("ol.timeline li")
    assert items.evaluate_all("els => els.map(e => e.dataset.type)") == [
        "received", "accepted", "escalated"]
    expect(page.locator("#overdue")).to_have_text("是 yes")
    assert "王小明" not in page.content()  # the inquirer's name stays masked
    page.screenshot(path=str(ARTIFACTS / "dashboard-case.png"), full_page=True)
