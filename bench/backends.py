"""e5 backends side by side in one run: torch, ONNX fp32 and ONNX int8 (the product's own embedders).

    python -m bench.backends [--threads 1 2]

Per backend and thread count: batched rate (the honest test questions in batches of 32), one question
at a time (p50 / p99 over 150 questions), and agreement with torch (cosine of the same question's
vectors: mean and minimum). Quality on the benchmark sets is ``bench.quality --e5-backend``.
Results go to bench/out/backends.md.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench.datasets import ROOT
from indexer.embedders import E5Embedder, Embedder, OnnxE5Embedder, default_model_cache
from indexer.models.e5_rebuild import ensure_folder

OUT = ROOT / "bench" / "out"


def measure(e: Embedder, questions: list[str], ref: np.ndarray) -> dict[str, float]:
    e.encode(questions[:64])  # warm up
    t = time.perf_counter()
    v = np.vstack([e.encode(questions[i : i + 32]) for i in range(0, len(questions), 32)])
    batched = len(questions) / (time.perf_counter() - t)
    lat = []
    for q in questions[:150]:
        t = time.perf_counter()
        e.encode([q])
        lat.append((time.perf_counter() - t) * 1000)
    cos = (v * ref).sum(1)
    return {
        "batched/s": batched,
        "single p50 ms": float(np.percentile(lat, 50)),
        "single p99 ms": float(np.percentile(lat, 99)),
        "cosine to torch mean": float(cos.mean()),
        "cosine to torch min": float(cos.min()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    import torch

    questions = [json.loads(line)["question"] for line in (ROOT / "data/eval/honest-test.jsonl").open()]
    folder = ensure_folder(default_model_cache())
    reference = E5Embedder(folder)
    ref = reference.encode(questions)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        backends: list[tuple[str, Embedder]] = [
            ("torch", reference),
            ("onnx", OnnxE5Embedder(folder, quantized=False, threads=threads)),
            ("onnx-int8", OnnxE5Embedder(folder, quantized=True, threads=threads)),
        ]
        for name, e in backends:
            r = measure(e, questions, ref)
            rows.append((threads, name, r))
            print(threads, name, {k: round(v, 4) for k, v in r.items()}, flush=True)
    lines = [
        f"{len(questions)} honest-test questions (query prefix), one run\n",
        "| threads | backend | batched/s | single p50 ms | single p99 ms | cosine to torch mean / min |",
        "|---|---|---|---|---|---|",
    ]
    for threads, name, r in rows:
        lines.append(
            f"| {threads} | {name} | {r['batched/s']:.0f} | {r['single p50 ms']:.1f} | {r['single p99 ms']:.1f} | "
            f"{r['cosine to torch mean']:.4f} / {r['cosine to torch min']:.4f} |"
        )
    md = "\n".join(lines)
    print(md)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "backends.md").write_text(md + "\n")


if __name__ == "__main__":
    main()
