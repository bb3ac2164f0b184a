"""The knowledge base: FAQ entries plus resolved tickets, as texts ready to index."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from knowledge.errors import FormatProblem
from knowledge.faq import FaqEntry, group_by_id, load_faq
from knowledge.lang import Lang
from knowledge.tickets import Ticket, load_tickets

DocKind = Literal["title", "question", "ticket"]


@dataclass(frozen=True)
class Doc:
    """One indexed text: a title, an alternative question, or a ticket question."""

    text: str
    lang: Lang
    kind: DocKind
    entry_id: str | None  # None for tickets not linked to an entry (never shown to customers)
    ticket_id: str | None = None


@dataclass
class KnowledgeBase:
    entries: dict[str, dict[str, FaqEntry]]
    tickets: list[Ticket]
    problems: list[FormatProblem] = field(default_factory=list)
    kept_stale: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.docs: list[Doc] = list(_docs(self.entries, self.tickets))
        self.tickets_by_id = {t.id: t for t in self.tickets}
        h = hashlib.sha256()
        for d in self.docs:
            h.update(f"{d.kind}\x1f{d.entry_id}\x1f{d.ticket_id}\x1f{d.lang}\x1f{d.text}\x1e".encode())
        for eid in sorted(self.entries):
            for lang in sorted(self.entries[eid]):
                e = self.entries[eid][lang]
                h.update(f"{eid}\x1f{lang}\x1f{e.title}\x1f{e.answer}\x1e".encode())
        self.content_hash = h.hexdigest()

    @property
    def entry_count(self) -> int:
        return sum(len(t) for t in self.entries.values())

    def entry(self, entry_id: str, lang: str) -> tuple[FaqEntry, bool]:
        """The entry in ``lang`` when translated, else another language and ``False``."""
        translations = self.entries[entry_id]
        if lang in translations:
            return translations[lang], True
        other = translations.get("en") or next(iter(translations.values()))
        return other, False

    def only(self, lang: str) -> KnowledgeBase:
        """The entries translated into ``lang`` and the tickets written in it."""
        entries = {i: {lang: t[lang]} for i, t in self.entries.items() if lang in t}
        return KnowledgeBase(entries, [t for t in self.tickets if t.lang == lang])

    def title(self, entry_id: str, lang: str) -> str:
        return self.entry(entry_id, lang)[0].title


def _docs(entries: dict[str, dict[str, FaqEntry]], tickets: Iterable[Ticket]) -> Iterable[Doc]:
    for eid in sorted(entries):
        for lang in sorted(entries[eid]):
            e = entries[eid][lang]
            yield Doc(e.title, e.lang, "title", eid)
            for q in e.questions:
                yield Doc(q, e.lang, "question", eid)
    for t in tickets:
        linked = t.faq_id if t.faq_id in entries else None
        yield Doc(t.question, t.lang, "ticket", linked, t.id)


def load_knowledge(
    faq_dir: Path,
    ticket_dirs: Sequence[Path] = (),
    previous: KnowledgeBase | None = None,
) -> KnowledgeBase:
    """Read the FAQ folder and ticket folders.

    A broken file is reported in ``problems``; if ``previous`` held a good version
    of the same file, that version keeps serving (listed in ``kept_stale``), so
    an editor's typo never takes an answer offline.
    """
    entries, problems = load_faq(faq_dir)
    kept: list[Path] = []
    if previous is not None:
        broken = {p.path for p in problems}
        have = {e.key for e in entries}
        for translations in previous.entries.values():
            for old in translations.values():
                if old.path in broken and old.key not in have:
                    entries.append(old)
                    have.add(old.key)
                    kept.append(old.path)
    tickets: list[Ticket] = []
    seen: set[str] = set()
    for folder in ticket_dirs:
        found, tproblems = load_tickets(folder)
        problems.extend(tproblems)
        for t in found:
            if t.id not in seen:
                seen.add(t.id)
                tickets.append(t)
    grouped = group_by_id(entries)
    for t in tickets:
        if t.faq_id and t.faq_id not in grouped:
            problems.append(
                FormatProblem(
                    Path(f"ticket {t.id}"), 0, f"faq_id {t.faq_id!r} names no FAQ entry; indexed as unlinked"
                )
            )
    return KnowledgeBase(grouped, tickets, problems, kept)
