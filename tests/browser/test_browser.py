"""End to end in a real browser: the chat widget on the demo page and the agent console.

One real ``helpdesk serve`` for the module, Debian's chromium driven by Playwright. Each test opens
its own browser contexts (separate cookies and localStorage), so customers and agents are isolated.

Set ``UPDATE_SCREENSHOTS=1`` to refresh docs/images/*.png from these runs.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.server import running_server
from tests.support import (
    FAQ,
    ROOT,
    bearer,
    chromium,
    console_sign_in,
    conv_headers,
    personal_tokens,
    seed_state,
    server_env,
)
from tests.support import (
    ask as api_ask,
)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

TOKEN = "e2e-token"  # HELPDESK_AGENT_TOKEN: acts as the account `api` (reads; agents act with their own)
ACCOUNTS = {"alice": "alice-pass-123", "bob": "bob-pass-123"}
VIEWPORT = {"width": 1280, "height": 800}
SHOTS = ROOT / "docs" / "images"
XSS = "<img src=x onerror=alert(1)>"
IDENTITY_SECRET = "browser-identity-secret-0123456789abcdef"

expect.set_options(timeout=15_000)


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, shipped_index: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The server's address and personal API tokens of alice and bob (made before it starts)."""
    root = tmp_path_factory.mktemp("browser")
    data = root / "state"
    data.mkdir()
    seed_state(data, shipped_index)
    faq = root / "faq"
    shutil.copytree(FAQ, faq)
    # the tests share this server and resolve handoffs, which recalibrates the desk; pinning the
    # calibration keeps every test's replies independent of the ones that ran before it
    [pinned] = sorted((data / "calibration").glob("*.json"))
    tokens = personal_tokens(data, ACCOUNTS, passwords=ACCOUNTS)
    with running_server(
        data,
        faq,
        token=TOKEN,
        **server_env(
            HELPDESK_CONSOLE_ACCOUNTS=json.dumps(ACCOUNTS),
            HELPDESK_CALIBRATION_FILE=str(pinned),
            HELPDESK_IDENTITY_SECRET=IDENTITY_SECRET,
        ),
    ) as base:
        yield base, tokens


@pytest.fixture(scope="module")
def base_url(served: tuple[str, dict[str, str]]) -> str:
    return served[0]


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Any]:
    """Closed before the server stops, so no open event stream holds up its shutdown."""
    with chromium() as b:
        yield b


