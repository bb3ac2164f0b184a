"""One vocabulary for Python and the browser: reply kinds, handoff statuses and reasons.

The widget and console scripts hold ``/*VOCABULARY*/ null``; the server replaces it with these
enums' values when it serves them, so a status or reason is spelled in one place only.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from pathlib import Path

from bot.flow.decision import ReplyKind
from escalation.models import ConversationStatus, HandoffReason, HandoffStatus, MailStatus

PLACEHOLDER = "/*VOCABULARY*/ null"


def _members(enum: type[StrEnum]) -> dict[str, str]:
    return {m.name: m.value for m in enum}


def vocabulary() -> dict[str, dict[str, str]]:
    return {
        "replyKind": _members(ReplyKind),
        "handoffStatus": _members(HandoffStatus),
        "handoffReason": _members(HandoffReason),
        "conversationStatus": _members(ConversationStatus),
        "mailStatus": _members(MailStatus),
    }


@cache
def render_script(path: Path) -> str:
    """The script at ``path`` with the vocabulary filled in (read once per process)."""
    text = path.read_text(encoding="utf-8")
    if PLACEHOLDER not in text:
        raise ValueError(f"{path.name} has no vocabulary placeholder")
    return text.replace(PLACEHOLDER, json.dumps(vocabulary(), ensure_ascii=False))
