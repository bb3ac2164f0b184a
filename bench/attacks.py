"""Fault and abuse attacks on a real `helpdesk serve` (localhost only), each reported as a markdown table.

    python -m bench.attacks                      # 20 kill cycles, 4 clients, 30 handoffs x 4 processes
    python -m bench.attacks --cycles 5 --clients 2 --handoffs 10 --processes 4

1. Crash durability: the server is started on the same data directory (SQLite) again and again and
   killed with SIGKILL 0.5-``--seconds-per-cycle`` s after its clients start. Client threads send
   messages with fresh ``client_message_id``s and retry every unacknowledged one with the same id and
   conversation (on an error, a timeout, or after the restart) until it is acknowledged. At the end
   the database is read: every acknowledged message present, no customer text twice, no client id
   twice, no customer message answered twice by the bot.
2. Races from separate processes: K handoffs; P spawned OS processes, each with its own agent token,
   claim every handoff at the same instant (one winner, the others 409), the winner's reply is sent
   from two processes at once with the same ``client_message_id`` (the transcript gets it once), the
   resolve from two processes at once with the same answer (one ticket, one message of the answer),
   while a losing agent tries to reply and resolve (409). Also: a conversation-starting chat message
   sent from two processes at once with the same ``client_message_id``.
3. Rate limits (small limits; two client addresses through X-Forwarded-For from a trusted proxy,
   127.0.0.1): a flood gets 429 with Retry-After in the one error shape while another address is
   unaffected; the handoff limit; wrong passwords for one account from many addresses lock the
   account (the right password too); the per-address sign-in limit; sign-in timing of known vs
   unknown usernames.

Phases 2 and 3 share one server. The data directory gets the index and calibration of ``--seed`` (a
folder holding ``index/`` and ``calibration/``; default: bench/out/attacks-seed, else the test
suite's newest cached copy, else it is built once, which takes minutes). Results also go to
bench/out/attacks.md and .json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.server import ROOT, running_server

OUT = ROOT / "bench" / "out"
FAQ = ROOT / "data" / "faq"
TICKETS = ROOT / "data" / "tickets"
SEED = OUT / "attacks-seed"
TEST_CACHE = Path(os.environ.get("HELPDESK_TEST_CACHE", Path.home() / ".cache" / "invoice-helpdesk" / "tests"))
API_TOKEN = "attack-token"  # HELPDESK_AGENT_TOKEN of the attacked server (account `api`)
REQUEST_TIMEOUT = 15.0

RELAXED = {
    name: "100000/minute"
    for name in (
        "chat_ip", "chat_conversation", "conversation_ip", "handoff_ip", "sign_in_ip", "sign_in_account",
        "sign_in_account_any", "agent_api",
    )
}
# phase 3's limits; chat_conversation / conversation_ip / agent_api stay wide so only the ones measured trip
SMALL = {
    "chat_ip": "20/minute",
    "chat_conversation": "1000/minute",
    "conversation_ip": "1000/10min",
    "handoff_ip": "3/10min",
    "sign_in_ip": "10/15min",
    "sign_in_account": "5/15min",  # failed sign-ins per account and address
    "sign_in_account_any": "8/15min",  # failed sign-ins per account from any address
    "agent_api": "100000/minute",
}

# FAQ questions the desk answers outright (no handoff, so only chat_ip counts in the flood)
ANSWERED = [
    "How do I issue a credit note?",
    "How do I create a new invoice?",
    "How do I download an invoice as a PDF?",
    "How do I export my invoice list to Excel?",
    "How do automatic payment reminders work?",
]
QUESTIONS = [
    "How do I issue a credit note?",
    "Where is the VAT report?",
    "How do I set up webhooks?",
    "I forgot my password and cannot sign in",
    "Can I export the VAT report to Excel?",
    "How do I change the currency of an invoice?",
    "怎么开红字发票",
    "发票抬头写错了怎么办",
    "I want to talk to a human about invoice {n}",
]


# ---------------------------------------------------------------- shared setup


def find_seed(explicit: Path | None = None) -> Path | None:
    """A folder with ``index/`` and ``calibration/`` to copy into fresh data directories."""
    if explicit is not None:
        return explicit
    if (SEED / "index").is_dir() and (SEED / "calibration").is_dir():
        return SEED
    cached = [p for p in TEST_CACHE.glob("shipped-*") if (p / "index").is_dir() and (p / "calibration").is_dir()]
    return max(cached, key=lambda p: p.stat().st_mtime) if cached else None


def build_seed(folder: Path = SEED) -> Path:
    """Index and calibrate the shipped knowledge once, in-process (minutes on 2 cores)."""
    from bot.services import build_services
    from bot.settings import Settings

    state = Path(tempfile.mkdtemp(prefix="attacks-seed-"))
    svc = build_services(Settings(data_dir=state, faq_dir=FAQ, tickets_dir=TICKETS, rate_limits=RELAXED))
    svc.close()
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("index", "calibration"):
        shutil.rmtree(folder / part, ignore_errors=True)
        shutil.copytree(state / part, folder / part, symlinks=True)
    shutil.rmtree(state, ignore_errors=True)
    return folder


def keep_seed(data_dir: Path, folder: Path = SEED) -> Path:
    """Keep a data directory's (current) index and calibration as the seed of later runs."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    shutil.copytree(data_dir / "index", partial / "index", symlinks=True)
    shutil.copytree(data_dir / "calibration", partial / "calibration")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def prepare(work: Path, seed: Path) -> tuple[Path, Path]:
    """A fresh data directory with the seed's index and calibration, and a copy of the FAQ."""
    data, faq = work / "state", work / "faq"
    shutil.rmtree(work, ignore_errors=True)
    data.mkdir(parents=True)
    shutil.copytree(seed / "index", data / "index", symlinks=True)
    shutil.copytree(seed / "calibration", data / "calibration")
    shutil.copytree(FAQ, faq)
    return data, faq


