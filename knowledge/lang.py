"""Language detection for the two languages the desk serves."""

from __future__ import annotations

import re
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]+")


def detect_language(text: str) -> Lang:
    """Return ``zh`` when Chinese characters carry the message, else ``en``.

    Chinese messages often mix in English product words ("Peppol ID 在哪填"), so a
    message counts as Chinese as soon as its Han characters outnumber a third of
    its Latin words' letters, or make up at least two characters.
    """
    han = len(_CJK.findall(text))
    latin = sum(len(w) for w in _LATIN.findall(text))
    if han >= 2 or (han and han * 3 >= latin):
        return "zh"
    return "en"
