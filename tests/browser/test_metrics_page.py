"""The metrics page draws its charts from seeded data; the link from an email opens its conversation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import chromium, console_sign_in, make_settings, real_server

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
pytestmark = pytest.mark.browser


@pytest.fixture()
def desk(data_dir: Path, embedders: list) -> Iterator[tuple[Any, str]]:
    from bot.services import build_services
    from bot.web.app import create_app

    svc = build_services(make_settings(data_dir, console_accounts={"alice": "alice-pass-123"}), embedders=embedders)
    try:
        with real_server(create_app(svc.settings, svc)) as (host, port):
            yield svc, f"http://{host}:{port}"
    finally:
        svc.close()


def seed(svc: Any) -> None:
    """Three days ago: two conversations answered by the bot from one entry (one thumbs up), one handed off."""
    started = (datetime.now(UTC) - timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    stamp = started.isoformat(timespec="milliseconds")
    for feedback, hand in (("yes", False), (None, False), (None, True)):
        conv = svc.storage.conversations.create("en")
        sources = [{"id": "red-letter-invoice", "title": "数电票怎么开红字发票？", "lang": "zh"}] if not hand else []
        m = svc.storage.conversations.add_message(conv.id, "bot", "a", {"kind": "answer", "sources": sources})
        if hand:
            svc.queue.hand_off(conv.id, "customer_request", "en", "q", [])
        with svc.storage.db.tx() as tx:
            tx.execute("UPDATE conversations SET created_at = ? WHERE id = ?", (stamp, conv.id))
            tx.execute("UPDATE messages SET created_at = ?, feedback = ? WHERE id = ?", (stamp, feedback, m.id))
            tx.execute("UPDATE handoffs SET created_at = ? WHERE conversation_id = ?", (stamp, conv.id))
        svc.storage.metrics.refresh(conv.id)  # the metrics' rows, from the backdated ones


def test_the_metrics_page_draws_its_charts(desk: tuple[Any, str]) -> None:
    svc, base = desk
    seed(svc)
    with chromium() as browser:
        page: Any = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        console_sign_in(page, base, "alice", "alice-pass-123")
        page.locator("#metrics-link").click()
        chart = page.locator('svg[data-chart="automation_24h"] rect')
        expect(chart).to_have_count(7)  # the last 7 days, today included
        day = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
        assert page.locator(f'svg[data-chart="automation_24h"] rect[data-day="{day}"]').get_attribute("data-value") == "0.6667"
        expect(page.locator('[data-card="handoff_rate"] .big')).to_have_text("33.3%")
        expect(page.locator('[data-card="csat"] .big')).to_have_text("100%")
        expect(page.locator('[data-card="conversations"] .big')).to_have_text("3")
        # per FAQ entry: every entry of the FAQ, the answered one first, sortable by any column
        row = page.locator('#entries tr[data-entry="red-letter-invoice"]')
        expect(page.locator("#entries tbody tr").first).to_have_attribute("data-entry", "red-letter-invoice")
        expect(row.locator('[data-col="answers"]')).to_have_text("2")
        expect(row.locator('[data-col="up"]')).to_have_text("1")
        expect(row.locator('[data-col="helpful_rate"]')).to_have_text("100%")
        expect(row.locator('[data-col="miss_rate"]')).to_have_text("0%")
        assert page.locator("#entries tbody tr").count() > 10
        page.locator('#entries th[data-sort="answers"]').click()  # now fewest first
        expect(page.locator("#entries tbody tr").last).to_have_attribute("data-entry", "red-letter-invoice")
        expect(page.locator('#entries th[data-sort="answers"]')).to_have_attribute("aria-sort", "ascending")
        page.locator('#entries th[data-sort="title"]').click()
        titles = page.locator("#entries tbody tr td:first-child").all_inner_texts()
        assert titles == sorted(titles, key=str.lower)
        # per ISO week: one or two bars for the last 7 days, the same totals
        page.locator("#group").select_option("week")
        weeks = page.locator('svg[data-chart="conversations"] rect[data-week]')
        expect(weeks.first).to_be_visible()
        assert 1 <= weeks.count() <= 2
        expect(page.locator('[data-card="conversations"] .big')).to_have_text("3")
        assert page.locator("#csv").get_attribute("href").endswith("&group=week")
        page.locator("#lang").select_option("zh")
        expect(page.locator('[data-card="conversations"] .big')).to_have_text("0")
        assert page.locator("#csv").get_attribute("href").startswith("/api/agent/metrics.csv?")
        assert page.locator("#entries-csv").get_attribute("href").startswith("/api/agent/metrics/entries.csv?")
        # in Chinese, from the console's string table; the choice is the console's and is remembered
        page.locator("#lang-switch").select_option("zh")
        expect(page.locator("h1")).to_have_text("数据指标")
        expect(page.locator('[data-card="automation_24h"] h2')).to_have_text("自动解决率（24 小时）")
        expect(page.locator('#entries th[data-sort="not_what_i_asked"]')).to_contain_text("不是我问的")
        page.reload()
        expect(page.locator('[data-card="handoff_rate"] h2')).to_have_text("转人工率")
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert errors == []


def test_the_link_in_an_email_opens_the_conversation_in_the_widget(desk: tuple[Any, str]) -> None:
    svc, base = desk
    chat = httpx.post(f"{base}/api/chat", json={"message": "I want to talk to a person about my invoice"}).json()
    link = svc.email.link(chat["conversation_id"])
    assert link is None  # without HELPDESK_PUBLIC_URL no link is written
    svc.email.config = type(svc.email.config)(public_url=base)
    link = svc.email.link(chat["conversation_id"])
    with chromium() as browser:
        page: Any = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(link)
        expect(page.locator(".row.customer").first).to_have_text("I want to talk to a person about my invoice")
        assert "#" not in page.url  # the token left the address bar
        assert errors == []