def make_accounts(data_dir: Path, passwords: dict[str, str], tokens_for: Sequence[str] = ()) -> dict[str, str]:
    """Accounts (with these passwords) written into the database before the server starts; personal API
    tokens of ``tokens_for``."""
    from escalation.accounts import Accounts
    from escalation.storage import open_storage

    st = open_storage(None, data_dir, listen=False)
    try:
        acc = Accounts(st.accounts)
        for name, password in passwords.items():
            if acc.person(name) is None:
                acc.add(name, password)
        return {name: acc.create_token(name, "attacks")[1] for name in tokens_for}
    finally:
        st.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forwarded(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


def address(block: int, i: int) -> str:
    """A distinct client address per ``i`` (10.block.x.y)."""
    return f"10.{block}.{i // 250}.{i % 250 + 1}"


def table(title: str, rows: Sequence[tuple[str, Any, str]]) -> str:
    lines = [f"### {title}", "", "| measure | value | expected |", "|---|---|---|"]
    lines += [f"| {k} | {v} | {e} |" for k, v, e in rows]
    return "\n".join(lines) + "\n"


def is_error_shape(body: Any) -> bool:
    """The one error shape: ``{"error": {"code", "message", "details"}}`` and nothing else."""
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(body["error"], dict)
        and set(body["error"]) == {"code", "message", "details"}
        and isinstance(body["error"]["details"], list)
    )


# ---------------------------------------------------------------- 1. crash durability


@dataclass
class Sent:
    client_id: str
    text: str
    conversation_id: str | None  # where it was sent; None: it starts a conversation
    token: str | None
    attempts: int = 0
    acked: bool = False
    replayed: bool = False
    ack_conversation: str | None = None
    ack_message_id: int | None = None
    ack_start: int = -1  # which server start acknowledged it
    refused: str | None = None


class Link:
    """Where the server is (None while it is down), shared by the controller and the client threads."""

    def __init__(self, deadline: float) -> None:
        self.cond = threading.Condition()
        self.base: str | None = None
        self.start = -1  # which server start is up
        self.stopping = False  # finish the pending message, send no new one
        self.aborted = False
        self.deadline = deadline

    def up(self, base: str, start: int) -> None:
        with self.cond:
            self.base, self.start = base, start
            self.cond.notify_all()

    def down(self) -> None:
        with self.cond:
            self.base = None

    def abort(self) -> None:
        with self.cond:
            self.aborted = True
            self.cond.notify_all()

    def wait_up(self) -> tuple[str, int] | None:
        with self.cond:
            while self.base is None and not self.aborted:
                self.cond.wait(0.5)
                if time.monotonic() > self.deadline:
                    self.aborted = True
            return None if self.aborted or self.base is None else (self.base, self.start)


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.samples: list[str] = []

    def add(self, key: str, sample: str | None = None) -> None:
        with self.lock:
            self.counts[key] += 1
            if sample and len(self.samples) < 10:
                self.samples.append(sample)


def _message(rng: random.Random) -> tuple[str, str]:
    uid = uuid.uuid4().hex
    q = rng.choice(QUESTIONS[:-1]) if rng.random() > 0.1 else QUESTIONS[-1]
    return f"atk-{uid}", f"{q.format(n=rng.randint(1, 999))} (ref {uid})"


def customer(link: Link, rng: random.Random, sent: list[Sent], tally: Tally, new_share: float = 0.3) -> None:
    """One client: a message at a time; an unacknowledged one is sent again, same id, same conversation."""
    conv: tuple[str, str] | None = None
    pending: Sent | None = None
    with httpx.Client(timeout=REQUEST_TIMEOUT) as http:
        while True:
            if pending is None:
                if link.stopping or link.aborted:
                    return
                cid, text = _message(rng)
                start = conv is None or rng.random() < new_share
                pending = Sent(cid, text, None if start or conv is None else conv[0], None if start or conv is None else conv[1])
                sent.append(pending)
            up = link.wait_up()
            if up is None:
                return
            base, start = up
            payload: dict[str, Any] = {"message": pending.text, "client_message_id": pending.client_id}
            headers = {}
            if pending.conversation_id is not None and pending.token is not None:
                payload["conversation_id"] = pending.conversation_id
                headers["X-Conversation-Token"] = pending.token
            pending.attempts += 1
            try:
                r = http.post(f"{base}/api/chat", json=payload, headers=headers)
            except httpx.TimeoutException:
                tally.add("timeouts")
                continue
            except httpx.HTTPError:
                tally.add("connection errors")
                time.sleep(0.05)
                continue
            if r.status_code == 200:
                body = r.json()
                pending.acked, pending.replayed = True, bool(body.get("replayed"))
                pending.ack_conversation, pending.ack_message_id = body["conversation_id"], body["customer_message_id"]
                pending.ack_start = start
                conv = (body["conversation_id"], body["conversation_token"])
                pending = None
            elif r.status_code == 429:
                tally.add("429")
                time.sleep(min(float(r.headers.get("Retry-After", "1")), 2.0))
            elif r.status_code >= 500:
                tally.add("5xx", f"{r.status_code} {r.text[:300]}")
                time.sleep(0.1)
            else:  # refused for good: not a durability failure, but reported
                tally.add("4xx", f"{r.status_code} {r.text[:300]} for {payload}")
                pending.refused = f"{r.status_code} {r.text[:200]}"
                pending = None


