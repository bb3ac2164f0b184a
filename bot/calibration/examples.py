"""Calibration examples from what a knowledge base already has, with no labelled user questions.

Leave-one-out over the knowledge's own questions (titles, alternative questions, questions of
tickets agents linked to an entry):

- ``present``: the question asked with itself left out; its entry is the right answer;
- ``absent``: the question asked with its whole entry left out; the right answer is missing, so
  any answer is wrong. These are the hardest out-of-scope questions there are: same product, same
  words, and an entry that is not there;
- each asked again as customers write (``bot/calibration/augment.py``: typos, keywords, context);
- ``cross``: asked against only the other language's texts, for entries lacking a translation.

Real outcomes join them as they arrive: a question an agent resolved without any FAQ entry is
out of scope (``oos``), an answer the customer marked "not what I asked" was wrong (``rejected``),
and labelled questions (``labelled``, e.g. ``helpdesk calibrate --eval``) count as they are.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.calibration import augment
from indexer.search import Exclusion, Retriever
from knowledge.corpus import QUESTION_KINDS

Source = str  # present | absent | cross | cross-absent | oos | rejected | labelled


@dataclass(frozen=True)
class Example:
    text: str
    lang: str
    expected: str | None  # the right entry; None: no entry is right
    source: Source
    group: str  # examples sharing a group are never split across cross-validation folds
    style: str = "faq"  # faq | typo | keywords | long | customer
    exclusion: Exclusion | None = None
    rejected: str | None = None  # the entry known to be wrong (the customer said so)
    origin: str = ""  # the knowledge's own question this example was made from


def _other(lang: str) -> str:
    return "zh" if lang == "en" else "en"


def leave_one_out(
    retriever: Retriever,
    styles: Sequence[str] = augment.STYLES,
    cross: bool = True,
    max_questions: int = 3000,
    seed: int = 0,
) -> list[Example]:
    """Present and absent examples for each question of the knowledge, in each style."""
    docs = retriever.doc_index()
    langs_of: dict[str, set[str]] = {}
    for d in docs:
        if d.entry_id:
            langs_of.setdefault(d.entry_id, set()).add(d.lang)
    same_text: dict[tuple[str | None, str], list[int]] = {}
    for i, d in enumerate(docs):
        same_text.setdefault((d.entry_id, d.text), []).append(i)
    texts_of: dict[str, int] = {}
    for d in docs:
        if d.entry_id:
            texts_of[d.entry_id] = texts_of.get(d.entry_id, 0) + 1
    asked = [i for i, d in enumerate(docs) if d.kind in QUESTION_KINDS and d.entry_id]
    if len(asked) > max_questions:  # a huge knowledge base: a fixed random sample is enough
        asked = sorted(random.Random(seed).sample(asked, max_questions))
    out: list[Example] = []
    for i in asked:
        d = docs[i]
        assert d.entry_id is not None
        held = tuple(same_text[(d.entry_id, d.text)])
        variants = [("faq", d.text)]
        for style in styles:
            if style == "typo":
                variants.append((style, augment.typo(d.text)))
            elif style == "keywords":
                variants.append((style, augment.keywords(d.text, retriever.rarity, retriever.words)))
            elif style == "long":
                variants.append((style, augment.with_context(d.text)))
        group = d.entry_id
        alone = texts_of[d.entry_id] <= len(held)  # nothing of the entry would be left to find it by
        for style, text in dict((t, (s, t)) for s, t in variants).values():
            if not alone:
                out.append(
                    Example(text, d.lang, d.entry_id, "present", group, style, Exclusion(docs=held), origin=d.text)
                )
            out.append(Example(text, d.lang, None, "absent", group, style, Exclusion(entry=d.entry_id), origin=d.text))
            other = _other(d.lang)
            if cross and other in langs_of[d.entry_id] and style == "faq" and not alone:
                out.append(
                    Example(
                        text, d.lang, d.entry_id, "cross", group, style, Exclusion(docs=held, only_lang=other), origin=d.text
                    )
                )
                out.append(
                    Example(
                        text,
                        d.lang,
                        None,
                        "cross-absent",
                        group,
                        style,
                        Exclusion(entry=d.entry_id, only_lang=other),
                        origin=d.text,
                    )
                )
    return out


def from_outcomes(outcomes: Iterable[tuple[str, str, str | None, str | None]]) -> list[Example]:
    """Examples from what happened in conversations: ``(question, lang, right entry, rejected entry)``.

    ``right entry`` None and ``rejected`` None: an agent answered it without any FAQ entry (out of
    scope). ``rejected``: the customer said the answer from that entry was not what they asked.
    """
    out = []
    for n, (text, lang, right, rejected) in enumerate(outcomes):
        if rejected is not None:
            out.append(Example(text, lang, right, "rejected", f"outcome-{n}", "customer", None, rejected))
        elif right is None:
            out.append(Example(text, lang, None, "oos", f"outcome-{n}", "customer"))
        else:
            out.append(Example(text, lang, right, "labelled", f"outcome-{n}", "customer"))
    return out
