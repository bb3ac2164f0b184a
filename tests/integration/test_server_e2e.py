"""The issue's "done when", against a real `helpdesk serve` over HTTP."""

import shutil
import time
from pathlib import Path

import httpx

from bench.server import running_server
from tests.support import FAQ, bearer, personal_tokens, server_env

H = {"Authorization": "Bearer e2e-token"}  # HELPDESK_AGENT_TOKEN: acts as the account `api`


def test_done_when_over_real_http(tmp_path: Path, data_dir: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(FAQ, faq)
    alice = bearer(personal_tokens(data_dir, ["alice"])["alice"])
    with running_server(data_dir, faq, **server_env()) as base, httpx.Client(base_url=base, timeout=30) as c:
        assert c.get("/docs").status_code == 200
        r = c.post("/api/chat", json={"message": "怎么开红字发票"}).json()["reply"]
        assert r["kind"] == "answer" and r["sources"][0]["id"] in {"red-letter-invoice", "credit-note"}
        r = c.post("/api/chat", json={"message": "The customer's VAT number on my invoice is wrong, how do I fix it?"}).json()["reply"]
        assert r["kind"] == "answer" and r["sources"][0]["id"] == "fix-tax-id"

        weather = c.post("/api/chat", json={"message": "what's the weather in Paris"}).json()
        assert weather["reply"]["kind"] == "handoff"
        handoffs = c.get("/api/agent/handoffs", headers=H).json()
        hid = next(h["id"] for h in handoffs if h["conversation_id"] == weather["conversation_id"])
        assert c.post(f"/api/agent/handoffs/{hid}/claim", headers=alice, json={}).status_code == 200
        assert (
            c.post(
                f"/api/agent/handoffs/{hid}/reply",
                headers=alice,
                json={"text": "I can't see the sky from here, sorry!"},
            ).status_code
            == 200
        )
        res = c.post(
            f"/api/agent/handoffs/{hid}/resolve",
            headers=alice,
            json={"answer": "Out of scope.", "reply_to_customer": False},
        )
        assert res.json()["handoff"]["status"] == "resolved"
        assert res.json()["handoff"]["claimed_by"] == "alice"
        customer = {"X-Conversation-Token": weather["conversation_token"]}
        t = c.get(f"/api/conversations/{weather['conversation_id']}/messages", headers=customer).json()["messages"]
        assert t[-1]["role"] == "agent" and "sky" in t[-1]["text"] and t[-1]["author"] == "alice"

        # a broken FAQ file is reported precisely while the service keeps answering
        broken = faq / "zh" / "red-letter-invoice.md"
        broken.write_text(broken.read_text().replace("lang: zh", "lang: cn"))
        deadline = time.monotonic() + 20
        while not c.get("/api/knowledge/status").json()["problems"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        p = c.get("/api/knowledge/status").json()["problems"][0]
        assert (
            p["path"].endswith("zh/red-letter-invoice.md") and p["line"] == 3 and "lang: cn" in p["message"]
        )
        r = c.post("/api/chat", json={"message": "怎么开红字发票"}).json()["reply"]
        assert r["kind"] == "answer" and "红字" in r["text"]
