"""Outcome metrics on 1,000,000 conversations: how long the metrics API's queries take.

    python -m bench.metrics [--conversations 1000000] [--db bench/out/metrics.sqlite] [--reuse]
                            [--timeout 120] [--repeat 3]

Generates the conversations into a real SQLite file opened through the desk's storage layer (so the
schema, its migrations, indexes and full-text triggers are the real ones), with bulk ``executemany``
inserts in the proportions below (and the metrics' narrow rows of migration m012 computed from them), then times ``escalation.metrics.compute`` (what
``GET /api/agent/metrics`` runs) for 30- and 365-day windows, with and without language and channel
filters, per day and per week, and the per-entry table. Each case runs in a child process that is
stopped after ``--timeout`` seconds, so the run is bounded; prints a markdown table.

Proportions (per conversation, over 400 days ending today, weekdays busier than weekends): 55% zh,
15% by email; the bot answers 60% at once, asks "did you mean" 12% (two thirds of those then answered,
the rest "none of these" -> handoff), hands off 28% (low confidence, missing knowledge, customer request,
and a few never-answer requests); 30% ask a second question that is answered; a quarter of answers get
feedback (75% up, 15% down, 10% "not what I asked" -> a wrong_answer handoff); 4% of answered
conversations ask for a person later (within minutes to days); agents reply to 90% of handoffs and
resolve 85%; 12% of handoffs breach an SLA clock.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from escalation.calendar import Calendars
from escalation.metrics import Window, compute
from escalation.models import iso
from escalation.storage import open_storage
from escalation.storage.sqlite_migrations import metrics_rows
from knowledge.faq import load_faq

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SPAN_DAYS = 400
CHUNK = 20_000

DIRECT_REASONS = [
    ("low_confidence", 0.43),
    ("missing_knowledge", 0.21),
    ("customer_request", 0.25),
    ("prompt_injection", 0.04),
    ("other_customer_data", 0.04),
    ("bank_details_change", 0.03),
]
QUESTIONS = {
    "en": ["How do I issue a credit note?", "invoice number wrong", "Can I export the VAT report to Excel?",
           "I want to talk to a person", "how to change currency on an invoice"],
    "zh": ["请问怎么开红字发票？", "发票抬头写错了怎么办", "怎么导出增值税报表", "我要人工客服", "发票号码不对"],
}


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    x = rng.random()
    for value, w in weighted:
        x -= w
        if x < 0:
            return value
    return weighted[-1][0]


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


class _Answers:
    """Bot answer messages as the desk stores them (the entry's text, meta with kind, text, sources)."""

    def __init__(self) -> None:
        entries, _ = load_faq(ROOT / "data" / "faq")
        self.by_lang: dict[str, list[tuple[str, str, str]]] = {"en": [], "zh": []}
        for e in entries:
            head = json.dumps({"kind": "answer", "text": e.answer}, ensure_ascii=False)[:-1]
            source = json.dumps([{"id": e.id, "title": e.title, "lang": e.lang, "score": 0.0}], ensure_ascii=False)
            template = _braces(head) + ', "confidence": {c}, "sources": ' + _braces(source)
            template += ', "suggestions": [], "reason": "confident", "reply_to": {r}}}'
            self.by_lang.setdefault(e.lang, []).append((e.id, e.answer, template))

    def pick(self, rng: random.Random, lang: str) -> tuple[str, str, str]:
        options = self.by_lang[lang]
        # a few entries answer most questions (Zipf-like), as in real traffic
        return options[min(int(rng.paretovariate(1.2)) - 1, len(options) - 1)]


def _meta(kind: str, text: str, reason: str, **extra: Any) -> str:
    return json.dumps({"kind": kind, "text": text, "confidence": 0.0, "sources": [], "suggestions": [],
                       "reason": reason, **extra}, ensure_ascii=False)


def _rows(n: int, seed: int, now: datetime) -> Iterator[tuple[list[tuple], list[tuple], list[tuple], list[tuple]]]:
    """Chunks of (conversations, messages, handoffs, sla_breaches) rows."""
    rng = random.Random(seed)
    answers = _Answers()
    start = now - timedelta(days=SPAN_DAYS)
    msg_id = handoff_id = 0
    convs: list[tuple] = []
    msgs: list[tuple] = []
    hands: list[tuple] = []
    breaches: list[tuple] = []

    def stamp(t: datetime) -> str:
        return iso(t)

    def message(conv: str, role: str, text: str, at: datetime, meta: str, author: str | None = None,
                feedback: str | None = None) -> int:
        nonlocal msg_id
        msg_id += 1
        msgs.append((msg_id, conv, role, text, stamp(at), meta, author, feedback))
        return msg_id

    def handoff(conv: str, reason: str, lang: str, question: str, at: datetime) -> None:
        nonlocal handoff_id
        handoff_id += 1
        replied = resolved = None
        status = "open"
        if rng.random() < 0.9 and at + timedelta(minutes=5) < now:
            replied = at + timedelta(minutes=rng.expovariate(1 / 45))
            message(conv, "agent", "Thanks, let me check that for you.", replied, "{}", "alice")
            status = "claimed"
            if rng.random() < 0.85 / 0.9:
                resolved = replied + timedelta(minutes=rng.expovariate(1 / 120))
                status = "resolved"
        hands.append((handoff_id, conv, status, reason, lang, question, "[]", stamp(at),
                      "alice" if replied else None, stamp(replied) if replied else None,
                      stamp(replied) if replied else None, stamp(resolved) if resolved else None,
                      "resolved" if resolved else None))
        if rng.random() < 0.12:
            breaches.append((handoff_id, "first_response", stamp(at), stamp(at + timedelta(hours=1)),
                             stamp(at + timedelta(hours=1)), "standard"))

    for i in range(n):
        # weekdays twice as busy as weekends
        while True:
            t = start + timedelta(seconds=rng.random() * SPAN_DAYS * 86400)
            if t.weekday() < 5 or rng.random() < 0.5:
                break
        conv = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        lang = "zh" if rng.random() < 0.55 else "en"
        channel = "email" if rng.random() < 0.15 else "widget"
        question = rng.choice(QUESTIONS[lang])
        q = message(conv, "customer", question, t, json.dumps({"lang": lang, "choice": None}))
        first = stamp(t)
        t += timedelta(seconds=rng.uniform(0.5, 3))
        x = rng.random()
        answered: list[tuple[int, datetime]] = []
        handed = False
        if x < 0.68:  # answered at once, or "did you mean" then answered
            if x >= 0.60:
                message(conv, "bot", "Did you mean…", t, _meta("clarify", "Did you mean…", "close_candidates"))
                t += timedelta(seconds=rng.uniform(5, 60))
                q = message(conv, "customer", question, t, json.dumps({"lang": lang, "choice": "x"}))
                t += timedelta(seconds=1)
            _, text, template = answers.pick(rng, lang)
            m = message(conv, "bot", text, t, template.format(c=round(rng.uniform(0.96, 1), 4), r=q))
            answered.append((m, t))
            if rng.random() < 0.3:  # a second question, answered
                t += timedelta(seconds=rng.uniform(20, 600))
                q = message(conv, "customer", rng.choice(QUESTIONS[lang]), t, json.dumps({"lang": lang}))
                t += timedelta(seconds=1)
                _, text, template = answers.pick(rng, lang)
                m = message(conv, "bot", text, t, template.format(c=round(rng.uniform(0.96, 1), 4), r=q))
                answered.append((m, t))
        elif x < 0.72:  # clarify, then "none of these"
            message(conv, "bot", "Did you mean…", t, _meta("clarify", "Did you mean…", "close_candidates"))
            t += timedelta(seconds=rng.uniform(5, 60))
            handoff(conv, "clarify_rejected", lang, question, t)
            message(conv, "bot", "A colleague will answer.", t, _meta("handoff", "A colleague will answer.", "clarify_rejected"))
            handed = True
        else:
            reason = _pick(rng, DIRECT_REASONS)
            handoff(conv, reason, lang, question, t)
            message(conv, "bot", "A colleague will answer.", t, _meta("handoff", "A colleague will answer.", reason))
            handed = True
        for m, at in answered:
            if handed or rng.random() >= 0.25:
                continue
            fb = _pick(rng, [("yes", 0.75), ("no", 0.15), ("wrong", 0.10)])
            row = msgs[m - msgs[0][0]]
            msgs[m - msgs[0][0]] = (*row[:7], fb)
            if fb == "wrong":
                later = at + timedelta(seconds=rng.uniform(5, 120))
                handoff(conv, "wrong_answer", lang, question, later)
                message(conv, "bot", "A colleague will answer.", later, _meta("handoff", "…", "wrong_answer"))
                handed = True
        if answered and not handed and rng.random() < 0.04:
            later = answered[-1][1] + timedelta(minutes=rng.expovariate(1 / 2000))
            if later < now:
                handoff(conv, "customer_request", lang, "", later)
        convs.append((conv, lang, first, msgs[-1][4], "{}", None, "{}", channel, None, 0, "{}"))
        if len(convs) >= CHUNK or i == n - 1:
            yield convs, msgs, hands, breaches
            convs, msgs, hands, breaches = [], [], [], []


def generate(path: Path, n: int, seed: int = 12) -> dict[str, Any]:
    """Write ``n`` conversations into a new SQLite database at ``path``; counts and seconds taken."""
    if path.exists():
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
    storage = open_storage(f"sqlite:///{path}", path.parent)
    conn = storage.db.db.conn  # type: ignore[attr-defined]  # the SQLite backend's connection, for executemany
    # the full-text index of message texts is not filled for the generated rows (metrics never read it;
    # filling it would take most of the run): its triggers are dropped for the load and put back after
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    began = time.perf_counter()
    counts = {"conversations": 0, "messages": 0, "handoffs": 0, "sla_breaches": 0}
    now = datetime.now(UTC)
    for convs, msgs, hands, breaches in _rows(n, seed, now):
        with storage.db._lock:  # type: ignore[attr-defined]  # one writer, as the backend's own transactions
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO conversations (id, lang, created_at, updated_at, state, customer_id, customer_profile, "
                "channel, contact_email, seen_message_id, mail_thread) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                convs,
            )
            conn.executemany(
                "INSERT INTO messages (id, conversation_id, role, text, created_at, meta, author, feedback) "
                "VALUES (?,?,?,?,?,?,?,?)",
                msgs,
            )
            conn.executemany(
                "INSERT INTO handoffs (id, conversation_id, status, reason, lang, question, candidates, created_at, "
                "claimed_by, claimed_at, first_reply_at, resolved_at, resolution_answer) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                hands,
            )
            conn.executemany(
                "INSERT INTO sla_breaches (handoff_id, metric, since, due_at, breached_at, policy) VALUES (?,?,?,?,?,?)",
                breaches,
            )
            # the metrics' narrow rows (answers, per-conversation firsts and feedback counts), computed from
            # the rows just written by the statements migration m012 backfills with (the desk's repositories
            # write the same rows one message at a time)
            for statement in metrics_rows("sqlite", one=True):
                conn.executemany(statement, [(c[0],) for c in convs])
            conn.execute("COMMIT")
        for key, rows in zip(counts, (convs, msgs, hands, breaches), strict=True):
            counts[key] += len(rows)
    for _, sql in triggers:
        conn.execute(sql)
    conn.execute("ANALYZE")
    storage.close()
    return {**counts, "seconds": round(time.perf_counter() - began, 1), "bytes": path.stat().st_size}


CASES: list[tuple[str, int, dict[str, Any]]] = [
    ("30 days", 30, {}),
    ("30 days, lang=zh", 30, {"lang": "zh"}),
    ("30 days, channel=email", 30, {"channel": "email"}),
    ("30 days, lang=en, channel=widget", 30, {"lang": "en", "channel": "widget"}),
    ("30 days, per week", 30, {"group": "week"}),
    ("365 days", 365, {}),
    ("365 days, lang=zh", 365, {"lang": "zh"}),
    ("365 days, channel=email", 365, {"channel": "email"}),
    ("365 days, lang=en, channel=widget", 365, {"lang": "en", "channel": "widget"}),
    ("365 days, per week", 365, {"group": "week"}),
]


def _case(path: str, days: int, params: dict[str, Any], repeat: int, calendar: Any, out: Any) -> None:
    storage = open_storage(f"sqlite:///{path}", Path(path).parent)
    calendars = Calendars.parse(calendar)
    until = datetime.now(UTC).date() + timedelta(days=1)
    window = Window(until - timedelta(days=days), until, params.get("lang"), params.get("channel"))
    kwargs = {"group": params["group"]} if "group" in params else {}
    times = []
    result: dict[str, Any] = {}
    try:
        for _ in range(repeat):
            began = time.perf_counter()
            result = compute(storage, calendars, window, **kwargs)
            times.append(time.perf_counter() - began)
    except TypeError as exc:  # a version of compute() without this parameter
        out.send({"error": f"not supported ({exc})"})
        return
    finally:
        storage.close()
    s = result["summary"]
    out.send({"seconds": times, "conversations": s["conversations"], "entries": len(result.get("entries", []))})


def measure(
    path: Path, timeout: float, repeat: int, calendar: Any = None, only: list[str] | None = None
) -> list[dict[str, Any]]:
    rows = []
    ctx = mp.get_context("spawn")
    for name, days, params in CASES:
        if only and name not in only:
            continue
        ours, theirs = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_case, args=(str(path), days, params, repeat, calendar, theirs))
        proc.start()
        got = ours.poll(timeout)
        if not got:
            proc.terminate()
            proc.join()
            rows.append({"case": name, "error": f"> {timeout:.0f} s (stopped)"})
            continue
        r = ours.recv()
        proc.join()
        rows.append({"case": name, **r})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| case | conversations in window | first run | median of runs |", "|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | | {r['error']} | |")
            continue
        s = r["seconds"]
        lines.append(f"| {r['case']} | {r['conversations']:,} | {s[0] * 1000:,.0f} ms | {statistics.median(s) * 1000:,.0f} ms |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=OUT / "metrics.sqlite")
    ap.add_argument("--reuse", action="store_true", help="measure the database already at --db (migrated first)")
    ap.add_argument("--copy-from", type=Path, help="start from a copy of this database (e.g. one generated earlier)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a case may take before it is stopped")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cases", help="only these cases, separated by ';' (names as in the table)")
    ap.add_argument("--calendar", help="HELPDESK_CALENDAR JSON to count business minutes with (default: 24/7)")
    args = ap.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    if args.copy_from:
        shutil.copyfile(args.copy_from, args.db)
        args.reuse = True
    if args.reuse:
        began = time.perf_counter()
        storage = open_storage(f"sqlite:///{args.db}", args.db.parent)  # applies pending migrations
        storage.close()
        print(f"opened {args.db} (pending migrations applied) in {time.perf_counter() - began:.1f} s", flush=True)
    else:
        info = generate(args.db, args.conversations)
        print(
            f"generated {info['conversations']:,} conversations, {info['messages']:,} messages, "
            f"{info['handoffs']:,} handoffs, {info['sla_breaches']:,} SLA breaches in {info['seconds']} s "
            f"({info['bytes'] / 2**20:,.0f} MiB)"
        )
    calendar = json.loads(args.calendar) if args.calendar else None
    only = [c.strip() for c in args.cases.split(";")] if args.cases else None
    print(table(measure(args.db, args.timeout, args.repeat, calendar, only)), flush=True)
    print(f"(today {date.today().isoformat()}, {args.repeat} runs per case, each case in its own process)")


if __name__ == "__main__":
    main()
