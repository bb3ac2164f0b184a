"""An entry written in one language only is ranked on what it has, in a partly translated FAQ."""


import pytest

from indexer.build import build_store
from indexer.lexical import Terms
from indexer.search import CROSS, HybridWeights, Retriever
from knowledge.corpus import load_knowledge
from tests.support import TINY, write_faq

ZH = {  # translations of all but `webhooks`
    "credit-note": ("如何开具贷项通知单？", "发票已经发出了怎么冲销？", "打开发票，选择 **更多 › 创建贷项通知单**。"),
    "reset-password": ("如何重置密码？", "忘记密码登录不了", "在登录页点击 **忘记密码**，邮件中的链接一小时内有效。"),
    "vat-report": ("增值税报表在哪里？", "季度销项税在哪里看", "进入 **报表 › 增值税报表**，选择期间后点击 **导出**。"),
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, embedders: list) -> Retriever:
    faq = write_faq(tmp_path_factory.mktemp("mixed") / "faq")
    (faq / "zh").mkdir()
    for eid, (title, question, answer) in ZH.items():
        text = f"---\nid: {eid}\nlang: zh\nquestions:\n  - {question}\n---\n# {title}\n\n{answer}\n"
        (faq / "zh" / f"{eid}.md").write_text(text, encoding="utf-8")
    kb = load_knowledge(faq)
    assert not kb.problems
    names = [e.name for e in embedders]
    # weights as a calibration fits them on a bilingual FAQ: the cross-lingual cosines count too
    weights = HybridWeights({**{n: 0.3 for n in names}, **{n + CROSS: 0.3 for n in names}})
    return Retriever(build_store(kb, embedders), embedders, weights, terms=Terms(kb.key_terms()))


def test_an_untranslated_entry_is_found_by_its_own_title(mixed: Retriever) -> None:
    title = TINY["webhooks"][0]
    r = mixed.search(title, lang="en")
    assert r.candidates[0].entry_id == "webhooks", [(c.entry_id, round(c.score, 3)) for c in r.candidates]
    top = r.candidates[0].signals
    for name in (e.name for e in mixed.embedders):  # no other-language text: its own-language value stands in
        assert top[name + CROSS] == pytest.approx(top[name])


def test_translated_entries_keep_their_cross_lingual_signal(mixed: Retriever) -> None:
    r = mixed.search(TINY["vat-report"][0], lang="en")
    assert r.candidates[0].entry_id == "vat-report"
    name = mixed.embedders[0].name
    assert r.candidates[0].signals[name + CROSS] < r.candidates[0].signals[name]  # the zh text's cosine
