"""The console inbox in chromium: an internal note, unclaim and transfer (issue #12, first part)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import chromium, console_sign_in, make_settings, real_server

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
pytestmark = pytest.mark.browser

ACCOUNTS = {"alice": "alice-pass-123", "bob": "bob-pass-123", "erin": "erin-pass-123"}
ROLES = {"erin": "editor"}


@pytest.fixture()
def base_url(data_dir: Path, embedders: list) -> Iterator[str]:
    from bot.services import build_services
    from bot.web.app import create_app

    svc = build_services(make_settings(data_dir, console_accounts=ACCOUNTS, console_roles=ROLES), embedders=embedders)
    try:
        with real_server(create_app(svc.settings, svc)) as (host, port):
            yield f"http://{host}:{port}"
    finally:
        svc.close()


def test_an_agent_notes_releases_and_transfers_a_handoff(base_url: str) -> None:
    chat = httpx.post(f"{base_url}/api/chat", json={"message": "I want to talk to a person about a refund"}).json()
    cid, hid = chat["conversation_id"], chat["handoff"]["id"]
    with chromium() as browser:
        page = sign_in(browser, base_url, "alice")
        page.locator(f'[data-handoff="{hid}"]').click()
        page.locator("#note-text").fill("VIP customer, handle with care")
        page.locator("#note-add").click()
        expect(page.locator("#notes-list .note-item")).to_contain_text("VIP customer, handle with care")
        page.locator("#claim").click()
        expect(page.locator("#owner")).to_have_text("You're handling this")
        page.locator("#unclaim").click()
        expect(page.locator("#claim")).to_be_visible()
        page.locator("#claim").click()
        page.locator("#transfer").select_option("bob")
        expect(page.locator("#owner")).to_contain_text("Taken by bob")

        # bob replies, then resolves with the answer the dialog prefills from that reply: sent once
        bob = sign_in(browser, base_url, "bob")
        bob.locator(f'[data-handoff="{hid}"]').click()
        expect(bob.locator("#notes-list")).to_contain_text("VIP customer, handle with care")
        bob.locator("#note-text").fill("Finance approved the refund")
        bob.locator("#note-add").click()
        expect(page.locator("#notes-list")).to_contain_text("Finance approved the refund")  # live on alice's screen
        expect(page.locator("#notes-list .note-item")).to_have_count(2)
        bob.locator("#reply-text").fill("Your refund is on its way.")
        bob.locator("#reply-send").click()
        expect(bob.locator("#transcript .msg.agent .mtext").last).to_have_text("Your refund is on its way.")
        bob.locator("#resolve-open").click()
        expect(bob.locator("#resolve-answer")).to_have_value("Your refund is on its way.")
        expect(bob.locator("#resolve-send")).not_to_be_checked()
        bob.locator('#resolve-dialog input[value="none"]').check()
        bob.locator("#resolve-submit").click()
        expect(bob.locator("#owner")).to_have_text("Resolved by bob")
    state = httpx.get(f"{base_url}/api/conversations/{cid}/messages", headers={"X-Conversation-Token": chat["conversation_token"]}).json()
    agent_texts = [m["text"] for m in state["messages"] if m["role"] == "agent"]
    assert agent_texts == ["Your refund is on its way."]  # once, not again with the resolution
    assert "VIP" not in str(state)


def sign_in(browser: Any, base_url: str, user: str, **page_options: Any) -> Any:
    return console_sign_in(browser.new_page(**page_options), base_url, user, ACCOUNTS[user])


def test_a_canned_reply_in_chinese_and_finding_an_old_conversation_by_a_word(base_url: str) -> None:
    with chromium() as browser:
        editor = sign_in(browser, base_url, "erin")
        r = editor.request.put(
            f"{base_url}/api/agent/canned/greeting/zh",
            data={"title": "问候", "body": "{name}好，我是{agent}，马上为您处理。"},
            headers={"Origin": base_url},
        )
        assert r.status == 200, r.text()
        old = httpx.post(f"{base_url}/api/chat", json={"message": "我的Quuxly对账单导出失败"}).json()
        httpx.post(
            f"{base_url}/api/chat",
            json={"message": "转人工", "conversation_id": old["conversation_id"]},
            headers={"X-Conversation-Token": old["conversation_token"]},
        )
        agent = sign_in(browser, base_url, "alice")
        agent.locator("#search-q").fill("Quuxly")
        agent.locator("#search-q").press("Enter")
        hit = agent.locator("#search-results .hit").first
        expect(hit).to_contain_text("Quuxly")
        hit.click()
        expect(agent.locator("#detail-question")).to_contain_text("Quuxly")
        agent.locator("#canned").select_option(label="[中文] 问候")
        expect(agent.locator("#reply-text")).to_have_value("您好，我是alice，马上为您处理。")
        agent.locator("#reply-send").click()
        expect(agent.locator("#transcript .msg.agent .mtext").last).to_have_text("您好，我是alice，马上为您处理。")


def test_the_console_at_390px_notifies_and_answers_keys(base_url: str, tmp_path: Path) -> None:
    import os

    from tests.support import ROOT

    with chromium() as browser:
        page = sign_in(browser, base_url, "alice", viewport={"width": 390, "height": 844})
        expect(page.locator("#live")).to_have_text("Live")
        before = page.title()
        chat = httpx.post(f"{base_url}/api/chat", json={"message": "I want to talk to a person about VAT"}).json()
        hid = chat["handoff"]["id"]
        expect(page.locator(f'[data-handoff="{hid}"]')).to_be_visible()
        expect(page).to_have_title(re.compile(r"^\(1\) Inbox"))  # the count in the tab title
        assert before != page.title()
        page.locator("body").press("j")  # keyboard: the next handoff opens
        expect(page.locator("#detail-question")).to_be_visible()
        page.locator("body").press("c")
        expect(page.locator("#owner")).to_have_text("You're handling this")
        page.locator("body").press("r")
        assert page.evaluate("document.activeElement.id") == "reply-text"
        # usable at 390 px: the conversation and the composer take the width, nothing is squeezed
        for selector in ("#transcript", "#reply-text", "#notes"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["width"] >= 340, (selector, box)
        shots = ROOT / "docs" / "images" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
        page.screenshot(path=str(shots / "console-390.png"), full_page=True)