@dataclass
class Durability:
    cycles: int
    clients: int
    first_start_s: float = 0.0
    startup_s: list[float] = field(default_factory=list)
    alive_s: list[float] = field(default_factory=list)
    warmup_s: list[float] = field(default_factory=list)
    sent: int = 0
    acknowledged: int = 0
    unacknowledged: int = 0
    refused: int = 0
    lost: int = 0
    duplicated: int = 0
    client_ids_twice: int = 0
    answered_twice: int = 0
    retried_messages: int = 0
    retry_attempts: int = 0
    replayed: int = 0
    stored_before_kill: int = 0
    stored_before_kill_replayed: int = 0
    conversations: int = 0
    orphan_conversations: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    lost_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.client_ids_twice == 0
            and self.answered_twice == 0
            and self.unacknowledged == 0
            and self.acknowledged > 0
        )

    def markdown(self) -> str:
        st = self.startup_s or [0.0]
        return table(
            f"1. Crash durability: kill -9 of `helpdesk serve` on one SQLite data dir, {self.clients} retrying clients",
            [
                ("kill -9 cycles (starts)", f"{self.cycles} ({self.cycles + 1})", ">= 20 by default"),
                ("server start, first / median / max", f"{self.first_start_s:.1f} / {statistics.median(st):.1f} / {max(st):.1f} s", ""),
                ("first chat request after a start (warm-up, before the clients), median", f"{statistics.median(self.warmup_s or [0]):.1f} s", ""),
                ("clients running before the kill, median", f"{statistics.median(self.alive_s or [0]):.2f} s", "0.5-3 s"),
                ("messages sent (distinct client ids)", self.sent, ""),
                ("acknowledged", self.acknowledged, ""),
                ("lost (acknowledged, not stored as acknowledged)", self.lost, "0"),
                ("duplicated customer texts", self.duplicated, "0"),
                ("client ids stored more than once", self.client_ids_twice, "0"),
                ("customer messages answered twice by the bot", self.answered_twice, "0"),
                ("never acknowledged", self.unacknowledged, "0"),
                ("refused (4xx)", self.refused, "0"),
                ("retried messages / extra attempts", f"{self.retried_messages} / {self.retry_attempts}", ""),
                ("replayed responses (`replayed: true`)", self.replayed, ""),
                ("retries of a message stored before the kill: all / replayed / answered after the restart", f"{self.stored_before_kill} / {self.stored_before_kill_replayed} / {self.stored_before_kill - self.stored_before_kill_replayed}", ""),
                ("conversations / without any message", f"{self.conversations} / {self.orphan_conversations}", ""),
                ("client-side errors", ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none", ""),
                ("wall time", f"{self.seconds:.0f} s", ""),
            ],
        )


def check_database(data_dir: Path, sent: Sequence[Sent], result: Durability) -> None:
    """What the database holds, against what the clients were told."""
    from escalation.storage import open_storage

    st = open_storage(None, data_dir, listen=False)
    try:
        stored: dict[str, list[Any]] = {}  # client id -> its rows
        with st.db.tx() as tx:  # read-only look at the whole table: messages the clients never heard of count too
            rows = tx.all("SELECT id, conversation_id, text, client_id FROM messages WHERE role = 'customer'")
            bots = tx.all("SELECT meta FROM messages WHERE role = 'bot'")
            orphans = tx.one(
                "SELECT COUNT(*) AS n FROM conversations c WHERE NOT EXISTS "
                "(SELECT 1 FROM messages m WHERE m.conversation_id = c.id)"
            )
            total = tx.one("SELECT COUNT(*) AS n FROM conversations")
        answered = Counter(json.loads(b["meta"] or "{}").get("reply_to") for b in bots)
        answered.pop(None, None)
        for row in rows:
            if row["client_id"]:
                stored.setdefault(row["client_id"], []).append(row)
        texts = Counter(r["text"] for r in rows)
        for s in sent:
            if not s.acked:
                continue
            got = stored.get(s.client_id, [])
            fine = len(got) >= 1 and any(
                r["id"] == s.ack_message_id and r["conversation_id"] == s.ack_conversation and r["text"] == s.text for r in got
            )
            if not fine:
                result.lost += 1
                if len(result.lost_samples) < 5:
                    result.lost_samples.append(f"{s.client_id}: acked {s.ack_conversation}/{s.ack_message_id}, stored {got}")
        result.duplicated = sum(n - 1 for n in texts.values() if n > 1)  # every text carries its own uuid
        result.client_ids_twice = sum(1 for rs in stored.values() if len(rs) > 1)
        result.answered_twice = sum(1 for n in answered.values() if n > 1)
        result.orphan_conversations = int(orphans["n"]) if orphans else 0
        result.conversations = int(total["n"]) if total else 0
    finally:
        st.close()


def last_message_id(data_dir: Path) -> int:
    from escalation.storage import open_storage

    st = open_storage(None, data_dir, migrate=False, listen=False)
    try:
        with st.db.tx() as tx:
            row = tx.one("SELECT MAX(id) AS n FROM messages")
        return int(row["n"] or 0) if row else 0
    finally:
        st.close()


def warm_up(base: str) -> float:
    """One chat request of our own after a start (the first embeds slowly), so that the clients' time
    before the kill is spent answering them."""
    t = time.monotonic()
    with suppress(httpx.HTTPError):
        httpx.post(f"{base}/api/chat", json={"message": f"How do I issue a credit note? (warm-up {uuid.uuid4().hex})"}, timeout=60)
    return time.monotonic() - t


def run_durability(
    data_dir: Path,
    faq_dir: Path,
    cycles: int = 20,
    clients: int = 4,
    seconds_per_cycle: float = 3.0,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> Durability:
    """``cycles`` kills with SIGKILL, then one last start in which every client's pending message is
    acknowledged; then the database is checked against the acknowledgements."""
    rng = random.Random(seed)
    result = Durability(cycles, clients)
    began = time.monotonic()
    link = Link(deadline=began + 60 * (cycles + 2))
    tally = Tally()
    sent: list[Sent] = []
    last_ids: list[int] = []  # the largest message id when each server life ended
    threads = [
        threading.Thread(target=customer, args=(link, random.Random(seed * 1000 + i), sent, tally), daemon=True)
        for i in range(clients)
    ]
    env = {"HELPDESK_RATE_LIMITS": json.dumps(RELAXED)}
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    try:
        for cycle in range(cycles + 1):
            t = time.monotonic()
            with running_server(data_dir, faq_dir, token=API_TOKEN, **env) as base:
                started = time.monotonic() - t
                if cycle == 0:
                    result.first_start_s = started
                else:
                    result.startup_s.append(started)
                pid = int((data_dir / "server.pid").read_text())
                result.warmup_s.append(warm_up(base))
                link.up(base, cycle)
                if cycle == 0:
                    for th in threads:
                        th.start()
                if cycle < cycles:
                    alive = rng.uniform(0.5, max(0.5, seconds_per_cycle))
                    time.sleep(alive)
                    link.down()
                    os.kill(pid, signal.SIGKILL)
                    result.alive_s.append(alive)
                    log(f"cycle {cycle + 1}/{cycles}: started in {started:.1f} s, killed after {alive:.2f} s, "
                        f"{sum(s.acked for s in sent)} acknowledged so far")
                else:  # the last start: every pending message goes through, then a clean stop
                    link.stopping = True
                    for th in threads:
                        th.join(timeout=120)
                    link.down()
                    log(f"final start in {started:.1f} s: every client's pending message re-sent")
            shutil.move(str(data_dir / "server.log"), logs / f"start-{cycle:02d}.log")
            last_ids.append(last_message_id(data_dir))
    finally:
        link.abort()
        for th in threads:
            th.join(timeout=REQUEST_TIMEOUT + 5)
    result.sent = len(sent)
    result.acknowledged = sum(s.acked for s in sent)
    result.refused = sum(s.refused is not None for s in sent)
    result.unacknowledged = sum(not s.acked and s.refused is None for s in sent)
    result.retried_messages = sum(s.attempts > 1 for s in sent)
    result.retry_attempts = sum(max(0, s.attempts - 1) for s in sent)
    result.replayed = sum(s.replayed for s in sent)
    result.errors = dict(tally.counts)
    result.samples = tally.samples
    check_database(data_dir, sent, result)
    for s in sent:  # retried, acknowledged by a later life than the one that stored it
        if s.acked and s.attempts > 1 and s.ack_start > 0 and (s.ack_message_id or 0) <= last_ids[s.ack_start - 1]:
            result.stored_before_kill += 1
            result.stored_before_kill_replayed += s.replayed
    result.seconds = time.monotonic() - began
    return result


# ---------------------------------------------------------------- 2. races from separate processes

Step = tuple[str, str, str | None, dict[str, Any] | None, dict[str, str], str] | None  # method, path, agent, body, headers, tag


def _race_worker(index: int, base: str, tokens: dict[str, str], inbox: Any, outbox: Any, barrier: Any) -> None:
    """One OS process: for every step of a plan, wait for all the others, then fire its request (if any)."""
    with httpx.Client(base_url=base, timeout=60) as http:
        while True:
            plan = inbox.get()
            if plan is None:
                return
            for step in plan:
                try:
                    barrier.wait(timeout=120)
                except threading.BrokenBarrierError:
                    outbox.put((index, "barrier", -1, "barrier broken"))
                    break
                if step is None:
                    continue
                method, path, agent, body, headers, tag = step
                sent = {**headers, **(bearer(tokens[agent]) if agent else {})}
                try:
                    r = http.request(method, path, json=body, headers=sent)
                    outbox.put((index, tag, r.status_code, r.text))
                except httpx.HTTPError as exc:
                    outbox.put((index, tag, -1, repr(exc)))
            outbox.put((index, "done", 0, ""))


class Racers:
    """P spawned processes that fire their requests of each step at the same instant."""

    def __init__(self, base: str, tokens: dict[str, str]) -> None:
        self.agents = list(tokens)
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(len(self.agents))
        self.outbox = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in self.agents]
        self.procs = [
            ctx.Process(target=_race_worker, args=(i, base, tokens, q, self.outbox, self.barrier), daemon=True)
            for i, q in enumerate(self.inboxes)
        ]
        for p in self.procs:
            p.start()

    def run(self, plans: list[list[Step]], timeout: float = 300) -> list[tuple[int, str, int, str]]:
        for q, plan in zip(self.inboxes, plans, strict=True):
            q.put(plan)
        results, done = [], 0
        deadline = time.monotonic() + timeout
        while done < len(self.procs):
            item = self.outbox.get(timeout=max(1.0, deadline - time.monotonic()))
            if item[1] == "done":
                done += 1
            else:
                results.append(item)
        return results

    def close(self) -> None:
        for q in self.inboxes:
            q.put(None)
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()


@dataclass
class Races:
    handoffs: int
    processes: int
    winners_per_handoff: dict[int, int] = field(default_factory=dict)
    claim_losers_409: int = 0
    claim_other: list[str] = field(default_factory=list)
    reply_both_200_same_id: int = 0
    duplicate_replies: int = 0
    missing_replies: int = 0
    resolve_both_200_same_ticket: int = 0
    duplicate_tickets: int = 0
    missing_tickets: int = 0
    duplicate_answers: int = 0
    missing_answers: int = 0
    wrong_agent_refused: int = 0
    wrong_agent_writes: int = 0
    wrong_resolution: int = 0
    double_starts: int = 0
    double_start_all_200: int = 0
    double_start_orphans: int = 0
    double_start_stored_once: int = 0
    double_start_failures: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0
    too_many: int = 0
    samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exactly_one_winner(self) -> int:
        return sum(1 for n in self.winners_per_handoff.values() if n == 1)

    def ok(self) -> bool:
        return (
            self.exactly_one_winner == self.handoffs
            and self.duplicate_replies == self.missing_replies == 0
            and self.duplicate_tickets == self.missing_tickets == 0
            and self.duplicate_answers == self.missing_answers == 0
            and self.wrong_agent_writes == 0
            and self.wrong_resolution == 0
            and self.server_errors == 0
        )

    def _double_rows(self) -> list[tuple[str, Any, str]]:
        return [
            (f"new-conversation chat, same client id from {self.processes} processes at once: all 200 in one conversation / stored once", f"{self.double_start_all_200} / {self.double_start_stored_once} of {self.double_starts}", f"{self.double_starts} / {self.double_starts}"),
            ("... conversations left without a message", self.double_start_orphans, "0"),
        ]

    def double_markdown(self) -> str:
        return table("2b. A conversation's first message sent at once from several processes, same client id", self._double_rows())

    def markdown(self) -> str:
        winners = Counter(self.winners_per_handoff.values())
        return table(
            f"2. Races: {self.handoffs} handoffs x {self.processes} OS processes (spawned, one agent token each)",
            [
                ("handoffs", self.handoffs, ">= 30 by default"),
                ("claim winners per handoff (winners: handoffs)", ", ".join(f"{k}: {v}" for k, v in sorted(winners.items())), f"1: {self.handoffs}"),
                ("losing claims answered 409", self.claim_losers_409, f"{self.handoffs * (self.processes - 1)}"),
                ("same-id reply from 2 processes: both 200, same message", self.reply_both_200_same_id, str(self.handoffs)),
                ("duplicate replies in the transcript", self.duplicate_replies, "0"),
                ("replies missing from the transcript", self.missing_replies, "0"),
                ("same-answer resolve from 2 processes: both 200, same ticket", self.resolve_both_200_same_ticket, str(self.handoffs)),
                ("duplicate tickets", self.duplicate_tickets, "0"),
                ("duplicate / missing answer messages", f"{self.duplicate_answers} / {self.missing_answers}", "0 / 0"),
                ("handoffs resolved other than by the claim winner", self.wrong_resolution, "0"),
                ("another agent's reply / resolve / claim refused (409)", self.wrong_agent_refused, ""),
                ("another agent's write accepted", self.wrong_agent_writes, "0"),
                *self._double_rows(),
                ("5xx", self.server_errors, "0"),
                ("429", self.too_many, "0"),
                ("statuses", ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items())), ""),
                ("wall time", f"{self.seconds:.0f} s", ""),
            ],
        )


