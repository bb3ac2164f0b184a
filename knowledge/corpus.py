"""The knowledge base: FAQ entries plus resolved tickets, as texts ready to index.

Texts fall in two partitions: ``faq`` (titles, alternative questions, passages of the answer
bodies, and questions of tickets linked to an entry: what customers may be answered from) and
``tickets`` (tickets linked to no entry, shown only to agents). The tickets can number a million; they are read once and reused
while only FAQ files change, and their texts and hash are computed once per ticket set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from knowledge.errors import FormatProblem
from knowledge.faq import FaqEntry, group_by_id, load_faq
from knowledge.lang import Lang
from knowledge.passages import bold_terms, split_passages
from knowledge.tickets import Ticket, load_tickets

DocKind = Literal["title", "question", "passage", "ticket"]
QUESTION_KINDS: frozenset[str] = frozenset({"title", "question", "ticket"})  # worded as a customer asks


@dataclass(frozen=True, slots=True)
class Doc:
    """One indexed text: a title, an alternative question, a passage of the answer, or a ticket question."""

    text: str
    lang: Lang
    kind: DocKind
    entry_id: str | None  # None for tickets not linked to an entry (never shown to customers)
    ticket_id: str | None = None

    @property
    def is_passage(self) -> bool:
        return self.kind == "passage"


def _hash_docs(docs: Iterable[Doc]) -> str:
    h = hashlib.sha256()
    for d in docs:
        h.update(f"{d.kind}\x1f{d.entry_id}\x1f{d.ticket_id}\x1f{d.lang}\x1f{d.text}\x1e".encode())
    return h.hexdigest()


class TicketSet:
    """Resolved tickets as loaded from the ticket folders, with derived data cached."""

    def __init__(self, tickets: list[Ticket], problems: list[FormatProblem] | None = None) -> None:
        self.tickets = tickets
        self.problems = problems or []
        self.by_id = {t.id: t for t in tickets}
        self.linked = [t for t in tickets if t.faq_id]  # few; reloads iterate these, not every ticket
        self._unlinked: tuple[frozenset[str], list[Doc], str] | None = None

    def unlinked_docs(self, entry_ids: frozenset[str]) -> tuple[list[Doc], str]:
        """Docs (and their hash) of tickets that link to none of ``entry_ids``; cached."""
        if self._unlinked is None or self._unlinked[0] != entry_ids:
            docs = [
                Doc(t.question, t.lang, "ticket", None, t.id)
                for t in self.tickets
                if t.faq_id not in entry_ids
            ]
            self._unlinked = (entry_ids, docs, _hash_docs(docs))
        return self._unlinked[1], self._unlinked[2]


class KnowledgeBase:
    def __init__(
        self,
        entries: dict[str, dict[str, FaqEntry]],
        tickets: list[Ticket] | TicketSet,
        problems: list[FormatProblem] | None = None,
        kept_stale: list[Path] | None = None,
    ) -> None:
        self.entries = entries
        self.problems = problems or []
        self.kept_stale = kept_stale or []
        self.ticket_set = tickets if isinstance(tickets, TicketSet) else TicketSet(tickets)
        self.tickets: list[Ticket] = self.ticket_set.tickets
        self.tickets_by_id = self.ticket_set.by_id
        self.faq_docs: list[Doc] = list(_faq_docs(self.entries, self.ticket_set.linked))
        self.ticket_docs, self.tickets_hash = self.ticket_set.unlinked_docs(frozenset(self.entries))
        h = hashlib.sha256(_hash_docs(self.faq_docs).encode())
        for eid in sorted(self.entries):
            for lang in sorted(self.entries[eid]):
                e = self.entries[eid][lang]
                h.update(f"{eid}\x1f{lang}\x1f{e.title}\x1f{e.answer}\x1e".encode())
        self.faq_hash = h.hexdigest()
        self.content_hash = hashlib.sha256(f"{self.faq_hash}:{self.tickets_hash}".encode()).hexdigest()

    @property
    def docs(self) -> list[Doc]:
        return self.faq_docs + self.ticket_docs

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

    def key_terms(self) -> list[str]:
        """Terms editors set in **bold** in answers and titles (menu names, 红字发票, 确认单): a word
        splitter must keep them whole."""
        out: list[str] = []
        for translations in self.entries.values():
            for e in translations.values():
                out.extend(bold_terms(e.answer))
        return out

    def title(self, entry_id: str, lang: str) -> str:
        return self.entry(entry_id, lang)[0].title


def _faq_docs(entries: dict[str, dict[str, FaqEntry]], tickets: Iterable[Ticket]) -> Iterable[Doc]:
    for eid in sorted(entries):
        for lang in sorted(entries[eid]):
            e = entries[eid][lang]
            yield Doc(e.title, e.lang, "title", eid)
            for q in e.questions:
                yield Doc(q, e.lang, "question", eid)
            for p in split_passages(e.answer):
                yield Doc(p, e.lang, "passage", eid)
    for t in tickets:
        if t.faq_id in entries:
            yield Doc(t.question, t.lang, "ticket", t.faq_id, t.id)


def load_ticket_set(ticket_dirs: Sequence[Path]) -> TicketSet:
    tickets: list[Ticket] = []
    problems: list[FormatProblem] = []
    seen: set[str] = set()
    for folder in ticket_dirs:
        found, tproblems = load_tickets(folder)
        problems.extend(tproblems)
        for t in found:
            if t.id not in seen:
                seen.add(t.id)
                tickets.append(t)
    return TicketSet(tickets, problems)


def load_knowledge(
    faq_dir: Path,
    ticket_dirs: Sequence[Path] = (),
    previous: KnowledgeBase | None = None,
    tickets: TicketSet | None = None,
) -> KnowledgeBase:
    """Read the FAQ folder and (unless ``tickets`` is given, e.g. unchanged) the ticket folders.

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
    ticket_set = tickets if tickets is not None else load_ticket_set(ticket_dirs)
    problems.extend(ticket_set.problems)
    grouped = group_by_id(entries)
    for t in ticket_set.linked:
        if t.faq_id not in grouped:
            problems.append(
                FormatProblem(
                    Path(f"ticket {t.id}"), 0, f"faq_id {t.faq_id!r} names no FAQ entry; indexed as unlinked"
                )
            )
    return KnowledgeBase(grouped, ticket_set, problems, kept)
