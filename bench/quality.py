"""Answer-quality benchmark: ours beside the baselines, in one run, on questions none of them was fitted on.

    python -m bench.quality                          # every task
    python -m bench.quality --tasks honest banking77
    python -m bench.quality --tuned                  # also with e5 fine-tuned on each knowledge base

Tasks:

- ``honest``: the shipped FAQ; the honest test set (``data/eval/honest-test.jsonl``, written blind
  to the FAQ's questions and titles) per language, style and category, plus cross-lingual; the
  honest dev set and the original set (``data/eval/questions.jsonl``) reported beside it.
- ``banking77``, ``hwu64``: an FAQ built from 5 training utterances per intent, 20% of the intents
  held out as out-of-scope; ``afqmc``: Chinese paraphrase pairs.

Calibration modes: ``faq-only`` (the desk's own: leave-one-out over the FAQ's questions, no
labelled question from the task) and, for the public sets, ``labelled-dev`` (fitted on the task's
labelled dev split instead). Every baseline's threshold is fitted in the same mode with the same
guarantee. Reported on test: top-1, answer precision, coverage (answered right / in scope),
out-of-scope handoff, clarify rate, and the precision lower bound the calibration claimed.
Embeddings are cached under bench/out/cache, so a rerun only embeds new texts.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.datasets import ROOT, Task, afqmc, banking77, honest, hwu64
from bot.calibration import augment
from bot.calibration.evalset import LabelledQuestion
from bot.calibration.evaluation import metrics, run
from bot.calibration.examples import Example, from_outcomes, leave_one_out
from bot.calibration.fitting import ASSUMED_OOS_SHARE, fit, is_correct, logistic_with_oof, overlaps
from bot.calibration.guarantee import choose_threshold_mixture, point_threshold
from bot.calibration.model import Calibration
from indexer.build import build_store
from indexer.cache import encode_cached
from indexer.embedders import E5_BACKENDS, Embedder, load_embedders
from indexer.lexical import Terms
from indexer.search import BM25, LEXICAL, HybridWeights, Retriever
from knowledge.corpus import KnowledgeBase
from knowledge.tickets import Ticket

OUT = ROOT / "bench" / "out"
CACHE = OUT / "cache"
ALPHA, DELTA = 0.05, 0.05


def encode(embedders: Sequence[Embedder], texts: list[str]) -> dict[str, np.ndarray]:
    return encode_cached(embedders, texts, CACHE)


def retriever_for(kb: KnowledgeBase, embedders: Sequence[Embedder]) -> Retriever:
    return Retriever(build_store(kb, embedders, CACHE), embedders, HybridWeights({}), terms=Terms(kb.key_terms()))


@dataclass
class Row:
    system: str
    m: dict[str, float]


@dataclass
class Result:
    task: str
    mode: str
    note: str
    rows: list[Row]
    breakdown: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def calibration_examples(retriever: Retriever, task: Task, mode: str) -> list[Example]:
    if mode == "faq-only":
        return leave_one_out(retriever, augment.STYLES, cross=task.bilingual)
    return [
        Example(q.question, q.lang, q.expected, "labelled", f"l-{q.qid}", "customer") for q in task.dev
    ]


def fit_ours(retriever: Retriever, task: Task, mode: str, embedders: Sequence[Embedder]) -> Calibration:
    exs = calibration_examples(retriever, task, mode)
    vecs = encode(embedders, [e.text for e in exs])
    return fit(retriever, exs, vecs, ALPHA, DELTA, ASSUMED_OOS_SHARE)


def baseline(
    retriever: Retriever, signal: str, task: Task, mode: str, embedders: Sequence[Embedder]
) -> tuple[dict[str, float], float]:
    """Nearest neighbour on one signal (over the FAQ's questions, as an FAQ bot does); answers when its
    top score clears a threshold fitted in ``mode`` with the same guarantee as ours. Returns the
    test metrics and the precision lower bound it claimed."""
    weights = HybridWeights({signal: 1.0})
    exs = calibration_examples(retriever, task, mode)
    vecs = encode(embedders, [e.text for e in exs])
    scored = retriever.score([e.text for e in exs], vecs, [e.lang for e in exs], [e.exclusion for e in exs])
    rs = [retriever.rank(e.text, s, 5, weights) for e, s in zip(exs, scored, strict=True)]
    correct = [is_correct(r, e) for r, e in zip(rs, exs, strict=True)]
    covered = overlaps(rs, exs, 0.0)  # a baseline has no notion of overlap: only exact ties count
    keep = [i for i, c in enumerate(correct) if c is not None]
    for i in keep:
        if exs[i].source == "absent" and rs[i].candidates[0].entry_id in covered.get((exs[i].text, exs[i].group), ()):
            correct[i] = None
    keep = [i for i, c in enumerate(correct) if c is not None]
    x = np.array([[rs[i].candidates[0].score if rs[i].candidates else 0.0] for i in keep])
    y = np.array([1 if correct[i] else 0 for i in keep])
    oos = np.array([exs[i].expected is None for i in keep])
    weight = np.where(oos, (ASSUMED_OOS_SHARE / (1 - ASSUMED_OOS_SHARE)) * (~oos).sum() / max(1, oos.sum()), 1.0)
    model, oof = logistic_with_oof(x, y, [exs[i].group for i in keep], ["top"], weight)
    origin = np.array([exs[i].origin or exs[i].group for i in keep])
    g = choose_threshold_mixture(
        oof[~oos], y[~oos] == 1, oof[oos], ASSUMED_OOS_SHARE, ALPHA, DELTA, origin_in=origin[~oos], origin_oos=origin[oos]
    )
    pt = point_threshold(oof[~oos], y[~oos] == 1, oof[oos], ASSUMED_OOS_SHARE, ALPHA)
    tv = encode(embedders, [q.question for q in task.test])
    trs = retriever.search_encoded([q.question for q in task.test], tv, 1, [q.lang for q in task.test], weights=weights)
    p = model.predict(np.array([[r.candidates[0].score if r.candidates else 0.0] for r in trs]))
    ins = np.array([q.expected is not None for q in task.test])
    right = np.array([bool(q.expected) and bool(r.candidates) and r.candidates[0].entry_id == q.expected for r, q in zip(trs, task.test, strict=True)])
    ans = p >= g.threshold
    ans_pt = p >= pt
    return {
        "pt_precision": float(right[ans_pt].mean()) if ans_pt.any() else float("nan"),
        "pt_coverage": float((ans_pt & right).sum() / max(1, ins.sum())),
        "n_in": float(ins.sum()),
        "n_oos": float((~ins).sum()),
        "top1": float(right[ins].mean()) if ins.any() else float("nan"),
        "answer_precision": float(right[ans].mean()) if ans.any() else float("nan"),
        "coverage": float((ans & right).sum() / max(1, ins.sum())),
        "oos_handoff": float((~ans[~ins]).mean()) if (~ins).any() else float("nan"),
        "clarify_rate": 0.0,
        "claimed": g.precision_lower_bound if g.answering else float("nan"),
    }, g.threshold


def ours(
    retriever: Retriever, cal: Calibration, questions: Sequence[LabelledQuestion], embedders: Sequence[Embedder]
) -> tuple[dict[str, float], list[Any]]:
    out = run(retriever, cal, questions, encode(embedders, [q.question for q in questions]))
    m = metrics(out)
    pt = cal.meta.get("point_threshold", 2.0)
    pts = [o for o in out if o.p_top >= pt]
    n_in = sum(1 for o in out if o.in_scope)
    m["pt_precision"] = float(np.mean([o.top_right for o in pts])) if pts else float("nan")
    m["pt_coverage"] = sum(1 for o in pts if o.top_right) / max(1, n_in)
    g = cal.meta.get("guarantee", {})
    m["claimed"] = g.get("precision_lower_bound", float("nan")) if g.get("threshold", 2) <= 1 else float("nan")
    return m, out


def breakdown(outcomes: Sequence[Any], key: Callable[[LabelledQuestion], str]) -> list[dict[str, Any]]:
    groups: dict[str, list[Any]] = {}
    for o in outcomes:
        groups.setdefault(key(o.question), []).append(o)
    rows = []
    for name in sorted(groups):
        m = metrics(groups[name])
        rows.append({"group": name, "n": len(groups[name]), **m})
    return rows


def after_agents(task: Task, embedders: list[Embedder]) -> dict[str, float]:
    """The honest-dev conversations resolved by agents, then the test set: in-scope ones linked to their
    entry (one more question each), out-of-scope ones resolved without an entry (outcomes)."""
    dev = task.also["honest-dev"]
    tickets = [
        Ticket(f"dev-{q.qid}", q.question, "(the agent's reply)", q.lang, "2026-12-01T00:00:00Z", q.expected)  # type: ignore[arg-type]
        for q in dev
        if q.expected
    ]
    kb = KnowledgeBase(task.kb.entries, [*task.kb.tickets, *tickets])
    r = retriever_for(kb, embedders)
    exs = leave_one_out(r, augment.STYLES, cross=True) + from_outcomes(
        [(q.question, q.lang, None, None) for q in dev if q.expected is None]
    )
    cal = fit(r, exs, encode(embedders, [e.text for e in exs]), ALPHA, DELTA, ASSUMED_OOS_SHARE)
    return ours(r, cal, task.test, embedders)[0]


def tuned_row(task: Task, embedders: list[Embedder]) -> dict[str, float]:
    """e5 fine-tuned on the task's FAQ, calibrated by cross-fitting (``helpdesk tune``)."""
    from bot.calibration.crossfit import tune_and_calibrate
    from indexer.embedders import E5Embedder, default_model_cache
    from indexer.models.e5_rebuild import ensure_folder
    from indexer.tuning import TuneConfig

    folder = OUT / "tuned" / f"e5-tuned-{task.name}"
    desk = tune_and_calibrate(
        task.kb, ensure_folder(default_model_cache()), embedders[:1], folder, TuneConfig(), cache=CACHE, reuse=True
    )
    tuned = [embedders[0], E5Embedder(folder, f"multilingual-e5-small+{folder.name}")]
    r = retriever_for(task.kb, tuned)
    m = ours(r, desk.calibration, task.test, tuned)[0]
    m["tune_seconds"] = sum(rep.seconds for rep in desk.reports)
    return m


def evaluate(task: Task, embedders: list[Embedder], modes: Sequence[str], tuned: bool = False) -> list[Result]:
    results = []
    retriever = retriever_for(task.kb, embedders)
    names = [e.name for e in embedders]
    for mode in modes:
        started = time.perf_counter()
        cal = fit_ours(retriever, task, mode, embedders)
        rows = []
        for label, signal in (("char 1-3-gram TF-IDF", LEXICAL), ("BM25", BM25), ("USE-multilingual", names[0]), ("e5-small", names[1])):
            m, _t = baseline(retriever, signal, task, mode, embedders)
            rows.append(Row(f"baseline: {label} NN", m))
        m, outs = ours(retriever, cal, task.test, embedders)
        rows.append(Row("ours: USE + e5 + lexical, questions + passages, calibrated", m))
        if mode == "faq-only" and "honest-dev" in task.also:
            n = len(task.also["honest-dev"])
            rows.append(Row(f"ours, after agents resolved the {n} honest-dev conversations", after_agents(task, embedders)))
        if mode == "faq-only" and tuned and task.name != "afqmc":
            rows.append(Row("ours, e5 tuned on the FAQ (`helpdesk tune`, cross-fitted calibration)", tuned_row(task, embedders)))
        res = Result(task.name, mode, task.note, rows, extra={"guarantee": cal.meta.get("guarantee_text"), "examples": cal.meta.get("examples_by_source"), "thresholds": cal.thresholds.__dict__})
        if task.name == "honest":
            res.breakdown["language"] = breakdown(outs, lambda q: q.lang)
            res.breakdown["style"] = breakdown(outs, lambda q: q.style)
            res.breakdown["category"] = breakdown(outs, lambda q: q.category)
            for name, qs in task.also.items():
                res.extra[name] = ours(retriever, cal, qs, embedders)[0]
            res.extra["cross-lingual"] = cross_lingual(task, embedders, cal, retriever)
        res.seconds = round(time.perf_counter() - started, 1)
        results.append(res)
    return results


def cross_lingual(task: Task, embedders: list[Embedder], cal: Calibration, full: Retriever) -> dict[str, dict[str, float]]:
    """Each test question asked against an FAQ holding only the other language, with a calibration that
    counts its cross-lingual leave-one-out examples (the situation of an untranslated entry)."""
    exs = leave_one_out(full, augment.STYLES, cross=True)
    xcal = fit(full, exs, encode(embedders, [e.text for e in exs]), ALPHA, DELTA, ASSUMED_OOS_SHARE, cross_in_threshold=True)
    out = {}
    for lang, other in (("en", "zh"), ("zh", "en")):
        part = task.kb.only(other)
        qs = [q for q in task.test if q.lang == lang and (q.expected is None or q.expected in part.entries)]
        r = retriever_for(part, embedders)
        m, _ = ours(r, xcal, qs, embedders)
        out[f"{lang} questions -> {other}-only FAQ"] = m
    return out


COLS = [
    ("top1", "top-1"),
    ("answer_precision", "answer precision"),
    ("coverage", "coverage"),
    ("oos_handoff", "OOS handoff"),
    ("clarify_rate", "clarify"),
    ("claimed", "claimed precision ≥"),
    ("pt_precision", "precision, point-estimate threshold"),
    ("pt_coverage", "coverage, point-estimate threshold"),
]


def fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "—"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def table(rows: list[tuple[str, dict[str, float]]], cols: list[tuple[str, str]] = COLS, first: str = "system") -> list[str]:
    lines = [f"| {first} | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, m in rows:
        lines.append(f"| {name} | " + " | ".join(fmt(m.get(c[0])) for c in cols) + " |")
    return lines


def render(results: list[Result]) -> str:
    lines: list[str] = []
    for r in results:
        lines.append(f"\n### {r.task}, calibration {r.mode}\n\n{r.note}; {r.seconds} s\n")
        lines += table([(row.system, row.m) for row in r.rows])
        lines.append(f"\nOurs: {r.extra.get('guarantee')}\n")
        for name in ("honest-dev", "original"):
            if name in r.extra:
                lines += [f"\nSame calibration on the {name} set:\n"] + table([("ours", r.extra[name])])
        if "cross-lingual" in r.extra:
            lines += ["\nCross-lingual (test questions against an FAQ holding only the other language):\n"]
            lines += table(list(r.extra["cross-lingual"].items()), first="setting")
        for kind, rows in r.breakdown.items():
            cols = [("n", "n"), *COLS[:5]]
            lines += [f"\nPer {kind} (test):\n"] + table([(row["group"], row) for row in rows], cols, kind)
    return "\n".join(lines)


TASKS: dict[str, Callable[[], Task]] = {"honest": honest, "banking77": banking77, "hwu64": hwu64, "afqmc": afqmc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--tuned", action="store_true", help="Also evaluate with e5 fine-tuned on each task's FAQ.")
    ap.add_argument("--e5-backend", choices=E5_BACKENDS, help="How e5 runs (default: the product's default).")
    args = ap.parse_args()
    embedders = load_embedders(e5_backend=args.e5_backend)
    suffix = f"-{args.e5_backend}" if args.e5_backend else ""
    results: list[Result] = []
    for name in args.tasks:
        task = TASKS[name]()
        modes = ["faq-only"] if name == "honest" else ["faq-only", "labelled-dev"]
        for res in evaluate(task, embedders, modes, args.tuned):
            results.append(res)
            print(render([res]), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"quality{suffix}.json").write_text(
        json.dumps([r.__dict__ for r in results], indent=2, default=lambda o: o.__dict__)
    )
    (OUT / f"quality{suffix}.md").write_text(render(results) + "\n")
    print(f"\nwritten {OUT / f'quality{suffix}.md'}")


if __name__ == "__main__":
    main()