def open_handoffs(base: str, n: int, block: int = 2) -> list[dict[str, Any]]:
    """``n`` conversations that each asked for a person (from distinct addresses: the handoff limit is per address)."""

    def one(i: int) -> dict[str, Any]:
        with httpx.Client(base_url=base, timeout=60) as http:
            r = http.post(
                "/api/chat",
                json={"message": f"I want to talk to a human about invoice {1000 + i}", "client_message_id": f"hand-{uuid.uuid4().hex}"},
                headers=forwarded(address(block, i)),
            )
            r.raise_for_status()
            body = r.json()
            if not body.get("handoff"):
                raise RuntimeError(f"no handoff for {body}")
            return {"id": body["handoff"]["id"], "conversation_id": body["conversation_id"], "token": body["conversation_token"]}

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


def _orphans(data_dir: Path) -> int:
    """Conversations without a single message."""
    from escalation.storage import open_storage

    st = open_storage(None, data_dir, migrate=False, listen=False)
    try:
        with st.db.tx() as tx:
            row = tx.one(
                "SELECT COUNT(*) AS n FROM conversations c WHERE NOT EXISTS "
                "(SELECT 1 FROM messages m WHERE m.conversation_id = c.id)"
            )
        return int(row["n"]) if row else 0
    finally:
        st.close()


