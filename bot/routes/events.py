"""Live updates over Server-Sent Events: agent replies to the widget, new handoffs to the console.

Events carry the message id as SSE ``id``, so a browser that reconnects (``Last-Event-ID``) or a
widget reloaded with ``?after=<last id>`` resumes exactly after the last message it has.
The stream polls the store, which works the same with one process or several replicas.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from bot.deps import AgentAuth, ServicesDep
from bot.routes.agent import handoff_out
from bot.routes.chat import message_out

router = APIRouter(tags=["live"])

POLL_SECONDS = 0.3
HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 300.0  # the browser reconnects by itself, resuming from Last-Event-ID


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(request: Request, step: Callable[[], Any]) -> AsyncIterator[str]:
    """Call ``step`` (in a thread) every poll; yield what it returns; heartbeat; end after a while."""
    started = last_beat = time.monotonic()
    yield "retry: 1000\n\n"
    while time.monotonic() - started < STREAM_SECONDS:
        if await request.is_disconnected():
            return
        for chunk in await run_in_threadpool(step):
            yield chunk
            last_beat = time.monotonic()
        if time.monotonic() - last_beat > HEARTBEAT_SECONDS:
            yield ": ping\n\n"
            last_beat = time.monotonic()
        await asyncio.sleep(POLL_SECONDS)


def _response(gen: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        gen, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.get("/api/conversations/{conversation_id}/events")
async def conversation_events(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    after: int = Query(0, ge=0, description="Resume after this message id."),
    last_event_id: str | None = Header(None),
) -> StreamingResponse:
    """`message` events (customer, bot and agent messages after `after`) and `state` events."""
    await run_in_threadpool(services.store.get_conversation, conversation_id)  # 404 before streaming
    cursor = {"after": max(after, int(last_event_id) if last_event_id and last_event_id.isdigit() else 0)}
    seen_state: dict[str, str] = {}

    def step() -> list[str]:
        out = []
        for m in services.store.messages(conversation_id, cursor["after"]):
            out.append(_sse("message", message_out(m).model_dump(), m.id))
            cursor["after"] = m.id
        state = services.chat.state(conversation_id)
        encoded = json.dumps(state, sort_keys=True)
        if encoded != seen_state.get("s"):
            seen_state["s"] = encoded
            out.append(_sse("state", state))
        return out

    return _response(_stream(request, step))


@router.get("/api/agent/events", dependencies=[AgentAuth])
async def queue_events(request: Request, services: ServicesDep) -> StreamingResponse:
    """`queue` events with every open or claimed handoff, sent whenever the queue changes."""
    seen: dict[str, str] = {}

    def step() -> list[str]:
        active = [
            handoff_out(h).model_dump() for h in services.store.list_handoffs() if h.status != "resolved"
        ]
        encoded = json.dumps(active, sort_keys=True)
        if encoded == seen.get("q"):
            return []
        seen["q"] = encoded
        return [_sse("queue", active)]

    return _response(_stream(request, step))
