"""One vocabulary for Python and the browser: enums, UI strings and the markdown renderer.

The widget and console scripts hold placeholders that the server fills in when it serves them, so
each thing is written in one place only:

``/*VOCABULARY*/ null``
    reply kinds, handoff statuses and reasons, conversation and mail statuses: the Python enums' values.
``/*STRINGS*/ null``
    every UI string of both scripts in both languages, from ``static/strings.json``
    (``{lang: {"widget": {...}, "console": {...}, "reason": {reason: [label, explanation]}}}``).
``/*MARKDOWN*/ null``
    the one markdown renderer of bot answers (``static/markdown.js`` over the vendored markdown-it
    and DOMPurify in ``static/vendor/``), inlined in a closure of its own: ``{render(text) -> html}``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from pathlib import Path

from bot.flow.decision import ReplyKind
from escalation.models import ConversationStatus, HandoffReason, HandoffStatus, IncidentStatus, MailStatus

PLACEHOLDER = "/*VOCABULARY*/ null"
STRINGS_PLACEHOLDER = "/*STRINGS*/ null"
MARKDOWN_PLACEHOLDER = "/*MARKDOWN*/ null"

STATIC = Path(__file__).resolve().parent / "static"
LANGS = ("en", "zh")


def _members(enum: type[StrEnum]) -> dict[str, str]:
    return {m.name: m.value for m in enum}


def vocabulary() -> dict[str, dict[str, str]]:
    return {
        "replyKind": _members(ReplyKind),
        "handoffStatus": _members(HandoffStatus),
        "handoffReason": _members(HandoffReason),
        "conversationStatus": _members(ConversationStatus),
        "mailStatus": _members(MailStatus),
        "incidentStatus": _members(IncidentStatus),
    }


def strings() -> dict[str, dict[str, dict[str, object]]]:
    """The UI string table of the widget and the console, per language (``static/strings.json``)."""
    table: dict[str, dict[str, dict[str, object]]] = json.loads((STATIC / "strings.json").read_text(encoding="utf-8"))
    return table


def markdown_renderer() -> str:
    """A JS expression evaluating to the markdown renderer: markdown-it and DOMPurify, each run as a
    CommonJS module inside one closure (so neither sets a global nor calls a host page's AMD
    ``define``), handed to the factory in ``markdown.js``."""

    def module(name: str) -> str:
        return (
            "module = { exports: {} };\nexports = module.exports;\n"
            + (STATIC / "vendor" / name).read_text(encoding="utf-8")
            + "\n;"
        )

    factory = (STATIC / "markdown.js").read_text(encoding="utf-8").strip().rstrip(";")
    return (
        "(function () {\nvar module, exports, define;\n"
        + module("markdown-it.min.js")
        + "\nvar markdownit = module.exports;\n"
        + module("purify.min.js")
        + "\nvar DOMPurify = module.exports;\nvar factory = "
        + factory
        + ";\nreturn factory(markdownit, DOMPurify);\n})()"
    )


@cache
def render_script(path: Path) -> str:
    """The script at ``path`` with the vocabulary, and where it asks for them the strings and the
    markdown renderer, filled in (read once per process)."""
    text = path.read_text(encoding="utf-8")
    if not any(p in text for p in (PLACEHOLDER, STRINGS_PLACEHOLDER, MARKDOWN_PLACEHOLDER)):
        raise ValueError(f"{path.name} has no placeholder to fill")
    text = text.replace(PLACEHOLDER, json.dumps(vocabulary(), ensure_ascii=False))
    if STRINGS_PLACEHOLDER in text:
        text = text.replace(STRINGS_PLACEHOLDER, json.dumps(strings(), ensure_ascii=False))
    if MARKDOWN_PLACEHOLDER in text:  # last: the libraries' own text is never searched for placeholders
        text = text.replace(MARKDOWN_PLACEHOLDER, markdown_renderer())
    return text
