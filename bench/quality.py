"""Answer-quality benchmark: the product's eval set and public sets, ours beside the baselines.

    python -m bench.quality                # all tasks
    python -m bench.quality --tasks product banking77

For each task the calibration (ranking weights, confidence, thresholds) and every baseline's
threshold are fitted on the dev split only, and everything is reported on the test split.
Embeddings are cached under bench/out/cache, so a rerun only embeds new texts.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.datasets import ROOT, Task, afqmc, banking77, hwu64, product_task
from bot.calibration import expected_calibration_error, lowest_threshold
from bot.evalset import LabelledQuestion
from bot.evaluation import metrics, roc_auc, run
from bot.fitting import cross_lingual_conditions, fit_calibration
from indexer.build import build_store
from indexer.cache import EmbeddingCache
from indexer.embedders import Embedder, load_embedders
from indexer.search import HybridWeights, Retriever
from knowledge.corpus import Doc, KnowledgeBase

OUT = ROOT / "bench" / "out"
CACHE = OUT / "cache"
TARGET = 0.95


def encode(embedders: Sequence[Embedder], texts: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for e in embedders:
        cache = EmbeddingCache(CACHE, e.name, e.dim)
        out[e.name] = cache.embed(e, texts)
        cache.save()
    return out


@dataclass
class Row:
    system: str
    m: dict[str, float]


def oracle_coverage(p: np.ndarray, right: np.ndarray, in_scope: np.ndarray) -> float:
    """Best coverage at >= 95% answer precision with the threshold picked on the test set itself."""
    t = lowest_threshold(p, right.astype(float), TARGET, min_support=1)
    return float(((p >= t) & right).sum() / max(1, in_scope.sum()))


def baseline(retriever: Retriever, signal: str, task: Task, dv: dict, tv: dict) -> dict[str, float]:
    """Nearest neighbour on one signal; answer when its top score clears a dev-fitted threshold."""
    retriever.weights = HybridWeights({signal: 1.0})

    def tops(qs: list[LabelledQuestion], vecs: dict) -> tuple[np.ndarray, np.ndarray]:
        rs = retriever.search_encoded([q.question for q in qs], vecs, k=1)
        p = np.array([r.candidates[0].score if r.candidates else 0.0 for r in rs])
        right = np.array(
            [
                bool(q.expected) and bool(r.candidates) and r.candidates[0].entry_id == q.expected
                for r, q in zip(rs, qs, strict=True)
            ]
        )
        return p, right

    pd, rd = tops(task.dev, dv)
    t = lowest_threshold(pd, rd.astype(float), TARGET)
    p, right = tops(task.test, tv)
    ins = np.array([q.expected is not None for q in task.test])
    ans = p >= t
    return {
        "top1": float(right[ins].mean()),
        "coverage": float((ans & right).sum() / max(1, ins.sum())),
        "answer_precision": float(right[ans].mean()) if ans.any() else float("nan"),
        "oos_handoff": float((~ans[~ins]).mean()) if (~ins).any() else float("nan"),
        "auc": roc_auc(p, right.astype(int)),
        "ece": expected_calibration_error(np.clip(p, 0, 1), right.astype(float)),
        "oracle_coverage": oracle_coverage(p, right, ins),
        "clarify_rate": 0.0,
    }


def ours(retriever: Retriever, task: Task, dv: dict, tv: dict, lexical: bool = True) -> tuple[dict, object]:
    bilingual = len({q.lang for q in task.dev}) > 1
    extra = cross_lingual_conditions(task.kb, retriever.embedders, task.dev, dv, CACHE) if bilingual else []
    cal = fit_calibration(retriever, task.dev, TARGET, lexical=lexical, vectors=dv, extra=extra)
    out = run(retriever, cal, task.test, tv)
    m = metrics(out)
    p = np.array([o.p_top for o in out])
    right = np.array([o.top_right for o in out])
    ins = np.array([o.in_scope for o in out])
    m["oracle_coverage"] = oracle_coverage(p, right, ins)
    return m, cal


def sub(vecs: dict, names: Sequence[str]) -> dict:
    return {n: vecs[n] for n in names}


def evaluate_task(task: Task, embedders: list[Embedder], learning: bool) -> dict:
    started = time.perf_counter()
    store = build_store(task.kb, embedders, CACHE)
    names = [e.name for e in embedders]
    use, e5 = names
    dv = encode(embedders, [q.question for q in task.dev])
    tv = encode(embedders, [q.question for q in task.test])
    full = Retriever(store, embedders, HybridWeights({}))
    rows = [
        Row("baseline: char 1-3-gram TF-IDF NN", baseline(full, "lexical", task, dv, tv)),
        Row("baseline: USE-multilingual NN", baseline(full, use, task, dv, tv)),
        Row("baseline: e5-small NN", baseline(full, e5, task, dv, tv)),
    ]
    m, cal = ours(full, task, dv, tv)
    rows.append(Row("ours: USE + e5 + lexical, calibrated", m))
    only_use = Retriever(store, embedders[:1], HybridWeights({}))
    rows.append(
        Row("ablation: USE + lexical, calibrated", ours(only_use, task, sub(dv, [use]), sub(tv, [use]))[0])
    )
    only_e5 = Retriever(store, embedders[1:], HybridWeights({}))
    rows.append(
        Row("ablation: e5 + lexical, calibrated", ours(only_e5, task, sub(dv, [e5]), sub(tv, [e5]))[0])
    )
    rows.append(Row("ablation: USE + e5, no lexical, calibrated", ours(full, task, dv, tv, lexical=False)[0]))
    result = {
        "calibration": cal,
        "task": task.name,
        "note": task.note,
        "n_dev": len(task.dev),
        "n_test": len(task.test),
        "n_test_in": sum(1 for q in task.test if q.expected),
        "rows": [r.__dict__ for r in rows],
        "thresholds": cal.thresholds.__dict__,
        "ranking": cal.ranking.weights,  # type: ignore[attr-defined]
    }
    if learning and task.learnable:
        result["learning"] = learning_curve(task, embedders, cal, tv)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def learning_curve(task: Task, embedders: list[Embedder], cal: object, tv: dict) -> list[dict]:
    """Coverage as agents resolve tickets linked to entries (fed live, no rebuild, no re-calibration)."""
    store = build_store(task.kb, embedders, CACHE)
    retriever = Retriever(store, embedders, cal.ranking)  # type: ignore[attr-defined]
    by_entry: dict[str, list[str]] = {}
    for eid, text in task.learnable:
        by_entry.setdefault(eid, []).append(text)
    curve, fed = [], 0
    for step in (0, 2, 5, 10, 20):
        docs = [
            Doc(t, "en", "ticket", eid, f"L-{eid}-{i}")
            for eid, ts in by_entry.items()
            for i, t in enumerate(ts[fed:step])
        ]
        retriever.add_docs(docs)
        fed = step
        m = metrics(run(retriever, cal, task.test, tv))  # type: ignore[arg-type]
        curve.append(
            {
                "tickets_per_entry": step,
                "coverage": m["coverage"],
                "answer_precision": m["answer_precision"],
                "top1": m["top1"],
                "oos_handoff": m["oos_handoff"],
            }
        )
    return curve


def cross_lingual(task: Task, embedders: list[Embedder], cal: object) -> dict:
    """Questions marked cross_lingual, asked against an index holding only the other language."""
    out: dict[str, dict] = {}
    for lang in ("en", "zh"):
        other = "zh" if lang == "en" else "en"
        qs = [q for q in task.dev + task.test if q.cross_lingual and q.lang == lang]
        kb: KnowledgeBase = task.kb.only(other)
        retriever = Retriever(build_store(kb, embedders, CACHE), embedders, cal.ranking)
        vecs = encode(embedders, [q.question for q in qs])
        m = metrics(run(retriever, cal, qs, vecs))  # type: ignore[arg-type]
        retriever.weights = HybridWeights({embedders[0].name: 1.0})
        use_top1 = float(
            np.mean(
                [
                    r.candidates[0].entry_id == q.expected
                    for r, q in zip(
                        retriever.search_encoded([q.question for q in qs], vecs, 1), qs, strict=True
                    )
                ]
            )
        )
        retriever.weights = HybridWeights({"lexical": 1.0})
        tfidf_top1 = float(
            np.mean(
                [
                    r.candidates[0].entry_id == q.expected
                    for r, q in zip(
                        retriever.search_encoded([q.question for q in qs], vecs, 1), qs, strict=True
                    )
                ]
            )
        )
        out[f"{lang} questions -> {other}-only FAQ"] = {
            "n": len(qs),
            "top1": m["top1"],
            "coverage": m["coverage"],
            "answer_precision": m["answer_precision"],
            "use_nn_top1": use_top1,
            "tfidf_top1": tfidf_top1,
        }
    return out


COLS = [
    ("top1", "top-1"),
    ("coverage", "coverage@95 (dev thr.)"),
    ("answer_precision", "answer precision"),
    ("oos_handoff", "OOS handoff"),
    ("auc", "ROC AUC"),
    ("ece", "ECE"),
    ("oracle_coverage", "coverage@95 (test oracle)"),
    ("clarify_rate", "clarify"),
]


def fmt(v: float) -> str:
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def render(results: list[dict], xl: dict | None) -> str:
    lines = []
    for r in results:
        lines.append(
            f"\n### {r['task']}\n\n{r['note']}; dev {r['n_dev']} / test {r['n_test']} questions "
            f"({r['n_test_in']} in scope); {r['seconds']} s\n"
        )
        lines.append("| system | " + " | ".join(c[1] for c in COLS) + " |")
        lines.append("|---" * (len(COLS) + 1) + "|")
        for row in r["rows"]:
            lines.append(f"| {row['system']} | " + " | ".join(fmt(row["m"].get(c[0])) for c in COLS) + " |")
        if "learning" in r:
            lines.append("\nLearning from agents (linked tickets per entry fed live; calibration fixed):\n")
            lines.append(
                "| tickets/entry | top-1 | coverage | answer precision | OOS handoff |\n|---|---|---|---|---|"
            )
            for p in r["learning"]:
                lines.append(
                    f"| {p['tickets_per_entry']} | {fmt(p['top1'])} | {fmt(p['coverage'])} | "
                    f"{fmt(p['answer_precision'])} | {fmt(p['oos_handoff'])} |"
                )
    if xl:
        lines.append("\n### Cross-lingual (invoice-helpdesk eval, questions marked cross_lingual)\n")
        lines.append(
            "| setting | n | ours top-1 | ours coverage | ours answer precision | USE NN top-1 | TF-IDF top-1 |"
        )
        lines.append("|---|---|---|---|---|---|---|")
        for k, v in xl.items():
            lines.append(
                f"| {k} | {v['n']} | {fmt(v['top1'])} | {fmt(v['coverage'])} | {fmt(v['answer_precision'])} | "
                f"{fmt(v['use_nn_top1'])} | {fmt(v['tfidf_top1'])} |"
            )
    return "\n".join(lines)


TASKS: dict[str, Callable[[], Task]] = {
    "product": product_task,
    "banking77": banking77,
    "hwu64": hwu64,
    "afqmc": afqmc,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--no-learning", action="store_true", help="Skip the learning curves.")
    args = ap.parse_args()
    embedders = load_embedders()
    results = []
    xl = None
    for name in args.tasks:
        task = TASKS[name]()
        results.append(evaluate_task(task, embedders, not args.no_learning))
        print(render(results[-1:], None), flush=True)
        cal = results[-1].pop("calibration")
        if name == "product":
            xl = cross_lingual(task, embedders, cal)
    if xl:
        print(render([], xl))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "quality.json").write_text(
        json.dumps({"results": results, "cross_lingual": xl}, indent=2, default=str)
    )
    (OUT / "quality.md").write_text(render(results, xl) + "\n")
    print(f"\nwritten {OUT / 'quality.md'}")


if __name__ == "__main__":
    main()
