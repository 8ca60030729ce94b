"""In a real browser: a handoff reaches the named handler's in-app inbox, and they mark it read.

    clerk's context    ZX005 李娜 registers a walk-in and refers it to RSJ008
    the services       the REAL notification planner + sender (and deadline-watch) consume
                       the case's events: the handoff goes into RSJ008's staff_inbox
    handler's context  RSJ008 谢丹丹 sees "1" beside 站内消息 in the navigation, opens the
                       inbox, reads 【待接收转办】, marks it read: the count is gone, the row says
                       已读, and the table has read_at set

Same browser, server and sign-in as test_console_browser.py (Debian's /usr/bin/chromium).
"""

from __future__ import annotations

import psycopg
from playwright.sync_api import Browser, expect

from tests.e2e.test_console_browser import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    browser,
    console_url,
    signed_in,
)
from tests.integration.test_console_deadlines import services  # noqa: F401  (fixture)


def test_a_handler_sees_the_handoff_in_the_inbox_and_marks_it_read(
        browser: Browser, console_url: str, database_url: str,  # noqa: F811
        services) -> None:  # noqa: F811
    clerk = signed_in(browser, console_url, "ZX005", "李娜")
    clerk.click("nav >> text=登记来访来电")
    clerk.fill("input[name=inquirer_name]", "王小明")
    clerk.fill("input[name=inquirer_phone]", "13912345678")
    clerk.fill("textarea[name=matter]", "想办理社会保障卡，需要带什么材料")
    clerk.click("#register-form button[type=submit]")
    receipt = clerk.inner_text("#receipt-number")
    clerk.click("#open-case")
    case_id = clerk.url.rsplit("/", 1)[1]
    clerk.click("#action-refer-internal summary")
    clerk.select_option("#refer-section", "RSJ-SBK")
    clerk.select_option("#refer-handler", "RSJ008")
    clerk.fill("#action-refer-internal textarea[name=reason]", "社保卡申领由谢丹丹办理")
    clerk.click("#action-refer-internal button[type=submit]")
    expect(clerk.locator("#case-status")).to_contain_text("待接办")
    expect(clerk.locator("#nav-inbox")).not_to_contain_text("1")  # nothing for the clerk yet

    services.catch_up(case_id)  # the notification service delivers the handoff in-app

    handler = signed_in(browser, console_url, "RSJ008", "谢丹丹")
    expect(handler.locator("#unread-count")).to_have_text("1")
    handler.click("#nav-inbox")
    row = handler.locator("#inbox tbody tr", has_text=receipt)
    expect(row).to_have_class("message unread")
    expect(row).to_contain_text("【待接收转办】")
    expect(row).to_contain_text("李娜")
    ARTIFACTS.mkdir(exist_ok=True)
    handler.screenshot(path=str(ARTIFACTS / "console-inbox.png"), full_page=True)
    row.locator("button", has_text="标为已读").click()
    expect(handler.locator(".flash")).to_contain_text("已标记为已读")
    expect(handler.locator("#unread-count")).to_have_count(0)
    expect(handler.locator("#inbox tbody tr", has_text=receipt)).to_have_class("message read")
    expect(handler.locator("#inbox tbody tr", has_text=receipt)).to_contain_text("已读")

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT staff_id, case_id, read_at IS NOT NULL FROM staff_inbox"
                            " WHERE staff_id = 'RSJ008'").fetchall()
    assert rows == [("RSJ008", case_id, True)]
    # the link in the message opens the case, where the timeline shows the same message sent
    handler.locator("#inbox tbody tr", has_text=receipt).locator("a").click()
    expect(handler.locator("#timeline tr.event-notification_sent",
                           has_text="谢丹丹")).to_contain_text("站内消息")
