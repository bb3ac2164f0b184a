"""Question clustering for the content-gap loop: which vectors and which threshold group questions
that ask the same thing.

    python -m bench.gaps

The threshold of each representation is chosen on banking77's train split (1,000 utterances, 77
intents, sampled with seed 0) by pairwise F1 and reported, fixed, on banking77 test (1,000) and on the
project's honest test set (in-scope questions, grouped by their FAQ entry: a harder task, one entry
covers several needs). "centred": vectors minus the sample's mean direction before the cosine.
"""

from __future__ import annotations

import csv
import json
import random

import numpy as np

from bench.datasets import ROOT
from indexer.clustering import communities, normalise, pairwise_scores
from indexer.embedders import load_embedders

SHARED = ROOT.parent / "shared" / "datasets"
THRESHOLDS = [round(float(t), 3) for t in np.arange(0.3, 0.96, 0.025)]


def banking77(split: str, n: int = 1000) -> tuple[list[str], list[str]]:
    with (SHARED / "banking77" / f"{split}.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(0).shuffle(rows)
    return [r["text"] for r in rows[:n]], [r["category"] for r in rows[:n]]


def honest() -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (ROOT / "data" / "eval" / "honest-test.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if r["expected"]]
    return [r["question"] for r in rows], [r["expected"] for r in rows]


def main() -> None:
    sets = {"banking77-train": banking77("train"), "banking77-test": banking77("test"), "honest-test": honest()}
    embedders = load_embedders()
    reps: dict[str, dict[str, np.ndarray]] = {name: {} for name in sets}
    for name, (texts, _) in sets.items():
        for e in embedders:
            v = normalise(e.encode(texts))
            reps[name][e.name] = v
            reps[name][e.name + " centred"] = v - v.mean(axis=0)
    print(f"{'vectors':34} {'threshold':>9} {'set':16} {'clusters':>8} {'pair P':>7} {'pair R':>7} {'pair F1':>7} {'purity':>7}")
    for rep in reps["banking77-train"]:
        train_texts, train_labels = sets["banking77-train"]
        best = max(THRESHOLDS, key=lambda t: pairwise_scores(communities(reps["banking77-train"][rep], t), train_labels)["pair_f1"])
        for name, (_, labels) in sets.items():
            cl = communities(reps[name][rep], best)
            s = pairwise_scores(cl, labels)
            print(
                f"{rep:34} {best:>9} {name:16} {len(cl):>8} {s['pair_precision']:>7.3f} {s['pair_recall']:>7.3f} "
                f"{s['pair_f1']:>7.3f} {s['purity']:>7.3f}"
            )


if __name__ == "__main__":
    main()
