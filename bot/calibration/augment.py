"""Customer-like variants of a knowledge base's own questions, for calibrating without user data.

An FAQ's alternative questions are written by its editors: tidy, complete, in the FAQ's words.
Customers type two-word keywords, misspell, and wrap the question in their story. Calibrating on
the tidy questions alone makes the bot overconfident on real ones, so each held-out question is
also asked in these shapes. They are generic transformations (no knowledge of any entry), seeded
per question so a calibration is reproducible.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from knowledge.lang import detect_language

_WORD = re.compile(r"[A-Za-z]{4,}")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_PUNCT = re.compile(r"[?？!！.。,，:：;；]+")
_NEIGHBOURS = {
    "a": "sqw", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo",
    "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "q": "w", "r": "et",
    "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc", "y": "tu", "z": "x",
}  # fmt: skip

# neutral on purpose: a wrapper that mentions a topic ("month-end") would pull questions towards it
CONTEXT_EN = (
    ("Hi, I have a question.", "Thanks!"),
    ("Hello, sorry to bother you.", "Any help appreciated."),
    ("I'm new to this, sorry if this is a basic one.", ""),
    ("Quick question.", "Thank you in advance."),
    ("We started using Ledgerly recently.", "Please advise."),
)
CONTEXT_ZH = (
    ("您好，想咨询一个问题。", "谢谢！"),
    ("你好，打扰一下。", "麻烦尽快回复。"),
    ("我刚开始用这个系统，不太懂。", ""),
    ("问一下，", "谢谢"),
    ("我们公司最近开始用 Ledgerly。", "请帮忙看看。"),
)


def _rng(text: str, salt: str) -> random.Random:
    return random.Random(f"{salt}\x1f{text}")


def typo(text: str) -> str:
    """One or two realistic slips: a letter swapped, dropped, doubled or hit next to; lower case and
    no punctuation. Chinese: one character dropped or two swapped."""
    rng = _rng(text, "typo")
    if detect_language(text) == "zh":
        chars = list(_PUNCT.sub("", text))
        han = [i for i, c in enumerate(chars) if _HAN.match(c)]
        if len(han) >= 4:
            i = rng.choice(han[1:-1])
            if rng.random() < 0.5:
                del chars[i]
            else:
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
        return "".join(chars)
    words = _PUNCT.sub("", text.lower()).split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    for i in rng.sample(long_words, min(len(long_words), rng.choice((1, 2)))):
        w = list(words[i])
        j = rng.randrange(1, len(w) - 1)
        op = rng.randrange(4)
        if op == 0:
            w[j], w[j + 1] = w[j + 1], w[j]
        elif op == 1:
            del w[j]
        elif op == 2:
            w.insert(j, w[j])
        else:
            w[j] = rng.choice(_NEIGHBOURS.get(w[j], w[j]))
        words[i] = "".join(w)
    return " ".join(words)


def keywords(
    text: str, rarity: Callable[[str], float], words: Callable[[str], Sequence[tuple[str, str]]]
) -> str:
    """The two or three rarest words of the question, in their order, as typed into a search box.

    ``words`` splits a text into ``(word as written, term)``; ``rarity`` scores a term (e.g. its idf).
    """
    seen: dict[str, str] = {}
    for raw, term in words(text):
        if raw and raw not in seen:
            seen[raw] = term
    if len(seen) <= 2:
        return " ".join(seen) or text
    rng = _rng(text, "keywords")
    keep = set(sorted(seen, key=lambda w: -rarity(seen[w]))[: rng.choice((2, 3))])
    sep = "" if detect_language(text) == "zh" and rng.random() < 0.5 else " "
    return sep.join(w for w in seen if w in keep)


def with_context(text: str) -> str:
    """The question inside a sentence of context and a sign-off, as customers write to support."""
    rng = _rng(text, "context")
    pre, post = rng.choice(CONTEXT_ZH if detect_language(text) == "zh" else CONTEXT_EN)
    return " ".join(p for p in (pre, text, post) if p)


STYLES = ("typo", "keywords", "long")