def double_sends(
    racers: Racers, data_dir: Path, n: int, result: Races, note: Callable[[list[tuple[int, str, int, str]]], None]
) -> None:
    """``n`` conversation-starting messages, each sent by every process at the same instant with the same
    ``client_message_id`` (a client retrying before its first attempt was answered): each should be
    answered 200 everywhere, in one conversation, stored once."""
    from escalation.storage import open_storage

    p = len(racers.procs)
    before = _orphans(data_dir)
    plans: list[list[Step]] = [[] for _ in range(p)]
    for r in range(n):
        cid = f"dbl-{uuid.uuid4().hex}"
        body = {"message": f"How do I issue a credit note? (double {cid[4:12]})", "client_message_id": cid}
        for i in range(p):
            plans[i].append(("POST", "/api/chat", None, body, forwarded(address(4, r)), f"dbl:{cid}"))
    got = racers.run(plans)
    note(got)
    by_id: dict[str, list[tuple[int, str]]] = {}
    for _, tag, status, text in got:
        by_id.setdefault(tag[4:], []).append((status, text))
    result.double_starts = n
    st = open_storage(None, data_dir, migrate=False, listen=False)
    try:
        for client_id, answers in by_id.items():
            convs = {json.loads(t)["conversation_id"] for s, t in answers if s == 200}
            if all(s == 200 for s, _ in answers) and len(convs) == 1:
                result.double_start_all_200 += 1
            else:
                result.double_start_failures.append(f"{client_id}: " + "; ".join(f"{s} {t[:160]}" for s, t in answers))
            with st.db.tx() as tx:
                row = tx.one("SELECT COUNT(*) AS n FROM messages WHERE client_id = ?", (client_id,))
            result.double_start_stored_once += bool(row and row["n"] == 1)
    finally:
        st.close()
    result.double_start_orphans = _orphans(data_dir) - before


def run_double_sends(base: str, tokens: dict[str, str], data_dir: Path, n: int = 10) -> Races:
    """Only the conversation-starting double sends of :func:`run_races`."""
    result = Races(0, len(tokens))
    racers = Racers(base, tokens)
    statuses: Counter[str] = Counter()

    def note(items: list[tuple[int, str, int, str]]) -> None:
        for item in items:
            statuses[str(item[2])] += 1
            result.server_errors += item[2] >= 500 or item[2] < 0

    try:
        double_sends(racers, data_dir, n, result, note)
    finally:
        racers.close()
    result.statuses = dict(statuses)
    return result


