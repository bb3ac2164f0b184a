"""`helpdesk tune` on a tiny knowledge base: a real fine-tuning run of e5 on the CPU, then the swap."""

from pathlib import Path

import numpy as np
import pytest

from indexer.embedders import E5Embedder
from indexer.tuning import TuneConfig, make_current, training_pairs, tune
from knowledge.corpus import load_knowledge
from tests.support import TINY, write_faq


def test_training_pairs_pair_texts_of_one_entry(tmp_path: Path) -> None:
    kb = load_knowledge(write_faq(tmp_path / "faq"))
    pairs = training_pairs(kb.faq_docs, max_per_entry=100)
    assert {p[3] for p in pairs} == set(TINY)
    by_text = {d.text: d.entry_id for d in kb.faq_docs}
    for anchor, positive, _passage, entry in pairs:
        assert by_text[anchor] == entry and by_text[positive] == entry and anchor != positive
    assert any(p[2] for p in pairs) and any(not p[2] for p in pairs)  # passages and questions as positives


@pytest.mark.slow
def test_tuning_pulls_questions_to_their_entry_and_swaps_atomically(tmp_path: Path, embedders: list) -> None:
    kb = load_knowledge(write_faq(tmp_path / "faq"))
    base = embedders[1].folder
    out = tmp_path / "models" / "e5-tuned-x"
    cfg = TuneConfig(epochs=4, batch_entries=4, learning_rate=5e-5, max_tokens=48)
    report = tune(base, kb.faq_docs, out, cfg)
    assert (out / "modules.json").exists() and (out / "tuning.json").exists()
    assert report.steps >= 4 and report.last_loss < report.first_loss

    tuned = E5Embedder(out, "e5+tuned")
    questions = [q for _, qs, _ in TINY.values() for q in qs]
    owners = [eid for eid, (_, qs, _) in TINY.items() for _ in qs]
    titles = [t for t, _, _ in TINY.values()]
    ids = list(TINY)

    def margin(model: E5Embedder) -> float:
        """Mean cosine of each question to its own entry's title minus to the best other title."""
        sims = model.encode(questions) @ model.encode(titles).T
        own = np.array([sims[i, ids.index(e)] for i, e in enumerate(owners)])
        other = np.array([max(sims[i, j] for j in range(len(ids)) if ids[j] != e) for i, e in enumerate(owners)])
        return float((own - other).mean())

    assert margin(tuned) > margin(embedders[1])

    make_current(tmp_path / "models", out)
    assert (tmp_path / "models" / "current").resolve() == out.resolve()
    newer = tmp_path / "models" / "e5-tuned-y"
    newer.mkdir()
    make_current(tmp_path / "models", newer)
    assert (tmp_path / "models" / "current").resolve() == newer.resolve() and not out.exists()
