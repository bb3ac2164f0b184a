"""Resolved support tickets, stored as JSON lines.

``{"id": "...", "question": "...", "answer": "...", "lang": "en|zh",
"faq_id": "credit-note" (optional), "resolved_at": "ISO-8601"}``

A ticket that names an ``faq_id`` adds its question as one more way to ask that
entry. A ticket without one is never shown to customers (it may hold personal
data); it is indexed so agents see similar past tickets.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

from knowledge.errors import FormatProblem
from knowledge.faq import ID_PATTERN
from knowledge.lang import LANGS, Lang
from knowledge.pii import redact


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str
    question: str
    answer: str
    lang: Lang
    resolved_at: str
    faq_id: str | None = None

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(data, ensure_ascii=False)

    def redacted(self) -> Ticket:
        """This ticket without personal data (e-mails, phones, card numbers, ids...; see knowledge.pii)."""
        q, a = redact(self.question), redact(self.answer)
        return self if (q, a) == (self.question, self.answer) else replace(self, question=q, answer=a)


def parse_ticket(line: str) -> Ticket:
    """Parse one JSON line; raise ValueError with a message an editor can act on."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("each line must be a JSON object")
    missing = [k for k in ("id", "question", "answer", "lang", "resolved_at") if not data.get(k)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if data["lang"] not in LANGS:
        raise ValueError(f'unknown lang {data["lang"]!r}; use "en" or "zh"')
    faq_id = data.get("faq_id") or None
    if faq_id is not None and (not isinstance(faq_id, str) or not ID_PATTERN.match(faq_id)):
        raise ValueError(f"faq_id {faq_id!r} is not a valid FAQ id")
    try:
        datetime.fromisoformat(str(data["resolved_at"]).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"resolved_at {data['resolved_at']!r} is not an ISO-8601 time") from None
    # a ticket is knowledge other customers are matched against: it never carries personal data
    return Ticket(
        id=str(data["id"]),
        question=str(data["question"]).strip(),
        answer=str(data["answer"]).strip(),
        lang=data["lang"],
        resolved_at=str(data["resolved_at"]),
        faq_id=faq_id,
    ).redacted()


def read_ticket_file(
    path: Path, seen: set[str] | None = None
) -> tuple[list[Ticket], list[FormatProblem]]:
    """The tickets of one JSONL file; broken lines and ids already in ``seen`` are reported."""
    seen = set() if seen is None else seen
    tickets: list[Ticket] = []
    problems: list[FormatProblem] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                ticket = parse_ticket(line)
            except ValueError as exc:
                problems.append(FormatProblem(path, lineno, str(exc)))
                continue
            if ticket.id in seen:
                problems.append(FormatProblem(path, lineno, f"duplicate ticket id {ticket.id!r}"))
                continue
            seen.add(ticket.id)
            tickets.append(ticket)
    return tickets, problems


def load_tickets(folder: Path) -> tuple[list[Ticket], list[FormatProblem]]:
    """Every ticket in ``folder/*.jsonl``; broken lines are reported, not fatal."""
    tickets: list[Ticket] = []
    problems: list[FormatProblem] = []
    if not folder.is_dir():
        return tickets, problems
    seen: set[str] = set()
    for path in sorted(folder.glob("*.jsonl")):
        found, bad = read_ticket_file(path, seen)
        tickets.extend(found)
        problems.extend(bad)
    return tickets, problems


def append_ticket(path: Path, ticket: Ticket) -> None:
    """Append one ticket durably (one write, fsync) so a crash never leaves half a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (ticket.to_json() + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
