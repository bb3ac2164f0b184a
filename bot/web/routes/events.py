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

from bot.web.deps import (
    MAX_ID,
    AgentAuth,
    ConversationId,
    CustomerDep,
    ServicesDep,
    TokenDep,
    conversation_access,
    is_agent,
)
from bot.web.errors import responses
from bot.web.routes.agent import handoffs_out
from bot.web.routes.chat import message_out
from escalation.events import Event, EventKind, LocalBus
from escalation.models import HandoffStatus

router = APIRouter(tags=["live"])

PING_SECONDS = 15.0
RECHECK_SECONDS = 30.0  # a safety net: re-read even without an event (e.g. a listener reconnecting)
STREAM_SECONDS = 300.0
MAX_QUEUE = 500  # a stream's first read: the oldest active handoffs (the console pages the rest)  # the browser reconnects by itself, resuming from Last-Event-ID
SSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}, "description": "A stream of Server-Sent Events."}}


class Wakeup:
    """An asyncio wake-up set from any thread by the events ``wanted`` selects; keeps their handoff ids."""

    def __init__(self, bus: LocalBus, wanted: Callable[[Event], bool]) -> None:
        self._loop = asyncio.get_running_loop()
        self._flag = asyncio.Event()
        self.handoffs: set[int] = set()  # handoffs changed since the last take_handoffs()

        def on_event(event: Event) -> None:
            if wanted(event):
                if event.handoff_id is not None:
                    self._loop.call_soon_threadsafe(self.handoffs.add, event.handoff_id)
                self._loop.call_soon_threadsafe(self._flag.set)

        self.close = bus.subscribe(on_event)

    def take_handoffs(self) -> set[int]:
        taken, self.handoffs = self.handoffs, set()
        return taken

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flag.wait(), timeout)
        self._flag.clear()


async def _stream(
    request: Request,
    bus: LocalBus,
    wanted: Callable[[Event], bool],
    step: Callable[[set[int] | None], list[ServerSentEvent]],
) -> AsyncIterator[ServerSentEvent]:
    """Send what ``step`` (run in a thread) returns now and after each wanted event; end after a while.

    ``step`` gets the ids of the handoffs the events since its last call named (None: re-read all,
    at the start and at the periodic safety-net re-read)."""
    wake = Wakeup(bus, wanted)  # subscribed before the first read: nothing falls in between
    started = time.monotonic()
    changed: set[int] | None = None
    try:
        yield ServerSentEvent(retry=1000)
        while time.monotonic() - started < STREAM_SECONDS and not await request.is_disconnected():
            for event in await run_in_threadpool(step, changed):
                yield event
            before = time.monotonic()
            await wake.wait(min(RECHECK_SECONDS, STREAM_SECONDS - (time.monotonic() - started)))
            changed = wake.take_handoffs()
            if not changed and time.monotonic() - before >= RECHECK_SECONDS - 0.01:
                changed = None  # nothing woke us: the periodic full re-read
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
    responses={**SSE, **responses(401, 404, 422)},
)
async def conversation_events(
    conversation_id: ConversationId,
    request: Request,
    services: ServicesDep,
    token: TokenDep,
    customer: CustomerDep,
    after: int = Query(0, ge=0, le=MAX_ID, description="Resume after this message id."),
    last_event_id: str | None = Header(None, max_length=20),
) -> EventSourceResponse:
    """`message` events (customer, bot and agent messages after `after`) and `state` events.

    Needs the conversation's token (`?token=`, since EventSource cannot send headers), its verified
    customer, or an agent credential."""
    conv = await run_in_threadpool(conversation_access, conversation_id, request, services, token, customer)
    conversations = services.storage.conversations
    customer_side = not await run_in_threadpool(is_agent, request, services)
    resume = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    cursor = {"after": min(max(after, resume), MAX_ID)}
    seen_state: dict[str, str] = {}

    def step(_: set[int] | None) -> list[ServerSentEvent]:
        out = []
        for m in conversations.messages(conv.id, cursor["after"]):
            out.append(ServerSentEvent(_data(message_out(m).model_dump()), event="message", id=str(m.id)))
            cursor["after"] = m.id
        if out and customer_side:  # the customer's widget shows them: no need to mail them
            conversations.mark_seen(conv.id, cursor["after"])
        state = services.chat.state(conv.id)
        encoded = json.dumps(state, sort_keys=True)
        if encoded != seen_state.get("s"):
            seen_state["s"] = encoded
            out.append(ServerSentEvent(_data(state), event="state"))
        return out

    return _response(_stream(request, services.storage.bus, lambda e: e.conversation_id == conv.id, step))


@router.get("/api/agent/events", dependencies=[AgentAuth], response_class=EventSourceResponse, responses=SSE)
async def queue_events(request: Request, services: ServicesDep) -> EventSourceResponse:
    """Deltas of the queue: a `handoff` event with each handoff that changed (opened, claimed, replied,
    resolved), never the whole queue. Open the stream, then page `GET /api/agent/handoffs`: the first
    event, `ready`, says the stream is listening. An `incidents` event carries the open (suspected or
    confirmed) incidents whenever they changed (one opened, confirmed, dismissed, resolved, linked), as
    `GET /api/agent/incidents` lists them."""
    from bot.web.routes.incidents import open_incidents

    sent: dict[int, str] = {}
    started = {"done": False}
    incidents_sent = {"data": "[]"}  # none open: nothing to say (the console reads the list at start)

    def incidents_step() -> list[ServerSentEvent]:
        data = _data([i.model_dump() for i in open_incidents(services)])
        if data == incidents_sent["data"]:
            return []
        incidents_sent["data"] = data
        return [ServerSentEvent(data, event="incidents")]

    def step(changed: set[int] | None) -> list[ServerSentEvent]:
        if changed is not None and not changed:  # woken by an incident only
            return incidents_step()
        return handoff_step(changed) + incidents_step()

    def handoff_step(changed: set[int] | None) -> list[ServerSentEvent]:
        if changed is None:  # start, or the periodic re-read: what differs from what this stream knows
            found = services.storage.handoffs.find(active=True, limit=MAX_QUEUE)
            if not started["done"]:
                started["done"] = True
                sent.update((h.id, _data(o.model_dump())) for h, o in zip(found, handoffs_out(services, found), strict=True))
                return [ServerSentEvent(_data({"active": len(found)}), event="ready")]
        else:
            found = services.storage.handoffs.find(ids=changed)
        out = []
        for h, o in zip(found, handoffs_out(services, found), strict=True):
            data = _data(o.model_dump())
            if sent.get(h.id) != data:
                sent[h.id] = data
                out.append(ServerSentEvent(data, event="handoff", id=str(h.id)))
            if h.status == HandoffStatus.RESOLVED:
                sent.pop(h.id, None)
        return out

    incident_kinds = {EventKind.INCIDENT_SUSPECTED, EventKind.INCIDENT_CHANGED}
    return _response(
        _stream(request, services.storage.bus, lambda e: e.handoff_id is not None or e.kind in incident_kinds, step)
    )
