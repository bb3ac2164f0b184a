"""Labelled questions for calibration and benchmarks, with a deterministic dev/test split."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from knowledge.lang import detect_language

Split = Literal["dev", "test"]


@dataclass(frozen=True)
class LabelledQuestion:
    qid: str
    question: str
    lang: str
    expected: str | None  # None: out of scope, must be handed off
    cross_lingual: bool = False
    category: str = "in_scope"  # in_scope | out_of_scope | near_domain | off_topic | risky_* ...
    style: str = "plain"  # plain | colloquial | keywords | typo | long | error | mixed


def split_of(qid: str, dev_share: float = 0.5) -> Split:
    """Stable split by hash of the question id: the same question is always on the same side."""
    h = int(hashlib.sha256(qid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "dev" if h < dev_share else "test"


def load_questions(path: Path, split: Split | None = None) -> list[LabelledQuestion]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        q = LabelledQuestion(
            qid=d["qid"],
            question=d["question"],
            lang=d.get("lang") or detect_language(d["question"]),
            expected=d.get("expected"),
            cross_lingual=bool(d.get("cross_lingual", False)),
            category=d.get("category", "in_scope" if d.get("expected") else "out_of_scope"),
            style=d.get("style", "plain"),
        )
        if split is None or split_of(q.qid) == split:
            out.append(q)
    return out
