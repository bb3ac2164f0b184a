from pathlib import Path

import pytest

from knowledge.errors import FaqFormatError
from knowledge.faq import load_faq, parse_faq
from tests.support import FAQ

GOOD = """---
id: credit-note
lang: en
questions:
  - How do I correct an invoice I already sent?
tags: [corrections]
---
# How do I issue a credit note?

Open the invoice and choose **More ▾ › Create credit note**.
"""


def test_parse_good_entry(tmp_path: Path) -> None:
    e = parse_faq(GOOD, tmp_path / "credit-note.md")
    assert (e.id, e.lang, e.title) == ("credit-note", "en", "How do I issue a credit note?")
    assert e.questions == ("How do I correct an invoice I already sent?",)
    assert e.answer.startswith("Open the invoice")
    assert e.tags == ("corrections",)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (GOOD.replace("id: credit-note\n", ""), 2, "no `id`; add `id: refunds`"),
        (GOOD.replace("lang: en", "lang: fr"), 3, "unknown `lang: fr`"),
        (GOOD.replace("id: credit-note", "id: Credit Note"), 2, "must be lowercase"),
        (GOOD.split("# How")[0], 8, "no `# ` title"),
        (
            GOOD.replace("\nOpen the invoice and choose **More ▾ › Create credit note**.\n", ""),
            8,
            "no answer text",
        ),
        (
            GOOD.replace("questions:\n  - How do I correct an invoice I already sent?\n", ""),
            2,
            "no `questions`",
        ),
        (GOOD.replace("tags: [corrections]", "tags: [corrections"), 6, "not valid YAML"),
        (GOOD.replace("---\nid", "id", 1), 1, "must start with a `---`"),
        (GOOD.replace("tags: [corrections]\n---", "tags: [corrections]"), 1, "never closed"),
        (GOOD.replace("tags:", "owner: me\ntags:"), 6, "unknown key `owner`"),
    ],
)
def test_format_errors_name_line_and_fix(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "refunds.md"
    with pytest.raises(FaqFormatError) as info:
        parse_faq(text, path)
    problems = info.value.problems
    assert any(p.line == line and fragment in p.message and p.path == path for p in problems), problems


def test_duplicate_id_and_lang_reported_once_first_kept(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(GOOD)
    (tmp_path / "b.md").write_text(GOOD)
    entries, problems = load_faq(tmp_path)
    assert len(entries) == 1 and entries[0].path == tmp_path / "a.md"
    assert len(problems) == 1 and problems[0].path == tmp_path / "b.md"
    assert "duplicate entry `id: credit-note` with `lang: en`" in problems[0].message


def test_same_id_two_languages_are_translations(tmp_path: Path) -> None:
    (tmp_path / "en.md").write_text(GOOD)
    (tmp_path / "zh.md").write_text(GOOD.replace("lang: en", "lang: zh"))
    entries, problems = load_faq(tmp_path)
    assert not problems and {e.lang for e in entries} == {"en", "zh"}


def test_shipped_faq_is_valid_and_complete() -> None:
    root = FAQ
    entries, problems = load_faq(root)
    assert problems == []
    ids = {e.id for e in entries}
    assert len(ids) >= 60
    for i in ids:  # every entry in both languages
        assert {e.lang for e in entries if e.id == i} == {"en", "zh"}, i
    assert {"credit-note", "red-letter-invoice", "fix-tax-id"} <= ids
