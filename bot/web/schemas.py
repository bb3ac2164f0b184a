"""What every route's input shares: ids, visible text, and the checks a JSON schema cannot state."""

from __future__ import annotations

import re
import unicodedata

# at least one character that is neither whitespace nor invisible (the OpenAPI states this as a pattern)
INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
VISIBLE = r"[^\s\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_message(text: str, limit: int) -> str:
    """A customer's or agent's text as stored: no control characters, not empty, not invisible, valid UTF-8.

    Raises ``ValueError`` (a 422 in the one error shape) with what to change."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the text contains an invalid character (a lone UTF-16 surrogate)") from None
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    visible = "".join(c for c in text if c not in INVISIBLE and not c.isspace())
    if not visible:
        raise ValueError("the text is empty; write a question")
    if len(text) > limit:
        raise ValueError(f"the text has {len(text)} characters; the limit is {limit}")
    return text
