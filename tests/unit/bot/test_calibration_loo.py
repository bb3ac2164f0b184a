"""Leave-one-out calibration from a knowledge base's own questions, with the real models."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.calibration.examples import leave_one_out
from bot.calibration.fitting import fit
from indexer.build import build_store
from indexer.lexical import Terms
from indexer.search import Exclusion, HybridWeights, Retriever
from knowledge.corpus import load_knowledge
from tests.support import TINY, write_faq


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, embedders: list) -> Retriever:
    faq = write_faq(tmp_path_factory.mktemp("tiny") / "faq")
    kb = load_knowledge(faq)
    assert not kb.problems
    return Retriever(build_store(kb, embedders), embedders, HybridWeights({}), terms=Terms(kb.key_terms()))


def test_each_question_is_asked_with_itself_and_with_its_entry_left_out(tiny: Retriever) -> None:
    exs = leave_one_out(tiny, styles=(), cross=False)
    docs = tiny.doc_index()
    asked = [d for d in docs if d.kind in ("title", "question")]
    assert len(exs) == 2 * len(asked)  # every entry keeps passages, so every question has both
    for ex in exs:
        assert ex.origin and ex.group in TINY
        if ex.source == "present":
            assert ex.expected == ex.group and ex.exclusion is not None
            assert [docs[i].text for i in ex.exclusion.docs] == [ex.text]
        else:
            assert ex.source == "absent" and ex.expected is None
            assert ex.exclusion == Exclusion(entry=ex.group)


def test_left_out_texts_are_invisible(tiny: Retriever) -> None:
    q = TINY["webhooks"][1][0]
    vec = tiny.encode([q])
    held = tuple(i for i, d in enumerate(tiny.doc_index()) if d.text == q)
    e5 = tiny.embedders[1].name
    pos = tiny.entry_ids.index("webhooks")
    full, left_out, absent = tiny.score(
        [q, q, q],
        {n: np.repeat(v, 3, axis=0) for n, v in vec.items()},
        ["en"] * 3,
        [None, Exclusion(docs=held), Exclusion(entry="webhooks")],
    )
    assert full.signals[e5][pos] > 0.999  # it finds itself
    assert left_out.signals[e5][pos] < 0.99  # ... but not once left out
    assert left_out.present[pos] and not absent.present[pos]
    ranked = tiny.rank(q, absent, 10)
    assert "webhooks" not in [c.entry_id for c in ranked.candidates]


def test_an_entry_with_a_single_question_and_no_answer_text_gives_no_present_example(
    tmp_path: Path, embedders: list
) -> None:
    from knowledge.corpus import KnowledgeBase
    from knowledge.faq import FaqEntry

    kb = load_knowledge(write_faq(tmp_path / "faq"))
    lonely = FaqEntry("lonely", "en", "What is a pro-forma invoice?", (), "…")  # as afqmc-style sets are built
    kb = KnowledgeBase({**kb.entries, "lonely": {"en": lonely}}, [])
    r = Retriever(build_store(kb, embedders), embedders, HybridWeights({}), terms=Terms())
    exs = leave_one_out(r, styles=(), cross=False)
    lonely = [e for e in exs if e.group == "lonely"]
    assert [e.source for e in lonely] == ["absent"]  # nothing of it is left to find it by


def test_customer_like_variants_are_added(tiny: Retriever) -> None:
    exs = leave_one_out(tiny, styles=("typo", "keywords", "long"), cross=False)
    styles = {e.style for e in exs}
    assert styles == {"faq", "typo", "keywords", "long"}
    by_origin: dict[str, set[str]] = {}
    for e in exs:
        by_origin.setdefault(e.origin, set()).add(e.text)
    assert all(len(texts) >= 3 for texts in by_origin.values())  # variants differ from the question


def test_fit_on_a_tiny_knowledge_base_states_its_guarantee(tiny: Retriever) -> None:
    exs = leave_one_out(tiny, cross=False)
    cal = fit(tiny, exs)
    meta: dict[str, Any] = cal.meta
    g = meta["guarantee"]
    assert meta["examples"] == sum(meta["examples_by_source"].values())
    # the guarantee rests on questions, not examples (the wordings of one question are not
    # independent): one in-scope and one out-of-scope question per unit
    n_questions = len({e.origin for e in exs})
    assert g["in_scope"] <= n_questions and g["out_of_scope"] <= n_questions
    assert g["units"] == min(g["in_scope"], g["out_of_scope"] or g["in_scope"])
    assert g["in_wordings"] >= g["in_scope"] and g["oos_share"] == pytest.approx(0.2)
    if g["threshold"] <= 1:
        assert g["precision_lower_bound"] >= 0.95
    else:  # a few dozen questions rarely prove 95%: then the bot hands everything to a person
        assert "hands every question to a person" in meta["guarantee_text"]
    assert cal.ranking.weights and cal.p_top.coef


def test_overlapping_entries_are_confusable_and_not_counted_as_wrong(tmp_path: Path, embedders: list) -> None:
    twins = {
        **TINY,
        "credit-note-copy": (
            "How do I create a credit note?",
            ["How can I cancel an invoice I already sent to a customer?", "How do I reverse a whole invoice?"],
            "Open the invoice and choose **More › Create credit note** to reverse all of its lines.",
        ),
    }
    kb = load_knowledge(write_faq(tmp_path / "faq", twins))
    r = Retriever(build_store(kb, embedders), embedders, HybridWeights({}), terms=Terms(kb.key_terms()))
    cal = fit(r, leave_one_out(r, styles=(), cross=False))
    assert ["credit-note", "credit-note-copy"] in cal.confusable
    assert cal.meta["left_out_as_overlap"] >= 1  # a twin answering its twin's question is not an error
