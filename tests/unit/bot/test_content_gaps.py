"""The pure parts of the content-gap loop: ids from questions, the typical resolution, coverage."""

from __future__ import annotations

import numpy as np

from bot.content.gaps import Decided, covers, medoid, slug


def test_an_id_is_the_first_content_words() -> None:
    assert slug("Is there a mobile app for iPhone?", "x") == "mobile-app-iphone"
    assert slug("How do I export to QuickBooks Online (2024 edition)?", "x") == "export-quickbooks-online-2024-edition"
    assert slug("发票没生成怎么办", "faq-1a2b") == "faq-1a2b"  # ids are ASCII: a Chinese question gets the fallback


def test_the_typical_resolution_is_the_one_most_like_the_others() -> None:
    v = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert medoid(["a", "b", "c", "d"], v) in (2, 3)
    assert medoid(["short", "the fuller one"], None) == 1


def test_covered_means_answered_not_with_the_rejected_answer() -> None:
    answer = Decided("answer", "two-factor-setup", 0.97)
    assert covers(answer, None)
    assert not covers(answer, "two-factor-setup")  # the customer said that was not what they asked
    assert not covers(answer, None, linked="mobile-app")  # the agent said which entry answers it
    assert covers(Decided("answer", "mobile-app", 0.9), "two-factor-setup", linked="mobile-app")
    assert not covers(Decided("handoff", None, 0.2), None) and not covers(None, None)
