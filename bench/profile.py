"""Where one chat turn's time goes: cProfile of `POST /api/chat` through the real ASGI app, in process.

    python -m bench.profile [--turns 200] [--e5-backend onnx]

Builds the desk on a scratch data directory with the shipped FAQ and tickets (index and calibration
fitted as at a first start), warms up, then profiles ``--turns`` requests, each a new conversation
with a question of data/eval/questions.jsonl, through Starlette's TestClient (routing, validation,
JSON, the SQLite writes of the turn, the answer payload, logging). Prints the wall time per turn
and the functions by cumulative and own time, grouped into the parts of a turn; writes
bench/out/profile.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.datasets import ROOT
from indexer.embedders import E5_BACKENDS

OUT = ROOT / "bench" / "out"

# a turn's parts: cumulative time of their entry points (file, function); nested parts overlap
PARTS = [
    ("encode USE", "indexer/embedders.py", "encode", "UseEmbedder"),
    ("encode e5", "indexer/embedders.py", "encode", "E5"),
    ("all retrieval (encode, search, lexical)", "bot/flow/answering.py", "retrieve", ""),
    ("lexical signal", "indexer/lexical.py", "", ""),
    ("storage (SQL)", "escalation/storage/database.py", "", ""),
    ("incident watch", "escalation/incidents.py", "", ""),
    ("PII redaction", "knowledge/pii.py", "find_pii", ""),
]

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=200)
    ap.add_argument("--e5-backend", choices=E5_BACKENDS)
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    from bot.settings import DEFAULT_RATE_LIMITS, Settings
    from bot.web.app import create_app

    questions = [json.loads(line)["question"] for line in (ROOT / "data/eval/questions.jsonl").open()]
    tmp = Path(tempfile.mkdtemp(prefix="helpdesk-profile-"))
    try:
        settings = Settings(
            data_dir=tmp,
            faq_dir=ROOT / "data" / "faq",
            tickets_dir=ROOT / "data" / "tickets",
            e5_backend=args.e5_backend,
            rate_limits={name: "0/minute" for name in DEFAULT_RATE_LIMITS},
        )
        app = create_app(settings)
        prof = cProfile.Profile()
        inside = [0.0]
        with TestClient(app) as client:
            for q in questions[:20]:
                client.post("/api/chat", json={"message": q})
            runtime = app.state.services.runtime
            while not runtime.calibration_status()["current"] or runtime.calibration_status()["fitting"]:
                time.sleep(1)  # a first start fits the calibration in the background: not a turn's cost
            chat = app.state.services.chat
            handle = chat.handle

            def profiled(*a: Any, **kw: Any) -> Any:  # the turn runs in a worker thread: profile it there
                t0 = time.perf_counter()
                prof.enable()
                try:
                    return handle(*a, **kw)
                finally:
                    prof.disable()
                    inside[0] += time.perf_counter() - t0

            chat.handle = profiled
            turns = [questions[i % len(questions)] for i in range(args.turns)]
            t = time.perf_counter()
            for q in turns:
                r = client.post("/api/chat", json={"message": q})
                assert r.status_code == 200, r.text
            wall = (time.perf_counter() - t) / len(turns) * 1000
            in_turn = inside[0] / len(turns) * 1000
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stats = pstats.Stats(prof)
    raw = stats.stats  # type: ignore[attr-defined]
    lines = [
        f"{len(turns)} turns of `POST /api/chat` (new conversation each), e5 on "
        f"{args.e5_backend or 'the default backend'}: {wall:.1f} ms per request (wall), of which "
        f"{in_turn:.1f} ms in `ChatService.handle` (profiled) and {wall - in_turn:.1f} ms in the web stack "
        "(routing, validation, JSON, the test client)\n",
        "| part (cumulative time of its entry points; nested parts overlap) | ms per turn | share |",
        "|---|---|---|",
    ]
    for name, path_part, fn_part, _cls in PARTS:
        entries = [
            (key, ct)
            for key, (_cc, _nc, _tt, ct, callers) in raw.items()
            if path_part in key[0] and fn_part in key[2]
            and not any(path_part in c[0] and fn_part in c[2] for c in callers)  # outermost calls only
        ]
        ms = sum(ct for _k, ct in entries) / len(turns) * 1000
        lines.append(f"| {name} | {ms:.1f} | {ms / in_turn:.0%} |")
    md = "\n".join(lines)
    print(md)
    stats.sort_stats("cumulative").print_stats(30)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "profile.md").write_text(md + "\n")


if __name__ == "__main__":
    main()