def run_races(base: str, tokens: dict[str, str], data_dir: Path, handoffs: int = 30, double_starts: int = 10) -> Races:
    """``tokens``: agent name -> personal token, one spawned process each (at least 3)."""
    from escalation.storage import open_storage

    began = time.monotonic()
    agents = list(tokens)
    p = len(agents)
    if p < 3:
        raise ValueError("races need at least 3 processes")
    result = Races(handoffs, p)
    made = open_handoffs(base, handoffs)
    statuses: Counter[str] = Counter()
    racers = Racers(base, tokens)

    def note(items: list[tuple[int, str, int, str]]) -> None:
        for _, tag, status, text in items:
            statuses[str(status)] += 1
            if status >= 500 or status < 0:
                result.server_errors += 1
                if len(result.samples) < 5:
                    result.samples.append(f"{tag}: {status} {text[:300]}")
            if status == 429:
                result.too_many += 1

    try:
        if double_starts:
            double_sends(racers, data_dir, double_starts, result, note)

        # claims: every process at once
        hids = [h["id"] for h in made]
        claims = racers.run([[("POST", f"/api/agent/handoffs/{hid}/claim", a, {}, {}, f"claim:{hid}") for hid in hids] for a in agents])
        note(claims)
        winner: dict[int, int] = {}
        result.winners_per_handoff = {hid: 0 for hid in hids}
        for index, tag, status, text in claims:
            hid = int(tag.split(":")[1])
            if status == 200:
                result.winners_per_handoff[hid] += 1
                winner[hid] = index
            elif status == 409:
                result.claim_losers_409 += 1
            else:
                result.claim_other.append(f"{tag} by {agents[index]}: {status} {text[:200]}")

        # the winner's reply from two processes with one client id; a loser replies and claims
        texts = {hid: f"Hello, this is the agent on handoff {hid} ({uuid.uuid4().hex[:8]})" for hid in hids}
        answers = {hid: f"Resolved: invoice {hid} was re-sent with the right VAT ({uuid.uuid4().hex[:8]})" for hid in hids}
        reply_plans: list[list[Step]] = [[] for _ in agents]
        resolve_plans: list[list[Step]] = [[] for _ in agents]
        for hid in hids:
            w = winner.get(hid)
            for i in range(p):
                if w is None:
                    reply_plans[i].append(None)
                    resolve_plans[i].append(None)
                    continue
                role = (i - w) % p
                boss = agents[w]
                me = agents[i]
                reply_body = {"text": texts[hid], "client_message_id": f"reply-{hid}-{uuid.UUID(int=hid).hex}"}
                resolve_body = {"answer": answers[hid]}
                reply_plans[i].append(
                    ("POST", f"/api/agent/handoffs/{hid}/reply", boss, reply_body, {}, f"reply:{hid}") if role in (0, 1)
                    else ("POST", f"/api/agent/handoffs/{hid}/reply", me, {"text": f"not mine {hid}"}, {}, f"foreign-reply:{hid}") if role == 2
                    else ("POST", f"/api/agent/handoffs/{hid}/claim", me, {}, {}, f"foreign-claim:{hid}") if role == 3
                    else None
                )
                resolve_plans[i].append(
                    ("POST", f"/api/agent/handoffs/{hid}/resolve", boss, resolve_body, {}, f"resolve:{hid}") if role in (0, 1)
                    else ("POST", f"/api/agent/handoffs/{hid}/resolve", me, resolve_body, {}, f"foreign-resolve:{hid}") if role == 2
                    else ("GET", f"/api/agent/handoffs/{hid}", me, None, {}, f"read:{hid}") if role == 3
                    else None
                )
        replies = racers.run(reply_plans)
        note(replies)
        resolves = racers.run(resolve_plans)
        note(resolves)
    finally:
        racers.close()

    def grouped(items: list[tuple[int, str, int, str]], kind: str) -> dict[int, list[tuple[int, str]]]:
        out: dict[int, list[tuple[int, str]]] = {}
        for _, tag, status, text in items:
            k, hid = tag.split(":")
            if k == kind:
                out.setdefault(int(hid), []).append((status, text))
        return out

    for kind in ("foreign-reply", "foreign-claim", "foreign-resolve"):
        for items in grouped(replies + resolves, kind).values():
            for status, _ in items:
                if status == 409:
                    result.wrong_agent_refused += 1
                elif 200 <= status < 300:
                    result.wrong_agent_writes += 1
    for hid, items in grouped(replies, "reply").items():
        ids = {json.loads(t)["id"] for s, t in items if s == 200}
        if len(items) == 2 and all(s == 200 for s, _ in items) and len(ids) == 1:
            result.reply_both_200_same_id += 1
        elif len(result.samples) < 8:
            result.samples.append(f"reply {hid}: {items}")
    for hid, items in grouped(resolves, "resolve").items():
        tickets = {json.loads(t)["ticket_id"] for s, t in items if s == 200}
        if len(items) == 2 and all(s == 200 for s, _ in items) and len(tickets) == 1:
            result.resolve_both_200_same_ticket += 1
        elif len(result.samples) < 8:
            result.samples.append(f"resolve {hid}: {[(s, t[:200]) for s, t in items]}")

    # what the customer sees, and what the database holds
    with httpx.Client(base_url=base, timeout=30) as http:
        for h in made:
            hid = h["id"]
            r = http.get(f"/api/conversations/{h['conversation_id']}/messages", headers={"X-Conversation-Token": h["token"]})
            statuses[str(r.status_code)] += 1
            agent_texts = Counter(m["text"] for m in r.json()["messages"] if m["role"] == "agent")
            n_reply, n_answer = agent_texts[texts[hid]], agent_texts[answers[hid]]
            result.duplicate_replies += max(0, n_reply - 1)
            result.missing_replies += n_reply == 0
            result.duplicate_answers += max(0, n_answer - 1)
            result.missing_answers += n_answer == 0
            d = http.get(f"/api/agent/handoffs/{hid}", headers=bearer(API_TOKEN)).json()
            if d.get("status") != "resolved" or d.get("claimed_by") != agents[winner.get(hid, 0)]:
                result.wrong_resolution += 1
    st = open_storage(None, data_dir, migrate=False, listen=False)
    try:
        with st.db.tx() as tx:
            rows = tx.all("SELECT handoff_id, COUNT(*) AS n FROM tickets WHERE handoff_id IS NOT NULL GROUP BY handoff_id")
        per = {int(r["handoff_id"]): int(r["n"]) for r in rows}
        result.duplicate_tickets = sum(max(0, per.get(hid, 0) - 1) for hid in hids)
        result.missing_tickets = sum(per.get(hid, 0) == 0 for hid in hids)
    finally:
        st.close()
    result.statuses = dict(statuses)
    result.seconds = time.monotonic() - began
    return result


# ---------------------------------------------------------------- 3. rate limits


@dataclass
class Limits:
    limits: dict[str, str]
    flood_requests: int = 0
    flood_accepted: int = 0
    flood_429: int = 0
    flood_first_429_at: int | None = None
    flood_bad_shape: int = 0
    flood_retry_after: list[int] = field(default_factory=list)
    flood_other: list[str] = field(default_factory=list)
    flood_outcomes: dict[str, int] = field(default_factory=dict)
    second_outcomes: dict[str, int] = field(default_factory=dict)
    second_requests: int = 0
    second_accepted: int = 0
    handoff_statuses: list[int] = field(default_factory=list)
    handoff_kinds: list[str] = field(default_factory=list)
    handoff_429_stored_message: bool | None = None
    lockout_requests: int = 0
    lockout_401: int = 0
    lockout_429: int = 0
    lockout_first_429_at: int | None = None
    lockout_bad_shape: int = 0
    right_password_status: int = 0
    right_password_retry_after: str | None = None
    other_account_status: int = 0
    ip_requests: int = 0
    ip_first_429_at: int | None = None
    ip_other_address_status: int = 0
    timing_known_ms: float = 0.0
    timing_unknown_ms: float = 0.0
    timing_samples: int = 0
    server_errors: int = 0
    samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def timing_gap(self) -> float:
        lo = min(self.timing_known_ms, self.timing_unknown_ms) or 1.0
        return abs(self.timing_known_ms - self.timing_unknown_ms) / lo

    def flood_ok(self) -> bool:
        allowed = int(self.limits["chat_ip"].split("/")[0])
        return (
            self.flood_429 > 0
            and self.flood_accepted <= allowed * 1.5  # a sliding-window estimate: a little over at a window's edge
            and self.flood_bad_shape == 0
            and self.second_accepted == self.second_requests > 0
            and self.server_errors == 0
        )

    def markdown(self) -> str:
        ra = self.flood_retry_after
        return table(
            "3. Rate limits (" + ", ".join(f"{k} {v}" for k, v in self.limits.items() if k in ("chat_ip", "handoff_ip", "sign_in_ip", "sign_in_account", "sign_in_account_any")) + ")",
            [
                ("flood (10.0.0.1): requests / accepted / 429", f"{self.flood_requests} / {self.flood_accepted} / {self.flood_429}", f"accepted <= {self.limits['chat_ip'].split('/')[0]}"),
                ("first 429 at request #", self.flood_first_429_at, ""),
                ("flood outcomes", ", ".join(f"{k}: {v}" for k, v in sorted(self.flood_outcomes.items())), ""),
                ("429s without Retry-After or not in the one error shape", self.flood_bad_shape, "0"),
                ("Retry-After (s) min / max", f"{min(ra)} / {max(ra)}" if ra else "-", "1-60"),
                ("second client (10.0.0.2, concurrent): requests / accepted", f"{self.second_requests} / {self.second_accepted}", "all"),
                ("second client outcomes", ", ".join(f"{k}: {v}" for k, v in sorted(self.second_outcomes.items())), ""),
                ("handoff requests from one address: statuses", " ".join(map(str, self.handoff_statuses)), "3x 200 then 429"),
                ("customer message stored although its handoff got 429", self.handoff_429_stored_message, ""),
                (f"wrong passwords for one account from {self.lockout_requests} addresses: 401 / 429", f"{self.lockout_401} / {self.lockout_429}", ""),
                ("first 429 at attempt #", self.lockout_first_429_at, self.limits["sign_in_account_any"]),
                ("then the RIGHT password (fresh address)", f"{self.right_password_status} (Retry-After {self.right_password_retry_after} s)", "429 = the account is locked for everyone"),
                ("another account's right password meanwhile", self.other_account_status, "200"),
                ("sign-ins from one address: first 429 at #", self.ip_first_429_at, self.limits["sign_in_ip"]),
                ("... a second address meanwhile", self.ip_other_address_status, "200"),
                (f"sign-in median, known user + wrong password / unknown user ({self.timing_samples} each)", f"{self.timing_known_ms:.0f} / {self.timing_unknown_ms:.0f} ms (gap {100 * self.timing_gap:.0f}%)", "within ~20%"),
                ("5xx", self.server_errors, "0"),
                ("wall time", f"{self.seconds:.0f} s", ""),
            ],
        )


