import numpy as np

from indexer.lexical import Bm25Index, Terms

DOCS = [
    "How do I change the invoice number format?",
    "Issue a credit note for a sent invoice",
    "数电票怎么开红字发票",
    "Export failed with E2310",
]


def index() -> Bm25Index:
    return Bm25Index(DOCS, Terms(["红字发票"]), np.array([0, 1, 2, 3]), ["en", "en", "zh", "en"], 4)


def test_typos_are_corrected_to_the_knowledge_vocabulary() -> None:
    s = index().scores("how do i chnage the invocie numbr")
    assert int(np.argmax(s)) == 0 and 0 < s[0] < 1


def test_codes_stay_whole_and_chinese_matches_by_word_or_bigram() -> None:
    b = index()
    assert int(np.argmax(b.scores("export error E2310"))) == 3
    assert int(np.argmax(b.scores("红字"))) == 2  # jieba keeps 红字发票 whole; the bigram still matches
    assert b.coverage("天气怎么样") < b.coverage("红字发票")


def test_leaving_a_text_out_removes_its_words() -> None:
    b = index()
    assert b.scores("credit note")[1] > 0
    assert b.scores("credit note", exclude_doc=1)[1] == 0
