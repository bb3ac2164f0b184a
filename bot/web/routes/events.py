"""Live updates over Server-Sent Events: agent replies to the widget, the queue to the console.

Streams wake on the desk's committed events (in-process, or PostgreSQL ``LISTEN/NOTIFY`` from any
replica); nothing polls the tables. An event is only a wake-up: the stream then reads from the
database what it has not sent, so events carry the message id as SSE ``id`` and a browser that
reconnects (``Last-Event-ID``) or a widget reloaded with ``?after=<last id>`` resumes exactly after
the last message it has. ``sse-starlette`` sends the pings and ends every stream when the server
shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from bot.web.deps import AgentAuth, ServicesDep
from bot.web.errors import ERRORS_404
from bot.web.routes.agent import handoff_out
from bot.web.routes.chat import message_out
from escalation.events import Event, LocalBus

router = APIRouter(tags=["live"])

PING_SECONDS = 15.0
RECHECK_SECONDS = 30.0  # a safety net: re-read even without an event (e.g. a listener reconnecting)
STREAM_SECONDS = 300.0  # the browser reconnects by itself, resuming from Last-Event-ID
SSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}, "description": "A stream of Server-Sent Events."}}


class Wakeup:
    """An asyncio wake-up set from any thread by the events ``wanted`` selects."""

    def __init__(self, bus: LocalBus, wanted: Callable[[Event], bool]) -> None:
        self._loop = asyncio.get_running_loop()
        self._flag = asyncio.Event()

        def on_event(event: Event) -> None:
            if wanted(event):
                self._loop.call_soon_threadsafe(self._flag.set)

        self.close = bus.subscribe(on_event)

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flag.wait(), timeout)
        self._flag.clear()


async def _stream(
    request: Request, bus: LocalBus, wanted: Callable[[Event], bool], step: Callable[[], list[ServerSentEvent]]
) -> AsyncIterator[ServerSentEvent]:
    """Send what ``step`` (run in a thread) returns now and after each wanted event; end after a while."""
    wake = Wakeup(bus, wanted)  # subscribed before the first read: nothing falls in between
    started = time.monotonic()
    try:
        yield ServerSentEvent(retry=1000)
        while time.monotonic() - started < STREAM_SECONDS and not await request.is_disconnected():
            for event in await run_in_threadpool(step):
                yield event
            await wake.wait(min(RECHECK_SECONDS, STREAM_SECONDS - (time.monotonic() - started)))
    finally:
        wake.close()


def _response(gen: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    return EventSourceResponse(
        gen, ping=PING_SECONDS, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _data(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@router.get(
    "/api/conversations/{conversation_id}/events",
    response_class=EventSourceResponse,
    responses={**SSE, **ERRORS_404},
)
async def conversation_events(
    conversation_id: str,
    request: Request,
    services: ServicesDep,
    after: int = Query(0, ge=0, description="Resume after this message id."),
    last_event_id: str | None = Header(None),
) -> EventSourceResponse:
    """`message` events (customer, bot and agent messages after `after`) and `state` events."""
    conversations = services.storage.conversations
    await run_in_threadpool(conversations.get, conversation_id)  # 404 before streaming
    cursor = {"after": max(after, int(last_event_id) if last_event_id and last_event_id.isdigit() else 0)}
    seen_state: dict[str, str] = {}

    def step() -> list[ServerSentEvent]:
        out = []
        for m in conversations.messages(conversation_id, cursor["after"]):
            out.append(ServerSentEvent(_data(message_out(m).model_dump()), event="message", id=str(m.id)))
            cursor["after"] = m.id
        state = services.chat.state(conversation_id)
        encoded = json.dumps(state, sort_keys=True)
        if encoded != seen_state.get("s"):
            seen_state["s"] = encoded
            out.append(ServerSentEvent(_data(state), event="state"))
        return out

    return _response(
        _stream(request, services.storage.bus, lambda e: e.conversation_id == conversation_id, step)
    )


@router.get("/api/agent/events", dependencies=[AgentAuth], response_class=EventSourceResponse, responses=SSE)
async def queue_events(request: Request, services: ServicesDep) -> EventSourceResponse:
    """`queue` events with every open or claimed handoff, sent whenever the queue changes."""
    seen: dict[str, str] = {}

    def step() -> list[ServerSentEvent]:
        active = [handoff_out(h).model_dump() for h in services.storage.handoffs.find(active=True)]
        encoded = json.dumps(active, sort_keys=True)
        if encoded == seen.get("q"):
            return []
        seen["q"] = encoded
        return [ServerSentEvent(_data(active), event="queue")]

    return _response(_stream(request, services.storage.bus, lambda e: e.handoff_id is not None, step))
