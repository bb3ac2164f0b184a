import pytest

from bot.flow.phrases import TEXTS, wants_human
from knowledge.lang import detect_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("怎么开红字发票", "zh"),
        ("Peppol ID 在哪填", "zh"),
        ("How do I fix the tax id on an invoice?", "en"),
        ("E1042", "en"),
        ("发票", "zh"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    "text",
    [
        "talk to a human",
        "Can I speak to a real person please?",
        "I want a live agent",
        "agent",
        "转人工",
        "人工客服在吗",
        "我要找人工",
        "人工",
        "connect me with someone from support",
    ],
)
def test_wants_human(text: str) -> None:
    assert wants_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "How do I add a user to my team?",
        "人工智能能帮我开发票吗",
        "Who is the agent of record for VAT?",
        "How do I invite my accountant?",
        "怎么开红字发票",
    ],
)
def test_not_a_request_for_a_person(text: str) -> None:
    assert not wants_human(text)


def test_every_text_exists_in_both_languages() -> None:
    for key, variants in TEXTS.items():
        assert set(variants) == {"en", "zh"}, key
