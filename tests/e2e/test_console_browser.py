"""The staff console in a real browser: Debian's headless Chromium driven by playwright.

    uvicorn (a thread) ── the intake app on a free port, this test's database, demo directory
        ▲
        │  clerk's context    ZX005 李娜 signs in, registers a walk-in, refers it to RSJ008
        │  handler's context  RSJ008 谢丹丹 signs in, finds it in My cases, accepts the handoff
        │
    then the event store: received -> referred -> handoff_accepted, each with its actor.

Playwright only drives the browser: no `playwright install`, the browser is the system's
/usr/bin/chromium (apt-get install chromium). Without it the test is skipped locally and
fails under CI. A screenshot of the handler's case page goes to tests/artifacts/.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from services.common.embedded import free_port
from services.common.settings import Settings
from services.intake.app import create_app
from tests.integration.intake_helpers import events_of

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MATTER = "想办理社会保障卡，需要带什么材料，在哪里办"

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium here (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def console_url(db_settings: Settings, demo_directory) -> Iterator[str]:
    """The intake app served by uvicorn in a thread, for the browser to reach over HTTP:
    this test's database, the demo directory, a development signing key in tmp."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db_settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the intake app did not start"
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


def signed_in(browser: Browser, base: str, staff_id: str, name: str) -> Page:
    """A fresh browser context (its own cookies) signed in as ``staff_id``."""
    page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/console/cases")
    expect(page).to_have_url(f"{base}/console/sign-in?next=%2Fconsole%2Fcases")
    page.fill("input[name=staff_id]", staff_id)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{base}/console/cases")
    expect(page.locator("#signed-in-as")).to_have_text(name)
    return page


def test_a_clerk_registers_a_walk_in_and_refers_it_and_the_handler_accepts(
        browser: Browser, console_url: str, database_url: str) -> None:
    clerk = signed_in(browser, console_url, "ZX005", "李娜")
    [cookie] = [c for c in clerk.context.cookies() if c["name"] == "shouwen_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"

    # the window registers the walk-in; the receipt names the first responder
    clerk.click("nav >> text=登记来访来电")
    clerk.select_option("select[name=channel]", "visit")
    clerk.fill("input[name=inquirer_name]", "王小明")
    clerk.fill("input[name=inquirer_phone]", "13912345678")
    clerk.fill("input[name=inquirer_address]", "示范市和平路12号")
    clerk.fill("textarea[name=matter]", MATTER)
    clerk.click("#register-form button[type=submit]")
    receipt = clerk.inner_text("#receipt-number")
    assert receipt.startswith("SW") and len(clerk.inner_text("#access-code")) == 10
    expect(clerk.locator("#receipt")).to_contain_text("0935-8100105")
    expect(clerk.locator("#first-responder")).to_have_text("李娜")

    # ... and refers it to the social-security card section's handler
    clerk.click("#open-case")
    case_id = clerk.url.rsplit("/", 1)[1]
    expect(clerk.locator("#case-status")).to_contain_text("已登记")
    clerk.click("#action-refer-internal summary")
    clerk.select_option("#refer-section", "RSJ-SBK")
    clerk.select_option("#refer-handler", "RSJ008")
    clerk.fill("#action-refer-internal textarea[name=reason]",
               "社保卡申领由人社局社会保障卡服务股谢丹丹办理，已电话落实，请到二楼B区12号窗口")
    clerk.click("#action-refer-internal button[type=submit]")
    expect(clerk.locator(".flash")).to_contain_text("转办经办人")
    expect(clerk.locator("#case-status")).to_contain_text("待接办")
    expect(clerk.locator("#awaiting")).to_have_text("谢丹丹")

    # the handler, in a browser of their own, finds it in My cases and takes it
    handler = signed_in(browser, console_url, "RSJ008", "谢丹丹")
    row = handler.locator("#my-cases tbody tr", has_text=receipt)
    expect(row).to_contain_text("待我接办")
    row.locator("a").click()
    handler.click("#action-accept-handoff summary")
    handler.click("#action-accept-handoff button[type=submit]")
    expect(handler.locator("#case-status")).to_contain_text("办理中")
    expect(handler.locator("#case-handler")).to_have_text("谢丹丹")
    expect(handler.locator("#timeline tbody tr")).to_have_count(3)
    ARTIFACTS.mkdir(exist_ok=True)
    handler.screenshot(path=str(ARTIFACTS / "console-case.png"), full_page=True)

    steps = [(e["type"], e["actor"]) for e in events_of(database_url, case_id)]
    assert steps == [("received", "staff:ZX005"), ("referred", "staff:ZX005"),
                     ("handoff_accepted", "staff:RSJ008")]
    [received, referred, accepted] = events_of(database_url, case_id)
    assert received["data"]["receipt_number"] == receipt
    assert received["data"]["channel"] == "visit"
    assert referred["data"]["referral"]["handler"]["id"] == "RSJ008"
    assert accepted["data"]["handler"]["id"] == "RSJ008"
