import numpy as np
import pytest

from indexer.lexical import CharNgramIndex

TEXTS = [
    "How do I issue a credit note?",
    "数电票怎么开红字发票？",
    "Error E1042: buyer VAT number invalid",
    "Export to DATEV failed with E3005",
    "怎么设置双重验证（2FA）",
]


@pytest.mark.parametrize(
    "query", ["credit note", "红字发票怎么开", "E1042 again!", "DATEV E3005", "zzz", "？？", "2FA 验证"]
)
def test_fast_scores_equal_sklearn_transform(query: str) -> None:
    idx = CharNgramIndex(TEXTS)
    assert np.allclose(idx.scores(query), idx.scores_reference(query), atol=1e-6)


def test_best_match_and_empty_index() -> None:
    idx = CharNgramIndex(TEXTS)
    assert int(np.argmax(idx.scores("what does E1042 mean"))) == 2
    assert CharNgramIndex([]).scores("x").shape == (0,)
