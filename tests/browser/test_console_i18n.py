"""The console in Chinese and English from the widget's string table, and bot answers as markdown,
drawn safely by the one renderer the widget uses too (issue #12)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.web.vocabulary import strings
from escalation.models import HandoffReason
from tests.support import ROOT, chromium, console_sign_in, make_settings, real_server

STATIC = ROOT / "bot" / "web" / "static"
ACCOUNTS = {"alice": "alice-pass-123", "bob": "bob-pass-123"}

# a bot answer as the knowledge writes them, with what must never run in it
ANSWER = (
    "To correct an issued invoice, issue a **credit note**:\n\n"
    "1. Open the invoice\n"
    "2. Choose *More › Credit note*\n\n"
    "See [the guide](https://help.ledgerly.example/credit-notes) or https://status.ledgerly.example/.\n\n"
    "<img src=x onerror=alert(1)> [x](javascript:alert(2)) ![y](https://ok.example/i.png\"onerror=\"alert(3))\n\n"
    "<div onmouseover=alert(4)>raw</div>"
)

# alert/confirm/prompt recorded, not shown: anything an answer manages to run is named here
RECORD_DIALOGS = """
  window.__ran = [];
  for (const name of ["alert", "confirm", "prompt"]) window[name] = (...a) => { window.__ran.push(name + ":" + a.join(",")); };
"""

# every text node and label of the console that is exactly one of the given strings
ENGLISH_LEFT = """
  english => {
    const found = new Set();
    const app = document.getElementById("app");
    const walker = document.createTreeWalker(app, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = n.textContent.trim();
      if (text && english.includes(text) && n.parentElement.closest("[hidden]") === null) found.add(text);
    }
    for (const el of app.querySelectorAll("[placeholder], [aria-label], [title]")) {
      for (const a of ["placeholder", "aria-label", "title"]) {
        const v = (el.getAttribute(a) || "").trim();
        if (v && english.includes(v)) found.add(a + "=" + v);
      }
    }
    return [...found];
  }
