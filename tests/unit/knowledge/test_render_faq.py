"""render_faq writes the markdown format parse_faq reads, whatever the questions hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.errors import FaqFormatError
from knowledge.faq import parse_faq, render_faq


def test_round_trip_with_characters_yaml_would_misread() -> None:
    questions = ["QuickBooks: can I import?", "# of invoices?", "它能导出吗？", "yes", "- a dash", "'quoted'"]
    text = render_faq("quickbooks-import", "zh", "能导入 QuickBooks 吗？", questions, "可以。\n\n- 一\n- 二", ["export", "a b"])
    entry = parse_faq(text, Path("zh/quickbooks-import.md"))
    assert (entry.id, entry.lang, entry.title) == ("quickbooks-import", "zh", "能导入 QuickBooks 吗？")
    assert entry.questions == tuple(questions)
    assert entry.answer == "可以。\n\n- 一\n- 二" and entry.tags == ("export", "a b")


def test_blank_questions_are_dropped_and_a_title_is_one_line() -> None:
    text = render_faq("a-b", "en", "Two\nlines?", ["  ", "real one"], "Answer.")
    entry = parse_faq(text, Path("en/a-b.md"))
    assert entry.title == "Two lines?" and entry.questions == ("real one",)


def test_an_entry_that_would_not_load_is_refused_with_every_problem() -> None:
    with pytest.raises(FaqFormatError) as exc:
        render_faq("Not An Id", "en", "", [], "")
    messages = " ".join(p.message for p in exc.value.problems)
    assert "lowercase letters" in messages and "`questions` is empty" in messages and "no `# ` title" in messages