def _check_429(r: httpx.Response, limit: str) -> tuple[bool, int]:
    """Whether a 429 has Retry-After and the one error shape naming ``limit``; its Retry-After."""
    try:
        body = r.json()
        after = int(r.headers.get("Retry-After", ""))
    except (ValueError, json.JSONDecodeError):
        return False, 0
    good = (
        is_error_shape(body)
        and body["error"]["code"] == "rate_limited"
        and body["error"]["details"][:1] == [{"limit": limit, "retry_after": after}]
        and after >= 1
    )
    return good, after


def _login(http: httpx.Client, username: str, password: str, ip: str) -> tuple[httpx.Response, float]:
    http.cookies.clear()  # a session cookie would make the next POST a cookie write (CSRF check)
    t = time.perf_counter()
    r = http.post("/api/console/login", json={"username": username, "password": password}, headers=forwarded(ip))
    return r, time.perf_counter() - t


def run_limits(
    base: str,
    limits: dict[str, str],
    victim: tuple[str, str],
    other: tuple[str, str],
    known: Sequence[str],
    flood: int = 40,
    second: int = 10,
    wrong_passwords: int = 200,
    handoffs: int = 5,
    ip_attempts: int = 13,
    data_dir: Path | None = None,
) -> Limits:
    """``victim`` / ``other``: (username, right password); ``known``: accounts for the timing (one wrong
    password each, so the per-account limit never trips there)."""
    began = time.monotonic()
    res = Limits(dict(limits))

    def count(r: httpx.Response, where: str) -> None:
        if r.status_code >= 500:
            res.server_errors += 1
            if len(res.samples) < 5:
                res.samples.append(f"{where}: {r.status_code} {r.text[:300]}")

    flood_outcomes: Counter[str] = Counter()
    second_outcomes: Counter[str] = Counter()

    def outcome(r: httpx.Response) -> str:
        try:
            body = r.json()
        except json.JSONDecodeError:
            return f"{r.status_code}"
        if r.status_code == 200:
            return f"200 {body['reply']['kind']}"
        details = body.get("error", {}).get("details") or [{}]
        return f"{r.status_code} {details[0].get('limit', body.get('error', {}).get('code'))}"

    def second_client() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            for i in range(second):
                r = http.post("/api/chat", json={"message": ANSWERED[i % len(ANSWERED)]}, headers=forwarded("10.0.0.2"))
                count(r, "second client")
                second_outcomes[outcome(r)] += 1
                res.second_requests += 1
                res.second_accepted += r.status_code == 200
                time.sleep(0.2)

    other_thread = threading.Thread(target=second_client)
    with httpx.Client(base_url=base, timeout=60) as http:
        other_thread.start()
        for i in range(flood):
            r = http.post("/api/chat", json={"message": ANSWERED[i % len(ANSWERED)]}, headers=forwarded("10.0.0.1"))
            count(r, "flood")
            flood_outcomes[outcome(r)] += 1
            res.flood_requests += 1
            if r.status_code == 200:
                res.flood_accepted += 1
            elif r.status_code == 429:
                res.flood_429 += 1
                res.flood_first_429_at = res.flood_first_429_at or i + 1
                good, after = _check_429(r, "chat_ip")
                res.flood_bad_shape += not good
                res.flood_retry_after.append(after)
            else:
                res.flood_other.append(f"{r.status_code} {r.text[:200]}")
        other_thread.join(timeout=120)
        res.flood_outcomes, res.second_outcomes = dict(flood_outcomes), dict(second_outcomes)

        # the handoff limit: several conversations from one address asking for a person
        stored_ids = []
        for i in range(handoffs):
            cid = f"lim-{uuid.uuid4().hex}"
            r = http.post(
                "/api/chat",
                json={"message": f"I want to talk to a human about invoice {i + 1}", "client_message_id": cid},
                headers=forwarded("10.0.0.3"),
            )
            count(r, "handoff")
            res.handoff_statuses.append(r.status_code)
            res.handoff_kinds.append(r.json()["reply"]["kind"] if r.status_code == 200 else r.json()["error"]["code"])
            if r.status_code == 429:
                stored_ids.append(cid)
        if stored_ids and data_dir is not None:
            res.handoff_429_stored_message = message_stored(data_dir, stored_ids[0])

        # wrong passwords for one account, each from another address: the per-account limit
        name, password = victim
        for i in range(wrong_passwords):
            r, _ = _login(http, name, f"wrong-password-{i}", address(3, i))
            count(r, "wrong password")
            res.lockout_requests += 1
            if r.status_code == 401:
                res.lockout_401 += 1
            elif r.status_code == 429:
                res.lockout_429 += 1
                res.lockout_first_429_at = res.lockout_first_429_at or i + 1
                res.lockout_bad_shape += not _check_429(r, "sign_in_account_any")[0]
        r, _ = _login(http, name, password, address(3, 900))
        res.right_password_status = r.status_code
        res.right_password_retry_after = r.headers.get("Retry-After")
        r, _ = _login(http, other[0], other[1], address(3, 901))
        res.other_account_status = r.status_code

        # the per-address limit, then a second address
        for i in range(ip_attempts):
            r, _ = _login(http, f"nobody-{uuid.uuid4().hex[:8]}", "wrong-password", "10.0.0.9")
            res.ip_requests += 1
            if r.status_code == 429 and res.ip_first_429_at is None:
                res.ip_first_429_at = i + 1
        r, _ = _login(http, other[0], other[1], "10.0.0.10")
        res.ip_other_address_status = r.status_code

        # timing: a known username with a wrong password vs an unknown username (interleaved)
        known_t, unknown_t = [], []
        for i, user in enumerate(known):
            r1, t1 = _login(http, user, "wrong-password-x", address(5, 2 * i))
            r2, t2 = _login(http, f"ghost-{uuid.uuid4().hex[:10]}", "wrong-password-x", address(5, 2 * i + 1))
            if r1.status_code == 401 and r2.status_code == 401:
                known_t.append(t1)
                unknown_t.append(t2)
            elif len(res.samples) < 5:
                res.samples.append(f"timing sign-in: {r1.status_code} / {r2.status_code}")
        res.timing_samples = len(known_t)
        if known_t:
            res.timing_known_ms = 1000 * statistics.median(known_t)
            res.timing_unknown_ms = 1000 * statistics.median(unknown_t)
    res.seconds = time.monotonic() - began
    return res


