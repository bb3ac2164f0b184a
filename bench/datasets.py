"""Benchmark tasks: the product's own eval set and public sets from ../shared/datasets (read in place)."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bot.calibration.evalset import LabelledQuestion, load_questions, split_of
from knowledge.corpus import KnowledgeBase, load_knowledge
from knowledge.faq import FaqEntry
from knowledge.tickets import Ticket

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"


@dataclass
class Task:
    name: str
    kb: KnowledgeBase
    dev: list[LabelledQuestion]
    test: list[LabelledQuestion]
    # linked-ticket questions held back for the learning curve: (entry id, question)
    learnable: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""
    also: dict[str, list[LabelledQuestion]] = field(default_factory=dict)  # further sets, same calibration
    bilingual: bool = False


NO_ANSWER = "…"  # intent sets have no answer text: no passages are made from it (and none leak the label)


def honest() -> Task:
    """The shipped FAQ, the honest test set; honest dev and the original set reported beside it."""
    kb = load_knowledge(ROOT / "data" / "faq", [ROOT / "data" / "tickets"])
    ev = ROOT / "data" / "eval"
    test = load_questions(ev / "honest-test.jsonl")
    n_in = sum(1 for q in test if q.expected)
    return Task(
        "honest",
        kb,
        [],
        test,
        note=(
            f"shipped FAQ ({len(kb.entries)} entries x en/zh) + {len(kb.tickets)} tickets; honest test set: "
            f"{n_in} in-scope, {len(test) - n_in} out-of-scope questions written blind to the FAQ's questions and titles"
        ),
        also={
            "honest-dev": load_questions(ev / "honest-dev.jsonl"),
            "original": load_questions(ev / "questions.jsonl"),
        },
        bilingual=True,
    )


def _entry(intent: str, examples: list[str]) -> FaqEntry:
    eid = intent.replace("_", "-").lower()
    return FaqEntry(eid, "en", examples[0], tuple(examples[1:]), NO_ANSWER)


def intent_task(
    name: str,
    train: list[tuple[str, str]],
    test: list[tuple[str, str]],
    k: int = 5,
    holdout: float = 0.2,
    dev_per_intent: int = 20,
    dev_oos_per_intent: int = 25,
    learn_per_intent: int = 20,
    seed: int = 0,
) -> Task:
    """K examples per intent as one FAQ entry; 20% of intents held out as out-of-scope.

    Held-out intents are split in two: one half gives the dev split's out-of-scope questions,
    the other half the test split's, so thresholds never see a test out-of-scope intent.
    """
    rng = random.Random(seed)
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in train:
        by_intent[intent].append(text)
    intents = sorted(by_intent)
    held = sorted(rng.sample(intents, round(holdout * len(intents))))
    dev_oos, test_oos = set(held[: len(held) // 2]), set(held[len(held) // 2 :])
    entries: dict[str, dict[str, FaqEntry]] = {}
    dev: list[LabelledQuestion] = []
    learnable: list[tuple[str, str]] = []
    for intent in intents:
        texts = by_intent[intent][:]
        rng.shuffle(texts)
        if intent in dev_oos:
            dev += [
                LabelledQuestion(f"{intent}-d{i}", t, "en", None)
                for i, t in enumerate(texts[:dev_oos_per_intent])
            ]
            continue
        if intent in test_oos:
            continue
        e = _entry(intent, texts[:k])
        entries[e.id] = {"en": e}
        dev += [
            LabelledQuestion(f"{intent}-d{i}", t, "en", e.id)
            for i, t in enumerate(texts[k : k + dev_per_intent])
        ]
        start = k + dev_per_intent
        learnable += [(e.id, t) for t in texts[start : start + learn_per_intent]]
    tests = []
    for i, (text, intent) in enumerate(test):
        if intent in dev_oos:
            continue  # seen as out-of-scope on dev: not a fair test of unseen topics
        expected = None if intent in test_oos else intent.replace("_", "-").lower()
        tests.append(LabelledQuestion(f"t{i}", text, "en", expected))
    note = (
        f"{len(entries)} intents x {k} examples as FAQ; {len(held)} intents out-of-scope "
        f"({len(dev_oos)} for dev, {len(test_oos)} for test)"
    )
    return Task(name, KnowledgeBase(entries, []), dev, tests, learnable, note)


def _rows(path: Path, text: str, label: str) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [(r[text], r[label]) for r in csv.DictReader(fh)]


def banking77() -> Task:
    d = SHARED / "banking77"
    return intent_task(
        "banking77", _rows(d / "train.csv", "text", "category"), _rows(d / "test.csv", "text", "category")
    )


def hwu64() -> Task:
    with (SHARED / "hwu64" / "hwu64_kfold1.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    train = [(r["text"], r["intent"]) for r in rows if r["split"] == "train"]
    test = [(r["text"], r["intent"]) for r in rows if r["split"] == "test"]
    return intent_task("hwu64", train, test)


def afqmc() -> Task:
    """Chinese paraphrase retrieval: sentence1 of positive pairs is the FAQ; sentence2 asks it.

    Sentence2 of negative pairs are asked as out-of-scope questions (near-domain: all pairs are
    about the same two credit products, so this is a hard, noisy out-of-scope set).
    """
    with (SHARED / "afqmc" / "dev.csv").open(encoding="utf-8") as fh:
        pairs = [(r["sentence1"].strip(), r["sentence2"].strip(), r["label"]) for r in csv.DictReader(fh)]
    ids: dict[str, str] = {}
    entries: dict[str, dict[str, FaqEntry]] = {}
    for s1, _s2, label in pairs:
        if label == "1" and s1 not in ids:
            ids[s1] = f"q{len(ids)}"
            entries[ids[s1]] = {"zh": FaqEntry(ids[s1], "zh", s1, (), NO_ANSWER)}
    dev: list[LabelledQuestion] = []
    test: list[LabelledQuestion] = []
    for i, (s1, s2, label) in enumerate(pairs):
        if s2 in ids:
            continue  # the question is itself an FAQ entry
        q = LabelledQuestion(f"p{i}", s2, "zh", ids[s1] if label == "1" else None)
        (dev if split_of(q.qid) == "dev" else test).append(q)
    return Task(
        "afqmc",
        KnowledgeBase(entries, list[Ticket]()),
        dev,
        test,
        note=f"{len(entries)} positive-pair sentence1 as FAQ; negatives' sentence2 as out-of-scope",
    )
