"""The widget after hours, in a real browser against a real server whose clock reads Friday 22:00."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support import chromium, console_sign_in, make_settings, real_server

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
pytestmark = pytest.mark.browser

FRIDAY_22 = datetime(2026, 12, 4, 22, 0, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
CALENDAR = {"timezone": "Europe/Berlin", "hours": {"mon-fri": "09:00-18:00"}}


@pytest.fixture()
def base_url(data_dir: Path, embedders: list) -> Iterator[str]:
    from bot.services import build_services
    from bot.web.app import create_app

    svc = build_services(make_settings(data_dir, calendar=CALENDAR), embedders=embedders)
    svc.waits.clock = lambda: FRIDAY_22
    try:
        with real_server(create_app(svc.settings, svc)) as (host, port):
            yield f"http://{host}:{port}"
    finally:
        svc.close()


@pytest.mark.parametrize(
    ("locale", "header", "banner", "person"),
    [
        ("en-US", "our team is back Monday 09:00 CET", "we are back Monday 09:00 CET", "Talk to a person"),
        ("zh-CN", "人工客服将于周一 09:00（CET）回来", "将于周一 09:00（CET）回来", "转人工"),
    ],
)
def test_friday_night_the_widget_announces_mondays_opening_and_asks_for_an_email(
    base_url: str, locale: str, header: str, banner: str, person: str
) -> None:
    with chromium() as browser:
        page: Any = browser.new_context(locale=locale).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base_url}/")
        page.locator('[data-part="launcher"]').click()
        expect(page.locator(".subtitle")).to_contain_text(header)
        expect(page.locator(".subtitle")).not_to_contain_text("人工客服在线")
        page.locator('[data-action="talk-to-person"]').click()
        state = page.locator('[data-part="handoff-state"]')
        expect(state).to_have_attribute("data-state", "away")
        expect(state).to_contain_text(banner)
        box = page.locator('[data-part="email"]')
        email = box.locator('[data-part="email-input"]')
        email.fill("not-an-email")
        box.get_by_role("button").click()
        expect(box.locator(".email-note")).not_to_be_empty()
        email.fill("anna@example.com")
        box.get_by_role("button").click()
        expect(page.locator('[data-action="transcript"]')).to_be_visible()
        page.locator('[data-action="transcript"]').click()
        expect(box).to_contain_text("inbox" if locale == "en-US" else "邮箱")
        assert errors == []


def test_the_console_shows_the_channel_the_overdue_sla_and_a_refused_mail(data_dir: Path, embedders: list) -> None:
    from datetime import timedelta
    from email.message import EmailMessage

    from bot.services import build_services
    from bot.web.app import create_app

    svc = build_services(
        make_settings(
            data_dir,
            console_accounts={"alice": "alice-pass-123"},
            sla_policies=[{"name": "email", "channels": ["email"], "first_response_minutes": 30}],
        ),
        embedders=embedders,
    )
    try:
        msg = EmailMessage()
        msg["From"] = "li.na@example.cn"
        msg["To"] = svc.settings.mail_from
        msg["Subject"] = "合同"
        msg["Message-ID"] = "<contract-1@example.cn>"
        msg.set_content("转人工，我要谈合同的事")
        assert svc.email.receive(msg.as_bytes()) == "handoff"
        [handoff] = svc.storage.handoffs.find(active=True)
        (row,) = svc.storage.mail.of_conversation(handoff.conversation_id)
        svc.storage.mail.failed(int(row["id"]), "550 5.1.1 user unknown")
        assert len(svc.sla.check(datetime.now(UTC) + timedelta(days=1))) == 1
        with real_server(create_app(svc.settings, svc)) as (host, port), chromium() as browser:
            page = console_sign_in(browser.new_page(), f"http://{host}:{port}", "alice", "alice-pass-123")
            item = page.locator(f'[data-handoff="{handoff.id}"]')
            expect(item.locator('[data-channel="email"]')).to_have_text("Email")
            expect(item.locator('[data-sla="breached"]')).to_have_text("SLA: first response overdue")
            expect(item.locator(".wait")).to_have_class("wait long")
            item.click()
            expect(page.locator("#mail")).to_contain_text("li.na@example.cn")
            expect(page.locator('#mail [data-mail-status="failed"]')).to_contain_text("550 5.1.1 user unknown")
    finally:
        svc.close()
