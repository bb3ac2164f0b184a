"""Spike detection replayed: normal days of unanswered questions, and a month-end night's incident.

    python -m bench.incidents [--threshold 0.15] [--alpha 1e-4] [--confirm-after 2] [--verbose]

The questions are ``data/eval/incident-burst.jsonl``: 317 distinct everyday questions of the kind the
desk hands off or is unsure about (invoicing, payments, accounts, tax, integrations, off-topic; zh and
en), tagged ``normal``, and 60 paraphrases of one incident ("发票没生成", "invoices stuck in draft since
23:00", "E5003 sync failed", ...), tagged ``burst``. Each is embedded once with the models of
``escalation.incidents.INCIDENT_MODELS`` (USE and e5: their query vectors, as the live retriever computes
them), and the detector centres each model's part on the mean of the shipped knowledge's vectors, as the
desk does.

A normal day is a Poisson stream (30 questions an hour in business hours, Mon-Fri 09:00-18:00
Asia/Shanghai, 4 an hour otherwise), each a random normal question from another customer (20% by
email). The detector first sees ``--warm-days`` normal days (a desk that has been running), then the
day measured: with the 60 burst questions at uniform times within 10 minutes from 02:00 on 1 December,
and without it (three seeds). Reported: time from the first burst question to the page (the detector
opening the incident; the dispatcher POSTs it within about a second), false alarms (incidents opened on
anything but the burst), the burst questions linked to the incident, and the same from a cold start
(no history: only the detector's prior). The threshold (0.15) and alpha (1e-4) were chosen on seeds 1-5
(bursts) and 11-15 (normal days); the table reports other seeds.

Then the loop closed, through the desk's own ``IncidentWatch`` and ``IncidentRepo`` on a real SQLite file
(each question in a conversation of its own, stored as the chat turn stores it): every incident the burst
opens is confirmed ``--confirm-after`` minutes (2) after its page, with status notes; a question linked to
a confirmed incident gets its note (what ``ChatService`` replies). Reported: the share of burst questions
asked after the first confirmation that got the note, the same for those asked after an incident in their
language was confirmed (with e5 alone the burst opened one incident per language), and, after resolving every incident at 03:00 (and
resolving each again, which must tell nobody), the linked customers notified, how many were told more than
once, and the notices queued as mail for the email customers.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from bench.datasets import ROOT
from escalation.calendar import TeamCalendar
from escalation.errors import InvalidTransition
from escalation.incidents import (
    DEFAULT_ALPHA,
    DEFAULT_THRESHOLD,
    INCIDENT_MODELS,
    IncidentWatch,
    Question,
    SpikeDetector,
    incident_models,
    incident_vector,
    regime_of_calendar,
)
from escalation.models import IncidentStatus
from escalation.storage import open_storage
from indexer.build import embed_docs
from indexer.embedders import Embedder, load_embedders
from knowledge.corpus import load_knowledge

TZ = ZoneInfo("Asia/Shanghai")
CALENDAR = TeamCalendar.parse({"timezone": "Asia/Shanghai", "hours": {"mon-fri": "09:00-18:00"}})
DAY = datetime(2026, 12, 1, tzinfo=TZ)  # the night after month-end
BUSINESS_PER_HOUR, OFF_PER_HOUR = 30.0, 4.0


@dataclass
class Item:
    text: str
    lang: str
    kind: str
    vector: np.ndarray


MODELS = incident_models([m for m, _ in INCIDENT_MODELS])  # the product's choice (ChatService reads the same)
PARTS: list[tuple[int, float]] = []  # (dimension, weight) per model, once embedded


def load_items(embedders: list[Embedder]) -> list[Item]:
    rows = [json.loads(line) for line in (ROOT / "data" / "eval" / "incident-burst.jsonl").open(encoding="utf-8")]
    per_model = {e.name: e.encode([r["text"] for r in rows]) for e in embedders}
    PARTS[:] = [(per_model[m].shape[1], w) for m, w in MODELS]
    return [Item(r["text"], r["lang"], r["kind"], incident_vector({m: v[i] for m, v in per_model.items()}, MODELS))
            for i, r in enumerate(rows)]


def knowledge_centre(embedders: list[Embedder]) -> np.ndarray:
    """Per model, the mean of the shipped knowledge's vectors, end to end (what ChatService centres the live
    detector on)."""
    kb = load_knowledge(ROOT / "data" / "faq", [ROOT / "data" / "tickets"])
    docs = [d for d in kb.docs if d.entry_id]
    vectors = embed_docs(docs, embedders)
    return np.concatenate([vectors[m].mean(axis=0) for m, _ in MODELS])


def normal_day(start: datetime, items: list[Item], seed: int) -> list[Question]:
    rng = random.Random(seed)
    normal = [i for i in items if i.kind == "normal"]
    out, t = [], start
    while True:
        rate = BUSINESS_PER_HOUR if CALENDAR.is_open(t) else OFF_PER_HOUR
        t += timedelta(minutes=rng.expovariate(rate / 60))
        if t >= start + timedelta(days=1):
            return out
        it = rng.choice(normal)
        channel = "email" if rng.random() < 0.2 else "widget"
        out.append(Question(t, it.vector, it.lang, channel, f"n{seed}-{len(out)}", text=it.text))


def burst(start: datetime, items: list[Item], seed: int, minutes: float = 10.0) -> list[Question]:
    rng = random.Random(seed)
    b = [i for i in items if i.kind == "burst"]
    times = sorted(rng.uniform(0, minutes * 60) for _ in b)
    rng.shuffle(b)
    return [
        Question(start + timedelta(seconds=s), it.vector, it.lang, "email" if rng.random() < 0.2 else "widget",
                 f"b{k}", text=it.text)
        for k, (s, it) in enumerate(zip(times, b, strict=True))
    ]


@dataclass
class Result:
    page_after: float | None  # seconds from the first burst question to the page
    false_alarms: int
    linked: int  # burst questions in the burst's incidents (at the page or after)
    burst_incidents: int
    false_titles: list[str]
    burst_opened: list[str]  # per burst incident: when, its languages, its questions at the page


def replay(detector: SpikeDetector, stream: list[Question], burst_start: datetime | None = None) -> Result:
    page: datetime | None = None
    burst_keys: set[str] = set()
    linked: set[str] = set()
    false_titles: list[str] = []
    burst_opened: list[str] = []
    for q in sorted(stream, key=lambda q: q.at):
        o = detector.observe(q)
        if o.opened is not None:
            s = o.opened
            from_burst = sum(x.conversation_id.startswith("b") for x in s.questions)
            if from_burst * 2 > len(s.questions):
                burst_keys.add(s.key)
                page = page or q.at
                linked |= {x.conversation_id for x in s.questions if x.conversation_id.startswith("b")}
                burst_opened.append(f"{s.last_seen.astimezone(TZ):%H:%M:%S} {'/'.join(s.languages)} "
                                    f"{len(s.questions)} q (p = {s.p_value:.1e}) {s.title!r}")
            else:
                false_titles.append(f"{s.first_seen.astimezone(TZ):%H:%M} {s.title!r} ({len(s.questions)} q, {s.regime})")
        elif o.incident in burst_keys and q.conversation_id.startswith("b"):
            linked.add(q.conversation_id)
    after = (page - burst_start).total_seconds() if page is not None and burst_start is not None else None
    return Result(after, len(false_titles), len(linked), len(burst_keys), false_titles, burst_opened)


def new_detector(args: argparse.Namespace, centre: np.ndarray) -> SpikeDetector:
    return SpikeDetector(
        threshold=args.threshold, alpha=args.alpha, centre=centre, regime=regime_of_calendar(CALENDAR.is_open),
        parts=PARTS,
    )


WARM_UP = {"days": 0, "false_alarms": 0}  # normal days replayed before the days measured, and their alarms
WARM_UP_ALARMS: list[str] = []


def warmed(args: argparse.Namespace, centre: np.ndarray, items: list[Item], seed: int) -> SpikeDetector:
    d = new_detector(args, centre)
    for k in range(args.warm_days, 0, -1):
        r = replay(d, normal_day(DAY - timedelta(days=k), items, seed * 1000 + k))
        WARM_UP["days"] += 1
        WARM_UP["false_alarms"] += r.false_alarms
        WARM_UP_ALARMS.extend(f"warm-up day -{k} of seed {seed}: {t}" for t in r.false_titles)
    return d


@dataclass
class Loop:
    after_confirm: int  # burst questions asked after the first confirmation
    noted: int  # ... of which got the incident's note
    after_own: int  # burst questions asked after an incident in their language was confirmed
    noted_own: int  # ... of which got the note
    linked: int  # conversations linked to the burst's incidents at resolution
    notified: int  # ... told on resolution
    twice: int  # conversations told more than once
    mailed: int  # resolution notices queued as mail (the email customers)
    email_linked: int


def close_the_loop(detector: SpikeDetector, stream: list[Question], confirm_after: timedelta) -> Loop:
    """The day through the desk's incident code on a real SQLite file: confirm each incident
    ``confirm_after`` after it opened, count the notes, resolve all at the end (twice), count the notices."""
    with tempfile.TemporaryDirectory() as tmp:
        storage = open_storage(None, Path(tmp))
        try:
            watch = IncidentWatch(storage.incidents, detector)
            opened: dict[int, datetime] = {}
            confirmed: set[int] = set()
            first_confirm: datetime | None = None
            after = noted = after_own = noted_own = 0
            confirmed_langs: set[str] = set()
            burst_conv: set[str] = set()
            for q in sorted(stream, key=lambda q: q.at):
                for incident_id, at in opened.items():
                    if incident_id not in confirmed and q.at >= at + confirm_after:
                        watch.set_status(incident_id, IncidentStatus.CONFIRMED, "engineer",
                                         "Invoice generation is delayed since 02:00.", "发票生成延迟，自02:00起。", at=q.at)
                        confirmed.add(incident_id)
                        confirmed_langs.update(storage.incidents.get(incident_id)["languages"])
                        first_confirm = first_confirm or q.at
                conv = storage.conversations.create(
                    q.lang, channel=q.channel, contact_email="c@example.test" if q.channel == "email" else None
                )
                if q.conversation_id.startswith("b"):
                    burst_conv.add(conv.id)
                storage.conversations.add_message(conv.id, "customer", q.text)
                incident_id = watch.observe(Question(q.at, q.vector, q.lang, q.channel, conv.id, None, q.text))
                if incident_id is not None and incident_id not in opened and incident_id not in confirmed:
                    opened[incident_id] = q.at
                if first_confirm is not None and q.conversation_id.startswith("b"):
                    after += 1
                    noted += incident_id in confirmed
                    if q.lang in confirmed_langs:
                        after_own += 1
                        noted_own += incident_id in confirmed
            notices = {"en": "Fixed.", "zh": "已修复。"}
            burst_incidents = [i for i in opened if {x["conversation_id"] for x in storage.incidents.links(i)} & burst_conv]
            linked = {x["conversation_id"]: x["channel"] for i in burst_incidents for x in storage.incidents.links(i)}
            notified = 0
            for i in burst_incidents:
                notified += storage.incidents.resolve(i, "engineer", notices)[1]
                try:
                    storage.incidents.resolve(i, "engineer", notices)
                    raise AssertionError("a second resolve succeeded")
                except InvalidTransition:
                    pass
            told = {c: sum(m.meta.get("kind") == "incident_resolved" for m in storage.conversations.messages(c))
                    for c in linked}
            with storage.db.tx() as tx:
                mailed = len(tx.all("SELECT o.id FROM mail_outbox o JOIN messages m ON m.id = o.message_id "
                                    "WHERE m.client_id LIKE 'incident-%-resolved-%'"))
            return Loop(after, noted, after_own, noted_own, len(linked), sum(1 for n in told.values() if n >= 1),
                        sum(1 for n in told.values() if n > 1), mailed, sum(ch == "email" for ch in linked.values()))
        finally:
            storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    parser.add_argument("--warm-days", type=int, default=7)
    parser.add_argument("--confirm-after", type=float, default=2.0, help="minutes from a page to its confirmation")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    t0 = time.monotonic()
    embedders = load_embedders([m for m, _ in MODELS])
    items = load_items(embedders)
    centre = knowledge_centre(embedders)
    models = " + ".join(f"{m} (weight {w:g})" for m, w in MODELS)
    print(f"{sum(i.kind == 'normal' for i in items)} normal, {sum(i.kind == 'burst' for i in items)} burst questions "
          f"embedded with {models} ({time.monotonic() - t0:.0f} s); threshold {args.threshold}, alpha {args.alpha}, "
          f"{args.warm_days} normal days before the day measured")
    start = DAY + timedelta(hours=2)
    header = (f"{'run':44} {'questions':>9} {'page after':>10} {'false alarms':>12} {'burst linked':>12} "
              f"{'incidents':>9}")
    print(header)
    print("-" * len(header))
    rows: list[tuple[str, int, Result]] = []
    for seed in (101, 102, 103):  # held out: the threshold and alpha were chosen on seeds 1-5 and 11-15
        day = normal_day(DAY, items, seed)
        b = burst(start, items, seed)
        rows.append((f"day + burst at 02:00, seed {seed}", len(day) + len(b),
                     replay(warmed(args, centre, items, seed), day + b, start)))
    for seed in (201, 202, 203):
        day = normal_day(DAY, items, seed)
        rows.append((f"normal day, seed {seed}", len(day), replay(warmed(args, centre, items, seed), day)))
    day, b = normal_day(DAY, items, 101), burst(start, items, 101)
    rows.append(("cold start: day + burst at 02:00, seed 101", len(day) + len(b),
                 replay(new_detector(args, centre), day + b, start)))
    day = normal_day(DAY, items, 201)
    rows.append(("cold start: normal day, seed 201", len(day), replay(new_detector(args, centre), day)))
    noon = DAY + timedelta(hours=11)
    day, b = normal_day(DAY, items, 101), burst(noon, items, 101)
    rows.append(("day + the same burst at 11:00, seed 101", len(day) + len(b),
                 replay(warmed(args, centre, items, 101), day + b, noon)))
    for name, n, r in rows:
        page = "—" if r.page_after is None else f"{r.page_after:.0f} s"
        linked = f"{r.linked}/60" if "burst" in name else "—"
        incidents = str(r.burst_incidents) if "burst" in name else "—"
        print(f"{name:44} {n:>9} {page:>10} {r.false_alarms:>12} {linked:>12} {incidents:>9}")
        if args.verbose:
            for t in r.burst_opened:
                print("    burst incident:", t)
            for t in r.false_titles:
                print("    false alarm:", t)
    print(f"false alarms over the {WARM_UP['days']} normal warm-up days replayed before those: "
          f"{WARM_UP['false_alarms']} ({time.monotonic() - t0:.0f} s)")
    if args.verbose:
        for t in WARM_UP_ALARMS:
            print("    false alarm:", t)
    print()
    print(f"closing the loop: each incident confirmed {args.confirm_after:g} min after its page, all resolved at 03:00")
    header = (f"{'run':32} {'after confirm':>13} {'got the note':>12} {'share':>6} {'own language':>12} "
              f"{'share':>6} {'linked':>6} {'notified':>8} {'told twice':>10} {'mailed/email':>12}")
    print(header)
    print("-" * len(header))
    for seed in (101, 102, 103):
        day, b = normal_day(DAY, items, seed), burst(start, items, seed)
        loop = close_the_loop(warmed(args, centre, items, seed), day + b, timedelta(minutes=args.confirm_after))
        share = loop.noted / loop.after_confirm if loop.after_confirm else 0.0
        own = loop.noted_own / loop.after_own if loop.after_own else 0.0
        print(f"{f'day + burst at 02:00, seed {seed}':32} {loop.after_confirm:>13} {loop.noted:>12} {share:>6.0%} "
              f"{f'{loop.noted_own}/{loop.after_own}':>12} {own:>6.0%} {loop.linked:>6} {loop.notified:>8} {loop.twice:>10} {f'{loop.mailed}/{loop.email_linked}':>12}")
    print(f"({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
