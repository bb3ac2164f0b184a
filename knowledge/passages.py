"""Answer bodies cut into passages, so that a question worded like the answer finds its entry.

Customers describe their situation in the words of the product ("the red banner names the failing
field", "E2310"), which the answer body holds and the title and alternative questions often do not.
A passage is a run of the body's paragraphs (a list stays with the line that introduces it), cut
at headings and kept near ``target`` characters, never split inside a paragraph.
"""

from __future__ import annotations

import re

_MARKUP = re.compile(r"\*\*|__|`|^#+\s*|^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_WORDISH = re.compile(r"[\w\u3400-\u4dbf\u4e00-\u9fff]")


def weight(text: str) -> int:
    """Length in Latin-letter equivalents: a Chinese character carries about three letters' worth."""
    return len(text) + 2 * len(_HAN.findall(text))


def plain(text: str) -> str:
    """Markdown emphasis, code ticks, heading marks and list bullets removed; lines kept."""
    return _MARKUP.sub("", text).strip()


def _blocks(body: str) -> list[str]:
    """Paragraphs separated by blank lines; a list joins the paragraph just before it."""
    raw = [b.strip() for b in re.split(r"\n\s*\n", body) if b.strip()]
    out: list[str] = []
    for b in raw:
        starts_list = bool(_LIST_ITEM.match(b))
        if out and starts_list and not out[-1].startswith("#"):
            out[-1] = out[-1] + "\n" + b
        else:
            out.append(b)
    return out


def split_passages(body: str, target: int = 400, hard_max: int = 900) -> list[str]:
    """The body as passages of plain text: headings start a new passage, short blocks are merged."""
    passages: list[str] = []
    current: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal current, size
        text = plain("\n".join(current))
        if len(_WORDISH.findall(text)) >= 2:  # not a bare "…" or a lone symbol
            passages.append(text)
        current, size = [], 0

    for block in _blocks(body):
        heading = block.startswith("#")
        if current and (heading or size + weight(block) > target):
            flush()
        if weight(block) > hard_max and not heading:
            # a very long paragraph: cut at sentence ends
            for sentence in re.split(r"(?<=[.!?。！？])\s*", block):
                if current and size + weight(sentence) > target:
                    flush()
                if sentence.strip():
                    current.append(sentence)
                    size += weight(sentence)
            continue
        current.append(block)
        size += weight(block)
    flush()
    return passages


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def bold_terms(markdown: str) -> list[str]:
    """The **bold** phrases of a text (menu names, key terms), split at menu separators and commas."""
    out: list[str] = []
    for m in _BOLD.finditer(markdown):
        out.extend(p.strip() for p in re.split(r"[›>/|,，、：:（）()\s]+", m.group(1)) if p.strip())
    return out
