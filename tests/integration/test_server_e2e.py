"""The issue's "done when", against a real `helpdesk serve` over HTTP."""

import shutil
import time
from pathlib import Path

import httpx

from bench.server import running_server
from tests.support import FAQ

H = {"Authorization": "Bearer e2e-token"}


def test_done_when_over_real_http(tmp_path: Path, data_dir: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(FAQ, faq)
    with running_server(data_dir, faq) as base, httpx.Client(base_url=base, timeout=30) as c:
        assert c.get("/docs").status_code == 200
        r = c.post("/api/chat", json={"message": "怎么开红字发票"}).json()["reply"]
        assert r["kind"] == "answer" and r["sources"][0]["id"] in {"red-letter-invoice", "credit-note"}
        r = c.post("/api/chat", json={"message": "The customer's VAT number on my invoice is wrong, how do I fix it?"}).json()["reply"]
        assert r["kind"] == "answer" and r["sources"][0]["id"] == "fix-tax-id"

        weather = c.post("/api/chat", json={"message": "what's the weather in Paris"}).json()
        assert weather["reply"]["kind"] == "handoff"
        handoffs = c.get("/api/agent/handoffs", headers=H).json()
        hid = next(h["id"] for h in handoffs if h["conversation_id"] == weather["conversation_id"])
        assert (
            c.post(f"/api/agent/handoffs/{hid}/claim", headers=H, json={"agent": "alice"}).status_code == 200
        )
        assert (
            c.post(
                f"/api/agent/handoffs/{hid}/reply",
                headers=H,
                json={"agent": "alice", "text": "I can't see the sky from here, sorry!"},
            ).status_code
            == 200
        )
        res = c.post(
            f"/api/agent/handoffs/{hid}/resolve",
            headers=H,
            json={"agent": "alice", "answer": "Out of scope.", "reply_to_customer": False},
        )
        assert res.json()["handoff"]["status"] == "resolved"
        t = c.get(f"/api/conversations/{weather['conversation_id']}/messages").json()["messages"]
        assert t[-1]["role"] == "agent" and "sky" in t[-1]["text"]

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