# ---------------------------------------------------------------- the server of phases 2 and 3


@dataclass
class AttackServer:
    base: str
    data_dir: Path
    agent_tokens: dict[str, str]
    victim: tuple[str, str]
    other: tuple[str, str]
    known: list[str]
    limits: dict[str, str]
    startup_s: float


@contextmanager
def attack_server(work: Path, seed: Path, processes: int = 4, known: int = 20) -> Iterator[AttackServer]:
    """One server with small limits, trusting 127.0.0.1 as a proxy; agents with tokens and sign-in accounts."""
    data, faq = prepare(work, seed)
    agents = [f"racer{i}" for i in range(processes)]
    known_names = [f"known{i:02d}" for i in range(known)]
    passwords = {n: f"{n}-password-123" for n in [*agents, "victim", "other", *known_names]}
    tokens = make_accounts(data, passwords, agents)
    env = {"HELPDESK_RATE_LIMITS": json.dumps(SMALL), "HELPDESK_TRUSTED_PROXIES": "127.0.0.1"}
    t = time.monotonic()
    with running_server(data, faq, token=API_TOKEN, **env) as base:
        yield AttackServer(
            base,
            data,
            tokens,
            ("victim", passwords["victim"]),
            ("other", passwords["other"]),
            known_names,
            dict(SMALL),
            time.monotonic() - t,
        )


def message_stored(data_dir: Path, client_id: str) -> bool:
    from escalation.storage import open_storage

    st = open_storage(None, data_dir, migrate=False, listen=False)
    try:
        return st.conversations.by_client_id(client_id) is not None
    finally:
        st.close()


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=20, help="kill -9 cycles of the durability run")
    ap.add_argument("--clients", type=int, default=4, help="client threads of the durability run")
    ap.add_argument("--seconds-per-cycle", type=float, default=3.0, help="longest life of a server before its kill")
    ap.add_argument("--handoffs", type=int, default=30)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--seed", type=Path, default=None, help="folder with index/ and calibration/ to start from")
    ap.add_argument("--work", type=Path, default=OUT / "attacks-work")
    ap.add_argument("--skip", nargs="*", default=[], choices=["durability", "races", "limits"])
    args = ap.parse_args()

    seed = find_seed(args.seed)
    if seed is None:
        print(f"no index to start from: building one into {SEED} (once; minutes)", flush=True)
        seed = build_seed()
    print(f"index and calibration from {seed}", flush=True)
    began = time.monotonic()
    parts: list[str] = []
    report: dict[str, Any] = {}
    if "durability" not in args.skip:
        data, faq = prepare(args.work / "durability", seed)
        d = run_durability(data, faq, args.cycles, args.clients, args.seconds_per_cycle, log=lambda s: print(s, flush=True))
        parts.append(d.markdown())
        report["durability"] = asdict(d)
        print(parts[-1], flush=True)
        for s in d.samples + d.lost_samples:
            print("  sample:", s)
        seed = keep_seed(data)  # brought up to date by the server's first start: the next start is quicker
    if not {"races", "limits"} <= set(args.skip):
        with attack_server(args.work / "server", seed, args.processes) as server:
            print(f"attack server up in {server.startup_s:.1f} s", flush=True)
            if "limits" not in args.skip:
                lim = run_limits(server.base, server.limits, server.victim, server.other, server.known, data_dir=server.data_dir)
                parts.append(lim.markdown())
                report["limits"] = asdict(lim)
                print(parts[-1], flush=True)
                for s in lim.samples + lim.flood_other:
                    print("  sample:", s)
            if "races" not in args.skip:
                races = run_races(server.base, server.agent_tokens, server.data_dir, args.handoffs)
                parts.append(races.markdown())
                report["races"] = asdict(races)
                print(parts[-1], flush=True)
                for s in races.samples + races.claim_other + races.double_start_failures:
                    print("  sample:", s)
    total = time.monotonic() - began
    header = f"## Attacks ({total:.0f} s)\n\n`python -m bench.attacks --cycles {args.cycles} --clients {args.clients} --seconds-per-cycle {args.seconds_per_cycle} --handoffs {args.handoffs} --processes {args.processes}`\n"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "attacks.md").write_text(header + "\n" + "\n".join(parts))
    (OUT / "attacks.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"total {total:.0f} s; written to {OUT / 'attacks.md'}")


if __name__ == "__main__":
    main()
