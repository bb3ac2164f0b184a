"""SSE streams against a real server: agent replies reach the customer live; resume after a drop."""

import json
import shutil
import threading
from pathlib import Path

import httpx

from bench.server import running_server
from tests.support import FAQ, bearer, personal_tokens, server_env

H = {"Authorization": "Bearer e2e-token"}  # HELPDESK_AGENT_TOKEN: acts as the account `api`


def read_events(
    client: httpx.Client, url: str, want: int, headers: dict | None = None, params: dict | None = None
) -> list[tuple[str, dict, str]]:
    events: list[tuple[str, dict, str]] = []
    with client.stream("GET", url, headers=headers or {}, params=params, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event, data, eid = "", "", ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line.startswith("id: "):
                eid = line[4:]
            elif line == "" and event:
                events.append((event, json.loads(data), eid))
                event, data, eid = "", "", ""
                if sum(1 for e in events if e[0] == "message") >= want:
                    break
    return events


def test_agent_reply_arrives_live_and_resume_has_no_duplicates(tmp_path: Path, data_dir: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(FAQ, faq)
    alice = bearer(personal_tokens(data_dir, ["alice"])["alice"])
    with running_server(data_dir, faq, **server_env()) as base, httpx.Client(base_url=base, timeout=30) as c:
        first = c.post("/api/chat", json={"message": "I want to talk to a human"}).json()
        cid = first["conversation_id"]
        customer = {"token": first["conversation_token"]}  # EventSource cannot send headers
        hid = c.get("/api/agent/handoffs", headers=H).json()[0]["id"]
        # the stream is the customer's: without the conversation's token, or with another one, it is refused
        assert c.get(f"/api/conversations/{cid}/events").status_code == 401
        assert c.get(f"/api/conversations/{cid}/events", params={"token": "not-the-token"}).status_code == 404

        def agent_replies() -> None:
            c2 = httpx.Client(base_url=base, timeout=30)
            c2.post(
                f"/api/agent/handoffs/{hid}/reply",
                headers=alice,
                json={"text": "Hi, Alice here."},
            )

        timer = threading.Timer(1.0, agent_replies)
        timer.start()
        events = read_events(c, f"/api/conversations/{cid}/events", want=3, params=customer)
        timer.join()
        msgs = [e[1] for e in events if e[0] == "message"]
        assert [m["role"] for m in msgs] == ["customer", "bot", "agent"] and msgs[2][
            "text"
        ] == "Hi, Alice here."
        states = [e[1] for e in events if e[0] == "state"]
        assert states[0]["status"] == "handoff" and states[0]["handoff"]["wait"]["open"] is True

        # resume after the second message, as a reconnecting browser does with Last-Event-ID
        resumed = read_events(
            c,
            f"/api/conversations/{cid}/events",
            want=1,
            headers={"Last-Event-ID": str(msgs[1]["id"])},
            params=customer,
        )
        again = [e[1] for e in resumed if e[0] == "message"]
        assert [m["id"] for m in again] == [msgs[2]["id"]]
        assert resumed[-1][2] == str(msgs[2]["id"])


def test_queue_stream_needs_auth_and_lists_handoffs(tmp_path: Path, data_dir: Path) -> None:
    """The queue stream says `ready`, then sends each handoff that changes (deltas, never the whole
    queue); what was there before it opened is paged from GET /api/agent/handoffs."""
    faq = tmp_path / "faq"
    shutil.copytree(FAQ, faq)
    with running_server(data_dir, faq, **server_env()) as base, httpx.Client(base_url=base, timeout=30) as c:
        assert c.get("/api/agent/events").status_code == 401
        before = c.post("/api/chat", json={"message": "转人工"}).json()
        events: list[tuple[str, dict]] = []
        with c.stream("GET", "/api/agent/events", headers=H) as r:
            event = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    events.append((event, json.loads(line[6:])))
                    if event == "ready":  # listening: a handoff opened now arrives as a delta
                        c.post("/api/chat", json={"message": "I want to talk to a human"})
                    elif event == "handoff":
                        break
        assert [e for e, _ in events] == ["ready", "handoff"] and events[0][1] == {"active": 1}
        handoff = events[1][1]
        assert handoff["reason"] == "customer_request" and handoff["lang"] == "en" and handoff["status"] == "open"
        page = c.get("/api/agent/handoffs", headers=H, params={"limit": 1})
        assert page.headers["X-Total-Count"] == "2" and page.headers["X-Next-After"] == str(page.json()[0]["id"])
        queue = page.json()
        assert queue[0]["conversation_id"] == before["conversation_id"]
        assert queue[0]["reason"] == "customer_request" and queue[0]["lang"] == "zh"
        rest = c.get("/api/agent/handoffs", headers=H, params={"limit": 1, "after": page.headers["X-Next-After"]})
        assert [h["id"] for h in rest.json()] == [handoff["id"]] and "X-Next-After" not in rest.headers


def test_shutdown_ends_open_streams(tmp_path: Path, data_dir: Path) -> None:
    """SIGTERM with a console stream connected: the stream ends and the server stops, no hang."""
    import os
    import signal
    import time

    faq = tmp_path / "faq"
    shutil.copytree(FAQ, faq)
    with running_server(data_dir, faq, **server_env()) as base, httpx.Client(base_url=base, timeout=30) as c:
        with c.stream("GET", "/api/agent/events", headers=H) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("retry")
            os.kill(int((data_dir / "server.pid").read_text()), signal.SIGTERM)
            started = time.monotonic()
            try:
                for _ in lines:  # ready event, pings: until the server closes the stream
                    assert time.monotonic() - started < 10
            except httpx.RemoteProtocolError:  # closed mid-stream by the stopping server: also an end
                pass
        assert time.monotonic() - started < 10
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/api/health", timeout=1)
            except httpx.HTTPError:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the server still answers 10 s after SIGTERM")
