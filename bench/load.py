"""Month-end load benchmark: a real `helpdesk serve` driven over HTTP by concurrent clients.

    python -m bench.load --tickets 100000 --seconds 20
    python -m bench.load --tickets 1000000 --seconds 20

Per size it: writes N synthetic resolved tickets (unlinked) beside the shipped FAQ; builds the
index with the real builder (rate against the raw batched encoder rate); measures vector search
latency and recall@10 of the served tickets index against exact search; measures the raw
single-query and batched encoder rates of the configured models (the floor); starts the server
and runs 1 and 32 concurrent clients for a fixed time; edits one FAQ file under load and records
when the edit becomes answerable and the latency around it; reads the server's peak RSS.
Results go to bench/out/load-<N>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import time
from pathlib import Path

import httpx
import numpy as np

from bench.datasets import ROOT
from bench.server import running_server, wait_calibrated
from bot.settings import DEFAULT_RATE_LIMITS
from indexer.build import build_and_publish
from indexer.embedders import E5_BACKENDS, default_e5_backend, load_embedders
from indexer.search import encode_all
from indexer.store import IndexLocation, make_index
from knowledge.corpus import load_knowledge

OUT = ROOT / "bench" / "out"
FAQ = ROOT / "data" / "faq"

EN = [
    "Invoice {n} shows the wrong {field} after I {action}",
    "Customer {c} says they never got invoice {n}, can you check the {thing}?",
    "Our {thing} stopped working on {day}, invoices {n} to {m} are stuck",
    "Please merge duplicate customer records for {c} created by the {thing}",
    "Refund the double charge on our subscription from {day}, reference {n}",
    "{thing} export for {month} is missing invoice {n}",
]
ZH = [
    "发票{n}的{field_zh}不对，我{action_zh}之后就这样了",
    "客户{c}说没收到发票{n}，帮忙查一下{thing_zh}",
    "{day}之后{thing_zh}一直失败，{n}到{m}号发票都卡住了",
    "{month}的{thing_zh}导出少了发票{n}",
    "订阅扣费重复了，流水号{n}，请退款",
]
WORDS = {
    "field": ["tax id", "due date", "VAT rate", "currency", "bank account", "address", "PO number"],
    "action": [
        "duplicated it",
        "changed the template",
        "imported customers",
        "switched plans",
        "edited the draft",
    ],
    "thing": [
        "webhook",
        "DATEV sync",
        "Xero connection",
        "bank feed",
        "Peppol inbox",
        "API key",
        "reminder job",
    ],
    "field_zh": ["税号", "到期日", "税率", "币种", "开户行", "地址", "抬头"],
    "action_zh": ["复制发票", "改了模板", "导入客户", "升级套餐", "编辑草稿"],
    "thing_zh": ["金蝶同步", "用友导出", "数电票接口", "银行流水", "催款提醒", "API 密钥"],
    "month": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
    ],
    "day": ["Monday", "the 31st", "month end", "yesterday", "the 1st", "Friday night"],
}


def write_tickets(folder: Path, n: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "synthetic.jsonl"
    marker = folder / f".n{n}"
    if marker.exists():
        return path
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            zh = rng.random() < 0.4
            tpl = rng.choice(ZH if zh else EN)
            fields = {k: rng.choice(v) for k, v in WORDS.items()}
            q = tpl.format(
                n=f"INV-{rng.randint(2024, 2026)}-{rng.randint(1, 9999):04d}",
                m=f"{rng.randint(1, 9999):04d}",
                c=f"C{rng.randint(1000, 99999)}",
                **fields,
            )
            fh.write(
                json.dumps(
                    {
                        "id": f"S-{i}",
                        "question": q,
                        "answer": "Fixed by support.",
                        "lang": "zh" if zh else "en",
                        "resolved_at": "2026-10-31T23:00:00Z",
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    for old in folder.glob(".n*"):
        old.unlink()
    marker.write_text("")
    return path


def encoder_rates(embedders: list, texts: list[str]) -> dict[str, float]:
    """Raw rates of the configured models: one question at a time, and in batches of 32."""
    out: dict[str, float] = {}
    for e in embedders:
        e.encode(texts[:8])
        t = time.perf_counter()
        for q in texts[:64]:
            e.encode([q])
        out[f"{e.name} single/s"] = 64 / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(0, 256, 32):
            e.encode(texts[i : i + 32])
        out[f"{e.name} batched/s"] = 256 / (time.perf_counter() - t)
    t = time.perf_counter()
    for q in texts[:64]:
        encode_all(embedders, [q])
    out["all models single/s"] = 64 / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(0, 256, 32):
        encode_all(embedders, texts[i : i + 32])
    out["all models batched/s"] = 256 / (time.perf_counter() - t)
    return out


def search_quality(index_vectors: np.ndarray, queries: np.ndarray) -> dict[str, float]:
    """Latency of the served kind of index (chosen by size) and its recall@10 against exact search."""
    served = make_index(index_vectors)
    exact = make_index(index_vectors, approx_threshold=10**12)
    lat = []
    ids = []
    for q in queries:
        t = time.perf_counter()
        _, i = served.search(q[None, :], 10)
        lat.append((time.perf_counter() - t) * 1000)
        ids.append(i[0])
    _, truth = exact.search(queries, 10)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)]))
    return {
        "search p50 ms": float(np.percentile(lat, 50)),
        "search p99 ms": float(np.percentile(lat, 99)),
        "recall@10": recall,
        "index": type(served).__name__,
        "vectors": int(index_vectors.shape[0]),
    }


async def drive(base: str, questions: list[str], clients: int, seconds: float, during: object = None) -> dict:
    """`clients` loops posting questions for `seconds`; latencies with their start times."""
    records: list[tuple[float, float, bool]] = []
    stop = time.monotonic() + seconds
    t0 = time.monotonic()
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def one(k: int) -> None:
            rng = random.Random(k)
            while time.monotonic() < stop:
                q = rng.choice(questions)
                s = time.monotonic()
                try:
                    r = await client.post("/api/chat", json={"message": q})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                records.append((s - t0, (time.monotonic() - s) * 1000, ok))

        tasks = [asyncio.create_task(one(k)) for k in range(clients)]
        if during is not None:
            tasks.append(asyncio.create_task(during(client, t0)))  # type: ignore[operator]
        await asyncio.gather(*tasks)
    return {"records": records, "elapsed": time.monotonic() - t0}


def summarise(res: dict, window: tuple[float, float] | None = None) -> dict[str, float]:
    recs = [r for r in res["records"] if window is None or window[0] <= r[0] <= window[1]]
    lat = np.array([r[1] for r in recs if r[2]]) if recs else np.array([0.0])
    return {
        "requests": len(recs),
        "errors": sum(1 for r in recs if not r[2]),
        "rps": len(recs) / res["elapsed"] if window is None else float("nan"),
        "p50 ms": float(np.percentile(lat, 50)),
        "p95 ms": float(np.percentile(lat, 95)),
        "p99 ms": float(np.percentile(lat, 99)),
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_pid(port: int) -> int:
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmd and str(port).encode() in cmd:
                return int(d.name)
    raise RuntimeError("server process not found")


PROFILES = {  # each desk calibrates itself from the FAQ at its first start
    "full": ["use-multilingual-v3", "multilingual-e5-small"],
    "fast": ["use-multilingual-v3"],
    "engine": ["use-multilingual-v3", "multilingual-e5-small-q4"],
}


def run(
    n_tickets: int, seconds: float, profile: str = "full", keep_index: bool = False, e5_backend: str | None = None
) -> dict:
    models = PROFILES[profile]
    backend = e5_backend or default_e5_backend()
    work = OUT / "load" / f"n{n_tickets}-{backend}"
    tickets_dir = work / "tickets"
    write_tickets(tickets_dir, n_tickets)
    faq = work / "faq"
    shutil.rmtree(faq, ignore_errors=True)
    shutil.copytree(FAQ, faq)
    data = work / "state"
    previous = OUT / f"load-{n_tickets}-{profile}-{backend}.json"
    reuse = keep_index and (data / "index" / "current").exists() and previous.exists()
    if not reuse:
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
    else:  # server phases only: keep the built index, its build and search figures come from the last run
        (data / "helpdesk.sqlite").unlink(missing_ok=True)
    embedders = load_embedders(models, e5_backend=backend)
    questions = [json.loads(line)["question"] for line in (ROOT / "data/eval/questions.jsonl").open()]
    rates = encoder_rates(embedders, questions)
    print("encoder rates", rates, flush=True)

    header: dict = {"tickets": n_tickets, "profile": profile, "models": models, "e5 backend": backend, "encoder": rates}
    if reuse:
        last = json.loads(previous.read_text())
        header["build"], header["search"] = last["build"], {**last["search"], "note": "from the previous run"}
        return _serve_phases(header, data, faq, tickets_dir, models, questions, seconds, backend)
    kb = load_knowledge(faq, [tickets_dir])
    captured: dict[str, np.ndarray] = {}
    t = time.perf_counter()
    build_and_publish(kb, embedders, IndexLocation(data / "index"), sink=lambda v: captured.update(v=v))
    build_s = time.perf_counter() - t
    first = embedders[0].name
    build = {
        "tickets": len(kb.ticket_docs),
        "seconds": build_s,
        "tickets/s": len(kb.ticket_docs) / build_s,
        "vs raw batched rate of the ticket model": len(kb.ticket_docs)
        / build_s
        / rates[f"{first} batched/s"],
    }
    print("build", build, flush=True)
    qv = embedders[0].encode(questions[:300] + [d.text + " again" for d in kb.ticket_docs[:200]])
    search = search_quality(captured.pop("v"), qv)
    print("search", search, flush=True)
    del kb

    return _serve_phases(
        {**header, "build": build, "search": search},
        data,
        faq,
        tickets_dir,
        models,
        questions,
        seconds,
        backend,
    )


def _serve_phases(
    out: dict,
    data: Path,
    faq: Path,
    tickets_dir: Path,
    models: list[str],
    questions: list[str],
    seconds: float,
    backend: str,
) -> dict:
    # every simulated customer comes from 127.0.0.1: the per-address limits are lifted for the load test
    unlimited = {name: "0/minute" for name in DEFAULT_RATE_LIMITS}
    env = {
        "HELPDESK_MODELS": json.dumps(models),
        "HELPDESK_RATE_LIMITS": json.dumps(unlimited),
        "HELPDESK_E5_BACKEND": backend,
    }
    with running_server(data, faq, tickets_dir=tickets_dir, **env) as base:
        port = int(base.rsplit(":", 1)[1])
        pid = server_pid(port)
        out["calibration wait s"] = wait_calibrated(base)
        asyncio.run(drive(base, questions, 4, 3))  # warm up
        out["1 client"] = summarise(asyncio.run(drive(base, questions, 1, seconds)))
        print("1 client", out["1 client"], flush=True)
        out["32 clients"] = summarise(asyncio.run(drive(base, questions, 32, seconds)))
        print("32 clients", out["32 clients"], flush=True)

        edit: dict[str, float] = {}
        marker = f"zorblax{random.randint(1000, 9999)} ledger quirk"

        async def editor(client: httpx.AsyncClient, t0: float) -> None:
            await asyncio.sleep(seconds / 3)
            path = faq / "en" / "api-keys.md"
            text = path.read_text()
            edit["wall"] = time.time()
            path.write_text(text.replace("questions:\n", f"questions:\n  - What is the {marker}?\n", 1))
            edit["at"] = time.monotonic() - t0
            while time.monotonic() - t0 < seconds:
                r = await client.post("/api/chat", json={"message": f"What is the {marker}?"})
                body = r.json()
                if (
                    r.status_code == 200
                    and body["reply"]["sources"][:1]
                    and body["reply"]["sources"][0]["id"] == "api-keys"
                ):
                    edit["answerable after s"] = time.monotonic() - t0 - edit["at"]
                    status = (await client.get("/api/knowledge/status")).json()
                    edit["live after s"] = status["loaded_at"] - edit["wall"]
                    return
                await asyncio.sleep(0.05)

        res = asyncio.run(drive(base, questions, 32, seconds, editor))
        at = edit.get("at", 0.0)
        out["32 clients + FAQ edit"] = {
            **summarise(res),
            "edit answerable after s": edit.get("answerable after s"),
            "edit live after s": edit.get("live after s"),
            "during edit (+-2 s)": summarise(res, (at - 0.5, at + 2.5)),
        }
        print("edit", out["32 clients + FAQ edit"], flush=True)
        out["server peak RSS MB"] = peak_rss_mb(pid)
    return out


def secs(v: float | None) -> str:
    return "not within the run" if v is None else f"{v:.2f} s"


def render(r: dict) -> str:
    e, b, s = r["encoder"], r["build"], r["search"]
    c1, c32, ce = r["1 client"], r["32 clients"], r["32 clients + FAQ edit"]
    batched = e["all models batched/s"]
    lines = [
        f"\n### {r['tickets']:,} synthetic resolved tickets + shipped FAQ, profile `{r['profile']}` "
        f"({' + '.join(r['models'])}), e5 on {r.get('e5 backend', 'torch')}\n",
        "| measure | value |",
        "|---|---|",
        *[f"| raw encoder: {k} | {v:.0f} |" for k, v in e.items()],
        f"| index build: {b['tickets']:,} tickets in {b['seconds']:.1f} s | {b['tickets/s']:.0f}/s = "
        f"{b['vs raw batched rate of the ticket model']:.0%} of the ticket model's raw batched rate |",
        f"| vector search ({s['index']}, {s['vectors']:,} vectors) p50 / p99 | {s['search p50 ms']:.2f} / "
        f"{s['search p99 ms']:.2f} ms |",
        f"| recall@10 vs exact search | {s['recall@10']:.3f} |",
        f"| 1 client: req/s, p50 / p95 / p99 | {c1['rps']:.1f}, {c1['p50 ms']:.0f} / {c1['p95 ms']:.0f} / "
        f"{c1['p99 ms']:.0f} ms, errors {c1['errors']} |",
        f"| 32 clients: req/s, p50 / p95 / p99 | {c32['rps']:.1f}, {c32['p50 ms']:.0f} / {c32['p95 ms']:.0f} / "
        f"{c32['p99 ms']:.0f} ms, errors {c32['errors']} |",
        f"| 32 clients throughput vs raw batched rate of all models | {c32['rps'] / batched:.0%} |",
        f"| FAQ edit under 32 clients: new knowledge live (server swap) after | {secs(ce.get('edit live after s'))} |",
        f"| ... first answer from it received by a client after (includes that request's own latency) | "
        f"{secs(ce['edit answerable after s'])} |",
        f"| ... p99 in the 3 s around the edit / errors during the run | "
        f"{ce['during edit (+-2 s)']['p99 ms']:.0f} ms / {ce['errors']} |",
        f"| server peak RSS | {r['server peak RSS MB']:.0f} MB |",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, nargs="+", default=[100_000])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument(
        "--keep-index",
        action="store_true",
        help="Reuse the index built by the last run of this size and profile; rerun the server phases only",
    )
    ap.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="full",
        help="full: both models (default service); fast: USE-multilingual only",
    )
    ap.add_argument("--e5-backend", nargs="+", choices=E5_BACKENDS, help="e5 backends to run, one after the other")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    OUT.mkdir(parents=True, exist_ok=True)
    for backend in args.e5_backend or [default_e5_backend()]:
        for n in args.tickets:
            r = run(n, args.seconds, args.profile, args.keep_index, backend)
            md = render(r)
            print(md, flush=True)
            (OUT / f"load-{n}-{args.profile}-{backend}.md").write_text(md + "\n")
            (OUT / f"load-{n}-{args.profile}-{backend}.json").write_text(json.dumps(r, indent=2, default=str))


if __name__ == "__main__":
    main()