@pytest.fixture()
def api(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


@pytest.fixture()
def agents(served: tuple[str, dict[str, str]]) -> Iterator[dict[str, httpx.Client]]:
    """API clients acting as alice and bob (their personal tokens: the acting agent is the token's owner)."""
    base, tokens = served
    clients = {name: httpx.Client(base_url=base, timeout=30, headers=bearer(t)) for name, t in tokens.items()}
    yield clients
    for c in clients.values():
        c.close()


@pytest.fixture()
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/images with UPDATE_SCREENSHOTS=1, else a temporary folder."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        return SHOTS
    return tmp_path


def new_page(browser: Any, locale: str = "en-US") -> Any:
    ctx = browser.new_context(locale=locale, viewport=VIEWPORT)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


# ------------------------------------------------------------------------------------- helpers


def open_widget(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/")
    launcher = page.locator('[data-part="launcher"]')
    expect(launcher).to_be_visible()
    if launcher.get_attribute("aria-expanded") != "true":
        launcher.click()
    expect(page.locator('[data-part="input"]')).to_be_visible()


def ask(page: Any, text: str) -> Any:
    """Send a message from the widget; return the locator of the bot's reply to it."""
    before = page.locator(".row.bot[data-id]").count()
    page.locator('[data-part="input"]').fill(text)
    page.locator('[data-part="input"]').press("Enter")
    replies = page.locator(".row.bot[data-id]")
    expect(replies).to_have_count(before + 1)
    return page.locator(f'.row.bot[data-id="{replies.last.get_attribute("data-id")}"]')


def conversation_id(page: Any) -> str:
    cid = page.evaluate("window.LedgerlyHelpdesk.conversationId")
    assert cid, "the widget has no conversation"
    return str(cid)


def handoff_of(api: httpx.Client, cid: str) -> dict[str, Any]:
    found = [h for h in api.get("/api/agent/handoffs").json() if h["conversation_id"] == cid]
    assert found, f"no active handoff for conversation {cid}"
    return found[0]


def sign_in(page: Any, base_url: str, user: str) -> None:
    console_sign_in(page, base_url, user, ACCOUNTS[user])
    expect(page.locator("#live")).to_have_text("Live")


def shadow_count(page: Any, selector: str) -> int:
    return int(
        page.evaluate(
            "s => document.querySelector('ledgerly-helpdesk').shadowRoot.querySelectorAll(s).length",
            selector,
        )
    )


def rest_mouse(page: Any) -> None:
    page.mouse.move(5, 790)  # no hover effect in screenshots
    page.wait_for_timeout(300)


# --------------------------------------------------------------------------------------- tests


def test_answer_shows_source_and_feedback_is_stored(
    browser: Any, base_url: str, api: httpx.Client, shots: Path
) -> None:
    page = new_page(browser, "en-US")
    open_widget(page, base_url)
    expect(page.locator('[data-action="talk-to-person"]')).to_have_text("Talk to a person")
    expect(page.locator(".row.welcome")).to_contain_text("I'm the Ledgerly assistant")

    answer = ask(page, "The customer's VAT number on my invoice is wrong, how do I fix it?")
    expect(answer.locator('[data-part="source"]')).to_have_text(
        "Source: How do I fix a wrong tax ID or VAT number on an invoice?"
    )
    # markdown is rendered (bold, list), not shown as asterisks
    expect(answer.locator(".bubble strong", has_text="Customers").first).to_be_visible()
    expect(answer.locator(".bubble li").first).to_be_visible()
    assert "**" not in answer.locator(".bubble").inner_text()
    expect(answer.locator('[data-part="feedback"]')).to_contain_text("Did this help?")
    answer.locator('[data-part="feedback"]').scroll_into_view_if_needed()  # show source and feedback
    rest_mouse(page)
    page.screenshot(path=str(shots / "widget-en.png"))

    answer.get_by_role("button", name="No", exact=True).click()
    expect(answer.locator('[data-part="feedback"]')).to_contain_text("Thanks for telling us")
    expect(answer.get_by_role("button", name="No", exact=True)).to_have_count(0)

    second = ask(page, "How do I issue a credit note?")
    expect(second.locator('[data-part="source"]')).to_contain_text("credit note")
    second.get_by_role("button", name="Yes", exact=True).click()
    expect(second.locator('[data-part="feedback"]')).to_contain_text("Thanks for your feedback!")

    messages = api.get(f"/api/conversations/{conversation_id(page)}/messages").json()["messages"]
    assert [(m["role"], m["feedback"]) for m in messages] == [
        ("customer", None),
        ("bot", "no"),
        ("customer", None),
        ("bot", "yes"),
    ]
    assert messages[1]["meta"]["sources"][0]["id"] == "fix-tax-id"
    assert page.errors == []
    page.context.close()


ANSWER_CANDIDATES = [
    "The customer's VAT number on my invoice is wrong, how do I fix it?",
    "How do I issue a credit note?",
    "How do I add a new customer?",
]


def test_not_what_i_asked_hands_the_answer_to_a_person(
    browser: Any, base_url: str, api: httpx.Client, agents: dict[str, httpx.Client]
) -> None:
    # a question the calibrated bot answers outright (probed, so recalibration can't break it)
    probes = [(q, api.post("/api/chat", json={"message": q}).json()["reply"]) for q in ANSWER_CANDIDATES]
    answered = [(q, r["sources"]) for q, r in probes if r["kind"] == "answer"]
    assert answered, f"none of {ANSWER_CANDIDATES} gets an answer any more; pick another"
    question, sources = answered[0]

    page = new_page(browser, "en-US")
    open_widget(page, base_url)
    answer = ask(page, question)
    expect(answer.locator('[data-part="source"]')).to_contain_text(sources[0]["title"])
    feedback = answer.locator('[data-part="feedback"]')
    expect(feedback.get_by_role("button")).to_have_text(["Yes", "No", "Not what I asked"])

    feedback.get_by_role("button", name="Not what I asked").click()
    handoff = page.locator(".row.bot[data-id]").last
    expect(page.locator(".row.bot[data-id]")).to_have_count(2)
    expect(handoff).to_contain_text("passing your question to a person")
    expect(feedback).to_have_text("Thanks — a person will take it from here.")
    expect(feedback.get_by_role("button")).to_have_count(0)
    expect(page.locator('[data-part="handoff-state"]')).to_contain_text("in the queue")
    expect(page.locator('[data-action="talk-to-person"]')).to_be_disabled()

    cid = conversation_id(page)
    transcript = api.get(f"/api/conversations/{cid}/messages").json()
    assert transcript["status"] == "handoff"
    messages = transcript["messages"]
    assert [(m["role"], m["meta"].get("kind"), m["feedback"]) for m in messages] == [
        ("customer", None, None),
        ("bot", "answer", "wrong"),
        ("bot", "handoff", None),
    ]
    assert handoff.get_attribute("data-id") == str(messages[2]["id"])
    ticket = handoff_of(api, cid)
    assert (ticket["status"], ticket["reason"], ticket["question"]) == ("open", "wrong_answer", question)

    # reloaded from the transcript: the answer keeps its "wrong" mark and no buttons, nothing twice
    page.reload()
    launcher = page.locator('[data-part="launcher"]')
    expect(launcher).to_be_visible()
    if launcher.get_attribute("aria-expanded") != "true":
        launcher.click()
    expect(page.locator(".row[data-id]")).to_have_count(len(messages))
    answer = page.locator(f'.row.bot[data-id="{messages[1]["id"]}"]')
    expect(answer.locator('[data-part="feedback"]')).to_have_text("Thanks — a person will take it from here.")
    expect(answer.locator('[data-part="feedback"] button')).to_have_count(0)
    page.evaluate("window.LedgerlyHelpdesk.setLanguage('zh')")
    expect(answer.locator('[data-part="feedback"]')).to_have_text("已转人工，请稍候。")
    assert page.errors == []
    page.context.close()
    agents["bob"].post(f"/api/agent/handoffs/{ticket['id']}/resolve", json={"answer": "Fixed it together."})


CLARIFY_CANDIDATES = [
    "webhook problem",
    "invoice numbering",
    "How do I correct an invoice?",
    "How do I cancel part of an invoice?",
]


def test_clarify_suggestions_and_none_of_these(
    browser: Any, base_url: str, api: httpx.Client, agents: dict[str, httpx.Client]
) -> None:
    # a question the calibrated bot is unsure between entries about (probed, so recalibration can't break it)
    probes = [(q, api.post("/api/chat", json={"message": q}).json()["reply"]) for q in CLARIFY_CANDIDATES]
    clarifying = [(q, r["suggestions"]) for q, r in probes if r["kind"] == "clarify"]
    assert clarifying, f"none of {CLARIFY_CANDIDATES} gets a clarify reply any more; pick another"
    question, suggestions = clarifying[0]

    page = new_page(browser, "en-US")
    open_widget(page, base_url)
    clarify = ask(page, question)
    chips = clarify.locator('[data-part="suggestions"] button')
    expect(chips).to_have_text([s["title"] for s in suggestions] + ["None of these"])
    chips.first.click()
    answer = page.locator(".row.bot[data-id]").last
    expect(answer.locator('[data-part="source"]')).to_have_text(f"Source: {suggestions[0]['title']}")
    expect(page.locator(".row.customer").last).to_have_text(suggestions[0]["title"])
    expect(chips.first).to_be_disabled()  # an answered question cannot be answered twice

    again = ask(page, question)
    again.get_by_role("button", name="None of these").click()
    expect(page.locator(".row.customer").last).to_have_text("None of these")
    expect(page.locator('[data-part="handoff-state"]')).to_contain_text("in the queue")
    messages = api.get(f"/api/conversations/{conversation_id(page)}/messages").json()
    assert messages["status"] == "handoff"
    assert [m["meta"].get("choice") for m in messages["messages"] if m["role"] == "customer"] == [
        None,
        suggestions[0]["id"],
        None,
        "none",
    ]
    page.context.close()
    handoff = handoff_of(api, conversation_id_of(messages))
    assert handoff["reason"] == "clarify_rejected"
    hid = handoff["id"]  # leave the queue tidy for the next tests
    agents["bob"].post(f"/api/agent/handoffs/{hid}/resolve", json={"answer": "Handled by phone."})


def conversation_id_of(transcript: dict[str, Any]) -> str:
    return str(transcript["conversation_id"])


def test_failed_send_shows_an_error_and_keeps_the_text(browser: Any, base_url: str) -> None:
    page = new_page(browser, "en-US")
    open_widget(page, base_url)
    page.route("**/api/chat", lambda route: route.abort())
    box = page.locator('[data-part="input"]')
    box.fill("How do I add a new customer?")
    box.press("Enter")
    error = page.locator('[data-part="error"]')
    expect(error).to_contain_text("Your message could not be sent")
    expect(box).to_have_value("How do I add a new customer?")
    expect(page.locator(".row.customer")).to_have_count(0)

    page.unroute("**/api/chat")
    error.get_by_role("button", name="Try again").click()
    expect(page.locator(".row.customer .bubble")).to_have_text("How do I add a new customer?")
    expect(page.locator(".row.bot[data-id]")).to_have_count(1)
    expect(error).to_be_hidden()
    expect(box).to_have_value("")
    page.context.close()


def test_handoff_agent_claims_replies_live_and_resolves(
    browser: Any, base_url: str, api: httpx.Client
) -> None:
    customer = new_page(browser, "en-US")
    open_widget(customer, base_url)
    reply = ask(customer, "what's the weather in Paris")
    expect(reply).to_contain_text("passing your question to a person")
    banner = customer.locator('[data-part="handoff-state"]')
    expect(banner).to_contain_text("in the queue; a person will reply here")
    expect(customer.locator('[data-action="talk-to-person"]')).to_be_disabled()
    customer.evaluate("window.__sameDocument = true")
    cid = conversation_id(customer)
    hid = handoff_of(api, cid)["id"]

    agent = new_page(browser, "en-US")
    sign_in(agent, base_url, "alice")
    item = agent.locator(f'.qitem[data-handoff="{hid}"]')
    expect(item).to_contain_text("what's the weather in Paris")
    expect(item).to_contain_text("Low confidence")
    expect(item).to_contain_text("English")
    expect(item.locator(".wait")).to_have_text("<1 min")
    expect(item).to_contain_text("Waiting for an agent")
    item.click()
    expect(agent.locator("#detail-question")).to_have_text("what's the weather in Paris")
    expect(agent.locator("#transcript .msg.customer .mtext")).to_have_text("what's the weather in Paris")
    expect(agent.locator("#transcript .msg.bot .mtext")).to_contain_text("passing your question")
    expect(agent.locator("#why")).to_contain_text("Low confidence")
    expect(agent.locator("#why-question")).to_have_text("what's the weather in Paris")
    expect(agent.locator("#candidates tbody tr").first).to_be_visible()
    assert agent.locator("#candidates tbody tr").count() >= 3
    expect(agent.locator("#similar")).to_contain_text("Similar resolved tickets")

    agent.locator("#claim").click()
    expect(agent.locator("#owner")).to_have_text("You're handling this")
    expect(item).to_contain_text("Yours")
    agent.locator("#reply-text").fill("Hello from Alice")
    agent.locator("#reply-send").click()
    expect(agent.locator("#transcript .msg.agent .mtext")).to_have_text("Hello from Alice")

    # the customer sees it live, without reloading
    expect(customer.locator(".row.agent .bubble")).to_have_text("Hello from Alice")
    expect(customer.locator(".row.agent .who")).to_contain_text("alice")
    expect(banner).to_have_text("alice has joined")
    assert customer.evaluate("window.__sameDocument === true")

    # the customer writes on; the agent sees it live (the bot stays quiet)
    customer.locator('[data-part="input"]').fill("Thanks! Is it sunny?")
    customer.locator('[data-part="input"]').press("Enter")
    expect(customer.locator(".row.customer").last).to_have_text("Thanks! Is it sunny?")
    expect(agent.locator("#transcript .msg.customer .mtext").last).to_have_text("Thanks! Is it sunny?")

    # resolve with a proposed FAQ entry, answer sent to the customer
    agent.locator("#resolve-open").click()
    dialog = agent.locator("#resolve-dialog")
    expect(dialog).to_be_visible()
    expect(agent.locator("#resolve-answer")).to_have_value("Hello from Alice")
    expect(agent.locator("#resolve-faq option").nth(2)).to_be_attached()  # filled from /api/agent/faq
    agent.locator("#resolve-answer").fill("We only help with Ledgerly, but it is sunny in Paris today!")
    dialog.locator('input[value="draft"]').check()
    agent.locator("#draft-title").fill("Do you answer questions about the weather?")
    agent.locator("#draft-answer").fill("No: the Ledgerly helpdesk only answers questions about Ledgerly.")
    agent.locator("#resolve-submit").click()
    expect(dialog).to_have_count(0)
    expect(agent.locator("#owner")).to_have_text("Resolved by alice")
    expect(agent.locator("#reply-send")).to_be_disabled()
    expect(item).to_have_count(0)  # gone from the active queue

    expect(customer.locator(".row.agent .bubble").last).to_have_text(
        "We only help with Ledgerly, but it is sunny in Paris today!"
    )
    expect(customer.locator('[data-part="resolved-note"]')).to_contain_text("alice marked this conversation")
    expect(banner).to_be_hidden()
    expect(customer.locator('[data-action="talk-to-person"]')).to_be_enabled()

    resolved = [h for h in api.get("/api/agent/handoffs?status=resolved").json() if h["id"] == hid]
    assert resolved and resolved[0]["claimed_by"] == "alice"
    assert resolved[0]["resolution_answer"].startswith("We only help with Ledgerly")
    assert customer.errors == [] and agent.errors == []
    customer.context.close()
    agent.context.close()


def test_console_live_queue_and_taken_by_another_agent(
    browser: Any, base_url: str, api: httpx.Client, agents: dict[str, httpx.Client], shots: Path
) -> None:
    agent = new_page(browser, "en-US")
    agent.goto(f"{base_url}/console")
    agent.locator("#username").fill("alice")
    agent.locator("#password").fill("not-her-password")
    agent.locator("#signin-button").click()
    expect(agent.locator("#signin-error")).to_have_text("Wrong username or password.")
    expect(agent.locator("#app")).to_be_hidden()
    sign_in(agent, base_url, "alice")

    # new handoffs appear in the open console without a reload
    zh = api.post("/api/chat", json={"message": "客户说收到的电子发票打不开，是乱码"}).json()
    assert zh["reply"]["kind"] == "handoff"
    zh_id = handoff_of(api, zh["conversation_id"])["id"]
    expect(agent.locator(f'.qitem[data-handoff="{zh_id}"]')).to_contain_text("中文")
    first = api_ask(api, "Our auditor wants all invoices from 2019 as one zip with the XML files")
    if first["reply"]["kind"] != "handoff":  # the calibration may answer it: then it was not what they asked
        r = api.post(f"/api/messages/{first['message_id']}/not-what-i-asked", headers=conv_headers(first["conversation_id"]))
        assert r.status_code == 200, r.text
    hid = handoff_of(api, first["conversation_id"])["id"]
    item = agent.locator(f'.qitem[data-handoff="{hid}"]')
    expect(item).to_contain_text("auditor wants all invoices from 2019")
    item.click()
    expect(agent.locator("#transcript .msg.customer .mtext").first).to_have_text(
        "Our auditor wants all invoices from 2019 as one zip with the XML files"
    )
    expect(agent.locator("#candidates tbody tr").first).to_contain_text("invoice PDFs")
    score = agent.locator("#candidates tbody tr").first.locator("td.n").first.inner_text()
    assert float(score) == pytest.approx(first_score(api, hid), abs=0.01)
    agent.locator("#reply-text").fill(
        "Hi! Go to Invoices › Export, choose 2019 and tick “Include e-invoice XML”; you'll get one zip."
    )
    agent.locator("#reply-send").click()  # replying claims an open handoff
    expect(agent.locator("#owner")).to_have_text("You're handling this")
    agent.locator("#transcript .msg.agent").wait_for()
    rest_mouse(agent)
    agent.screenshot(path=str(shots / "console.png"))

    # someone else claims the next one while alice is looking at it
    other = api.post("/api/chat", json={"message": "I want to talk to a human"}).json()
    other_id = handoff_of(api, other["conversation_id"])["id"]
    other_item = agent.locator(f'.qitem[data-handoff="{other_id}"]')
    expect(other_item).to_contain_text("Asked for a person")
    other_item.click()
    expect(agent.locator("#claim")).to_be_enabled()
    r = agents["bob"].post(f"/api/agent/handoffs/{other_id}/claim", json={})
    assert r.status_code == 200
    expect(agent.locator("#owner")).to_have_text("Taken by bob")
    expect(agent.locator("#claim")).to_have_count(0)
    expect(agent.locator("#reply-send")).to_be_disabled()
    expect(agent.locator("#reply-text")).to_be_disabled()
    expect(other_item).to_contain_text("Taken by bob")

    # filters: the Chinese queue lists only the Chinese handoff
    agent.locator("#filter-lang").select_option("zh")
    expect(agent.locator(f'.qitem[data-handoff="{other_id}"]')).to_have_count(0)
    expect(agent.locator(f'.qitem[data-handoff="{zh_id}"]')).to_have_count(1)
    agent.locator("#filter-lang").select_option("")
    agent.locator("#filter-status").select_option("claimed")
    expect(agent.locator(f'.qitem[data-handoff="{other_id}"]')).to_have_count(1)
    agent.locator("#filter-status").select_option("open")
    expect(agent.locator(f'.qitem[data-handoff="{other_id}"]')).to_have_count(0)

    agent.locator("#signout").click()
    expect(agent.locator("#signin-form")).to_be_visible()
    agent.reload()
    expect(agent.locator("#signin-form")).to_be_visible()  # the session cookie is gone
    assert agent.errors == []
    agent.context.close()


def first_score(api: httpx.Client, hid: int) -> float:
    return float(api.get(f"/api/agent/handoffs/{hid}").json()["candidates"][0]["score"])


def test_reload_keeps_the_conversation_without_duplicates(
    browser: Any, base_url: str, api: httpx.Client, agents: dict[str, httpx.Client]
) -> None:
    page = new_page(browser, "en-US")
    open_widget(page, base_url)
    ask(page, "How do I issue a credit note?")
    page.locator('[data-action="talk-to-person"]').click()
    expect(page.locator('[data-part="handoff-state"]')).to_contain_text("in the queue; a person will reply here")
    cid = conversation_id(page)
    hid = handoff_of(api, cid)["id"]
    agents["bob"].post(f"/api/agent/handoffs/{hid}/reply", json={"text": "Bob here, happy to help."})
    expect(page.locator(".row.agent .bubble")).to_have_text("Bob here, happy to help.")

    stored = page.evaluate("Object.values(localStorage).map(v => JSON.parse(v))")
    agent_id = api.get(f"/api/conversations/{cid}/messages").json()["messages"][-1]["id"]
    token = stored[0].get("token") if stored else None
    assert token and stored == [{"conversation_id": cid, "token": token, "last_id": agent_id}]
    # what the widget keeps is the conversation's credential: it reads the transcript, no agent needed
    mine = httpx.get(f"{base_url}/api/conversations/{cid}/messages", headers={"X-Conversation-Token": token})
    assert mine.status_code == 200 and mine.json()["messages"][-1]["id"] == agent_id

    page.reload()
    launcher = page.locator('[data-part="launcher"]')
    expect(launcher).to_be_visible()
    if launcher.get_attribute("aria-expanded") != "true":
        launcher.click()
    transcript = api.get(f"/api/conversations/{cid}/messages").json()["messages"]
    assert [m["role"] for m in transcript] == ["customer", "bot", "customer", "bot", "agent"]
    rows = page.locator(".row[data-id]")
    expect(rows).to_have_count(len(transcript))
    for m in transcript:
        expect(page.locator(f'.row[data-id="{m["id"]}"]')).to_have_count(1)
    expect(page.locator(".row.customer").nth(1)).to_have_text("I'd like to talk to a person")
    expect(page.locator('[data-part="handoff-state"]')).to_have_text("bob has joined")
    assert conversation_id(page) == cid

    # the stream resumes after the last message: a new reply shows once, nothing older repeats
    agents["bob"].post(f"/api/agent/handoffs/{hid}/reply", json={"text": "Anything else?"})
    expect(page.locator(".row.agent .bubble")).to_have_text(["Bob here, happy to help.", "Anything else?"])
    page.wait_for_timeout(1000)
    expect(rows).to_have_count(len(transcript) + 1)
    ids = page.evaluate(
        "[...document.querySelector('ledgerly-helpdesk').shadowRoot.querySelectorAll('.row[data-id]')]"
        ".map(e => e.dataset.id)"
    )
    assert len(ids) == len(set(ids))
    assert page.errors == []
    page.context.close()


def test_html_in_messages_stays_text(
    browser: Any, base_url: str, api: httpx.Client, agents: dict[str, httpx.Client]
) -> None:
    dialogs: list[str] = []
    customer = new_page(browser, "en-US")
    customer.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_widget(customer, base_url)
    ask(customer, XSS)
    expect(customer.locator(".row.customer .bubble").first).to_have_text(XSS)
    cid = conversation_id(customer)
    if api.get(f"/api/conversations/{cid}/messages").json()["status"] != "handoff":
        customer.locator('[data-action="talk-to-person"]').click()
        expect(customer.locator('[data-part="handoff-state"]')).to_be_visible()
    hid = handoff_of(api, cid)["id"]
    agent_html = "<b>bold</b><img src=y onerror=alert(2)><script>alert(3)</script>"
    agents["bob"].post(f"/api/agent/handoffs/{hid}/reply", json={"text": agent_html})
    expect(customer.locator(".row.agent .bubble")).to_have_text(agent_html)
    assert shadow_count(customer, "img, script, [onerror]") == 0
    customer.reload()  # the same texts rendered again from the stored transcript
    if customer.locator('[data-part="launcher"]').get_attribute("aria-expanded") != "true":
        customer.locator('[data-part="launcher"]').click()
    expect(customer.locator(".row.customer .bubble").first).to_have_text(XSS)
    expect(customer.locator(".row.agent .bubble")).to_have_text(agent_html)
    assert shadow_count(customer, "img, script, [onerror]") == 0

    # the markdown renderer escapes first and links only http(s)
    html = customer.evaluate(
        "t => window.LedgerlyHelpdesk.renderMarkdown(t)",
        '**x** <img src=x onerror=alert(1)> [a](javascript:alert(1)) [b](https://ok.example/?a=1&b="2")',
    )
    assert "<img" not in html and "&lt;img" in html and "<strong>x</strong>" in html
    # the quotes of the URL are percent-encoded (markdown-it's normalizeLink): they cannot end the attribute
    assert 'href="javascript' not in html and '<a href="https://ok.example/?a=1&amp;b=%222%22"' in html

    agent = new_page(browser, "en-US")
    agent.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(agent, base_url, "alice")
    item = agent.locator(f'.qitem[data-handoff="{hid}"]')
    expect(item).to_be_visible()
    item.click()
    expect(agent.locator("#transcript .msg.customer .mtext").first).to_have_text(XSS)
    expect(agent.locator("#transcript .msg.agent .mtext")).to_have_text(agent_html)
    if handoff_of(api, cid)["question"] == XSS:
        expect(item.locator(".qq")).to_have_text(XSS)
        expect(agent.locator("#detail-question")).to_have_text(XSS)
    assert agent.locator("#transcript img, #transcript script, #transcript [onerror]").count() == 0
    assert agent.locator("img").count() == 0
    agent.wait_for_timeout(300)
    assert dialogs == []
    assert customer.errors == [] and agent.errors == []
    customer.context.close()
    agent.context.close()


def test_chinese_widget(browser: Any, base_url: str, shots: Path) -> None:
    page = new_page(browser, "zh-CN")
    page.goto(f"{base_url}/")
    launcher = page.locator('[data-part="launcher"]')
    expect(launcher).to_have_attribute("aria-label", "打开 Ledgerly 在线客服")
    launcher.click()
    expect(page.locator(".title")).to_have_text("Ledgerly 在线客服")
    expect(page.locator('[data-action="talk-to-person"]')).to_have_text("转人工")
    expect(page.locator('[data-part="input"]')).to_have_attribute("placeholder", "请输入您的问题…")
    expect(page.locator(".row.welcome")).to_contain_text("您好！我是 Ledgerly 智能助手")

    answer = ask(page, "怎么开红字发票")
    expect(answer.locator('[data-part="source"]')).to_contain_text("来源：")
    expect(answer.locator('[data-part="source"]')).to_contain_text("红字发票")
    expect(answer.locator(".bubble")).to_contain_text("红字发票信息确认单")
    expect(answer.locator('[data-part="feedback"]')).to_contain_text("这个回答有帮助吗？")
    expect(answer.get_by_role("button", name="有帮助")).to_be_visible()
    rest_mouse(page)
    page.screenshot(path=str(shots / "widget-zh.png"))

    # the page can switch the widget's language; every string follows
    page.evaluate("window.LedgerlyHelpdesk.setLanguage('en')")
    expect(page.locator('[data-action="talk-to-person"]')).to_have_text("Talk to a person")
    expect(answer.locator('[data-part="source"]')).to_contain_text("Source:")
    page.evaluate("window.LedgerlyHelpdesk.setLanguage('zh')")
    expect(page.locator('[data-part="feedback"]').last).to_contain_text("这个回答有帮助吗？")

    page.locator('[data-action="talk-to-person"]').click()
    expect(page.locator(".row.customer").last).to_have_text("转人工")
    expect(page.locator('[data-part="handoff-state"]')).to_contain_text("人工客服会在这里回复您")
    assert page.errors == []
    page.context.close()


def host_page(page: Any, base_url: str, customer_token: str) -> None:
    """A page of the invoice app (served by the test, on the desk's origin) embedding the widget for a
    signed-in customer, as the app would: ``data-customer-token``."""
    html = (
        "<!doctype html><html><body><h1>Invoices</h1>"
        f'<script src="{base_url}/widget.js" data-lang="en" data-customer-token="{customer_token}"></script>'
        "</body></html>"
    )
    page.route(f"{base_url}/host.html", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.goto(f"{base_url}/host.html")


def test_a_signed_in_customer_finds_their_conversation_on_another_device(browser: Any, base_url: str) -> None:
    import time

    import jwt

    now = int(time.time())
    token = jwt.encode({"sub": "cust-7", "name": "Li Wei", "iat": now, "exp": now + 600}, IDENTITY_SECRET, "HS256")
    laptop = new_page(browser)
    host_page(laptop, base_url, token)
    laptop.locator('[data-part="launcher"]').click()
    ask(laptop, "How do I reset my password?")
    cid = conversation_id(laptop)
    phone = new_page(browser)  # another browser profile: nothing in its storage
    host_page(phone, base_url, token)
    phone.locator('[data-part="launcher"]').click()
    expect(phone.locator(".row.customer .bubble").first).to_have_text("How do I reset my password?")
    assert conversation_id(phone) == cid
    stranger = new_page(browser)  # someone else's identity sees nothing of it
    other = jwt.encode({"sub": "cust-8", "iat": now, "exp": now + 600}, IDENTITY_SECRET, "HS256")
    host_page(stranger, base_url, other)
    stranger.locator('[data-part="launcher"]').click()
    expect(stranger.locator('[data-part="input"]')).to_be_visible()
    assert stranger.locator(".row.customer").count() == 0
    assert not laptop.errors and not phone.errors and not stranger.errors