"""


# ---------------------------------------------------------------------------- the string table


def test_both_languages_have_every_string_of_both_scripts() -> None:
    table = strings()
    assert set(table) == {"en", "zh"}
    for section in ("widget", "console", "reason"):
        assert set(table["en"][section]) == set(table["zh"][section]), section
        assert all(table["zh"][section].values()), section


def test_every_handoff_reason_has_its_own_label_in_both_languages() -> None:
    for lang in ("en", "zh"):
        reasons = table_reasons(lang)
        assert set(reasons) == {r.value for r in HandoffReason}, lang
        labels = [label for label, _ in reasons.values()]
        assert len(set(labels)) == len(labels), f"two reasons share a label in {lang}: {labels}"
        assert all(why for _, why in reasons.values()), lang
    # "none of these" after suggestions is not "low confidence"
    assert table_reasons("en")["clarify_rejected"][0] == "Suggestions rejected"
    assert table_reasons("zh")["clarify_rejected"][0] != table_reasons("zh")["low_confidence"][0]


def table_reasons(lang: str) -> dict[str, list[str]]:
    reasons: dict[str, list[str]] = strings()[lang]["reason"]  # type: ignore[assignment]
    return reasons


def test_the_scripts_ask_only_for_strings_the_table_has() -> None:
    table = strings()["en"]
    console = (STATIC / "console.js").read_text(encoding="utf-8")
    html = (STATIC / "console.html").read_text(encoding="utf-8")
    widget = (STATIC / "widget.js").read_text(encoding="utf-8")
    asked = set(re.findall(r'\bt\("(\w+)"', console)) | set(re.findall(r'data-i18n(?:-[\w-]+)?="(\w+)"', html))
    assert asked and asked <= set(table["console"]), sorted(asked - set(table["console"]))
    asked_widget = set(re.findall(r'\bt\("(\w+)"', widget))
    assert asked_widget and asked_widget <= set(table["widget"]), sorted(asked_widget - set(table["widget"]))
    # one table: neither script keeps strings of its own
    assert "var STRINGS = {\n" not in widget and "Write a reply to the customer" not in console


# ----------------------------------------------------------------------------------- the browser

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


@pytest.fixture()
def desk(data_dir: Path, embedders: list) -> Iterator[tuple[str, Any]]:
    from bot.services import build_services
    from bot.web.app import create_app

    svc = build_services(make_settings(data_dir, console_accounts=ACCOUNTS), embedders=embedders)
    try:
        with real_server(create_app(svc.settings, svc)) as (host, port):
            yield f"http://{host}:{port}", svc
    finally:
        svc.close()


def new_page(browser: Any, locale: str) -> Any:
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_DIALOGS)
    page = context.new_page()
    page.dialogs = []
    page.errors = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def assert_nothing_ran(page: Any, where: str) -> None:
    page.wait_for_timeout(300)  # an image would have failed to load by now
    assert page.evaluate("window.__ran") == [], where
    assert page.dialogs == [], where


def assert_markdown_html(scope: Any, where: str) -> None:
    """``scope`` (a locator) shows ANSWER as HTML: bold, a numbered list, http(s) links, nothing unsafe."""
    expect(scope.locator("strong")).to_have_text("credit note")
    expect(scope.locator("ol > li")).to_have_count(2)
    expect(scope.locator("em")).to_have_text("More › Credit note")
    guide = scope.locator('a[href="https://help.ledgerly.example/credit-notes"]')
    expect(guide).to_have_text("the guide")
    expect(guide).to_have_attribute("target", "_blank")
    expect(guide).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(scope.locator('a[href="https://status.ledgerly.example/"]')).to_have_count(1)  # a bare URL, linked
    expect(scope).to_contain_text("<img src=x onerror=alert(1)>")  # raw HTML stays text
    expect(scope).to_contain_text("[x](javascript:alert(2))")
    assert scope.locator("img, script, div, [onerror], [onmouseover], a[href^='javascript'], a:not([href])").count() == 0, where
    for i in range(scope.locator("*").count()):  # hover each element: an injected handler would run
        scope.locator("*").nth(i).hover()


@pytest.mark.browser
def test_the_console_in_chinese_and_bot_answers_as_markdown(desk: tuple[str, Any]) -> None:
    base, svc = desk
    table = strings()
    with chromium() as browser:
        # a customer hands off in the widget; the bot's answer (as the knowledge writes them) is in the transcript
        customer = new_page(browser, "en-US")
        customer.goto(f"{base}/")
        customer.locator('[data-part="launcher"]').click()
        customer.locator('[data-action="talk-to-person"]').click()
        expect(customer.locator('[data-part="handoff-state"]')).to_be_visible()
        cid = customer.evaluate("window.LedgerlyHelpdesk.conversationId")
        answer = svc.storage.conversations.add_message(cid, "bot", ANSWER, {"kind": "answer", "confidence": 0.98, "sources": []})
        customer.reload()
        if customer.locator('[data-part="launcher"]').get_attribute("aria-expanded") != "true":
            customer.locator('[data-part="launcher"]').click()
        bubble = customer.locator(f'.row.bot[data-id="{answer.id}"] .bubble')
        expect(bubble).to_be_visible()
        assert_markdown_html(bubble, "widget")
        assert_nothing_ran(customer, "widget")
        assert customer.errors == []

        # a "none of these" handoff, to see its reason labelled as itself
        other = svc.storage.conversations.create("zh")
        svc.storage.conversations.add_message(other.id, "customer", "差额征税的发票怎么开")
        rejected = svc.queue.hand_off(other.id, HandoffReason.CLARIFY_REJECTED, "zh", "差额征税的发票怎么开", [])
        [hid] = [h["id"] for h in httpx.get(f"{base}/api/agent/handoffs", headers={"Authorization": "Bearer test-token"}).json()
                 if h["conversation_id"] == cid]

        # the agent's browser speaks English: the console starts in English, then is switched to Chinese
        agent = console_sign_in(new_page(browser, "en-US"), base, "alice", ACCOUNTS["alice"])
        expect(agent.locator("#signout")).to_have_text("Sign out")
        expect(agent.locator(f'.qitem[data-handoff="{rejected.id}"] .tag.reason')).to_have_text("Suggestions rejected")
        agent.locator("#lang-switch").select_option("zh")
        zh = table["zh"]["console"]
        expect(agent.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(agent.locator("#signout")).to_have_text(zh["signOut"])
        expect(agent.locator(".qhead h2")).to_contain_text("收件箱")
        expect(agent.locator("#search-q")).to_have_attribute("placeholder", zh["searchPlaceholder"])
        expect(agent.locator("#filter-status option:checked")).to_have_text(zh["filterActive"])
        expect(agent.locator("#live")).to_have_text(zh["live"])
        expect(agent).to_have_title(re.compile(r"^\(\d+\) 收件箱 · Ledgerly 客服台$"))
        rejected_tag = agent.locator(f'.qitem[data-handoff="{rejected.id}"] .tag.reason')
        expect(rejected_tag).to_have_text(table["zh"]["reason"]["clarify_rejected"][0])
        assert rejected_tag.inner_text() != table["zh"]["reason"]["low_confidence"][0]

        agent.locator(f'.qitem[data-handoff="{hid}"]').click()
        expect(agent.locator("#claim")).to_have_text("认领")
        expect(agent.locator("#reply-send")).to_have_text("发送")
        expect(agent.locator("#reply-text")).to_have_attribute("placeholder", zh["replyPlaceholder"])
        expect(agent.locator("#notes h3")).to_have_text("内部备注")
        expect(agent.locator("#note-add")).to_have_text("添加备注")
        expect(agent.locator("#why")).to_contain_text(table["zh"]["reason"]["customer_request"][0])
        expect(agent.locator("#candidates h3")).to_have_text(zh["candidatesTitle"])
        expect(agent.locator("#transcript .msg.customer .mhead b").first).to_have_text("客户")

        # the bot's answer is markdown in the console too, from the widget's renderer
        text = agent.locator(f'#transcript .msg.bot[data-id="{answer.id}"] .mtext')
        expect(text).to_have_class(re.compile(r"\bmd\b"))
        more = agent.locator(f'#transcript .msg.bot[data-id="{answer.id}"] .mfoot button')
        if more.count():
            more.click()  # a long answer is clamped: "展开全部"
        assert_markdown_html(text, "console")
        expect(agent.locator(f'#transcript .msg.bot[data-id="{answer.id}"] .kind')).to_have_text("回答")

        agent.locator("#claim").click()
        expect(agent.locator("#owner")).to_have_text("由您处理中")
        expect(agent.locator("#unclaim")).to_have_text("取消认领")
        agent.locator("#note-text").fill("VIP")
        agent.locator("#reply-text").fill("稍等，我来查一下")
        english = sorted({v for k, v in table["en"]["console"].items() if v != zh[k]})
        assert agent.evaluate(ENGLISH_LEFT, english) == []  # nothing of the console left in English

        # a dialog and a toast, in Chinese
        agent.locator("#resolve-open").click()
        expect(agent.locator("#resolve-title")).to_have_text(f"解决转人工 #{hid}")
        expect(agent.locator("#resolve-dialog")).to_contain_text(zh["alsoSend"])
        agent.locator("#resolve-submit").click()
        expect(agent.locator("#resolve-error")).to_have_text(zh["needAnswer"])  # nothing replied yet to prefill it
        agent.locator('#resolve-dialog button:has-text("取消")').click()
        agent.locator("#transfer").select_option("bob")
        expect(agent.locator(".toast")).to_have_text("已转给 bob。")
        expect(agent.locator("#owner")).to_contain_text("已由 bob 认领")

        # remembered: the next visit is in Chinese; switched back, everything is English again
        agent.reload()
        expect(agent.locator("#signout")).to_have_text(zh["signOut"])
        assert agent.evaluate("localStorage.getItem('ledgerly-console:lang')") == "zh"
        agent.locator("#lang-switch").select_option("en")
        expect(agent.locator("#signout")).to_have_text("Sign out")
        expect(agent.locator(f'.qitem[data-handoff="{hid}"] .qstatus')).to_contain_text("Taken by bob")
        assert_nothing_ran(agent, "console")
        assert agent.errors == []

        # a browser in Chinese gets the console in Chinese from the start, the sign-in page too
        chinese = new_page(browser, "zh-CN")
        chinese.goto(f"{base}/console")
        expect(chinese.locator("#signin-button")).to_have_text(zh["signIn"])
        expect(chinese).to_have_title(zh["titleSignin"])
        chinese.locator("#signin-button").click()
        expect(chinese.locator("#signin-error")).to_have_text(zh["enterCredentials"])
        console_sign_in(chinese, base, "bob", ACCOUNTS["bob"])
        expect(chinese.locator("#signout")).to_have_text(zh["signOut"])
        assert chinese.errors == []
