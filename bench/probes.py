"""Recall and latency of the tickets index at several probe counts, on an index bench.load built.

    python -m bench.probes --tickets 1000000

Ground truth is exact search over the index's own (8-bit) vectors, so this isolates the loss from
probing; bench.load measures recall against the original vectors.
"""

from __future__ import annotations

import argparse
import json
import time

import faiss
import numpy as np

from bench.datasets import ROOT
from indexer.embedders import UseEmbedder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--probes", type=int, nargs="+", default=[24, 48, 64, 83, 96, 128])
    args = ap.parse_args()
    work = ROOT / "bench" / "out" / "load" / f"n{args.tickets}"
    root = work / "state" / "index" / "tickets"
    folder = next(p for p in root.iterdir() if not p.name.startswith("."))
    index = faiss.read_index(str(folder / "use-multilingual-v3.faiss"))
    ivf = faiss.extract_index_ivf(index)
    ivf.make_direct_map()
    exact = faiss.IndexFlatIP(index.d)
    exact.add(index.reconstruct_n(0, index.ntotal))
    questions = [json.loads(line)["question"] for line in (ROOT / "data/eval/questions.jsonl").open()][:300]
    with (work / "tickets" / "synthetic.jsonl").open() as fh:
        tickets = [json.loads(next(fh))["question"] + " again" for _ in range(200)]
    queries = UseEmbedder().encode(questions + tickets)
    _, truth = exact.search(queries, 10)
    print(
        f"| nprobe (of {ivf.nlist:,} lists) | recall@10 vs exact over stored vectors | p50 | p99 |\n|---|---|---|---|"
    )
    for nprobe in args.probes:
        ivf.nprobe = nprobe
        lat, got = [], []
        for q in queries:
            t = time.perf_counter()
            _, ids = index.search(q[None], 10)
            lat.append((time.perf_counter() - t) * 1000)
            got.append(ids[0])
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth, strict=True)])
        print(
            f"| {nprobe} | {recall:.3f} | {np.percentile(lat, 50):.2f} ms | {np.percentile(lat, 99):.2f} ms |"
        )


if __name__ == "__main__":
    main()
