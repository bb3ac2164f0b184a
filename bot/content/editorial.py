"""Preview and publish an FAQ entry: what it would change, measured before it goes live.

A preview builds the knowledge as it would be with the entry (the live FAQ plus the new files, the
same tickets), embeds only the new texts (the embedding cache and the live store's tickets
partition are reused), and asks both versions, with the current calibration, the cluster's real
questions and the recent traffic: which questions the entry would now answer, and which answers it
would take from other entries (or make too close to call). Publishing writes one markdown file per
language under the FAQ folder, exclusively and atomically (a second editor publishing the same id
gets a conflict, never a half-written file), reloads the knowledge at once, and records the
cluster's coverage before and after, measured on the live desk.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bot.content.gaps import ContentGaps, Decided, DraftEntry, GapCluster, covers, decide_all
from bot.runtime import KnowledgeRuntime, Snapshot
from escalation.errors import InvalidTransition
from escalation.storage import Storage
from indexer.build import build_store
from indexer.lexical import Terms
from indexer.search import Retriever
from knowledge.corpus import KnowledgeBase
from knowledge.errors import FaqFormatError, FormatProblem
from knowledge.faq import FaqEntry, parse_faq, render_faq
from knowledge.lang import LANGS

RECENT_DAYS = 7
RECENT_LIMIT = 200


class EntryExists(Exception):
    """An entry with this id is already in the knowledge (or its file already exists)."""

    code = "entry_exists"


class ClusterGone(Exception):
    """The cluster named is not among the current ones (its questions changed since it was opened)."""

    code = "cluster_changed"


class NotPublished(Exception):
    """The files were written but the reloaded knowledge does not have the entry (why: the message)."""

    code = "not_published"


@dataclass(frozen=True)
class Proposal:
    """An entry to preview or publish: one or two translations of one id."""

    translations: tuple[DraftEntry, ...]
    cluster_key: str | None = None
    draft_id: int | None = None

    @property
    def entry_id(self) -> str:
        return self.translations[0].id

    @property
    def missing_lang(self) -> str | None:
        have = {t.lang for t in self.translations}
        return next((x for x in LANGS if x not in have), None)

    def files(self) -> list[tuple[str, str]]:
        """``(relative path, markdown)`` per translation; :class:`FaqFormatError` listing every problem."""
        problems: list[FormatProblem] = []
        out = []
        ids = {t.id for t in self.translations}
        langs = [t.lang for t in self.translations]
        if len(ids) != 1:
            problems.append(FormatProblem(Path("entry"), 0, "both translations must have the same `id`"))
        if len(set(langs)) != len(langs):
            problems.append(FormatProblem(Path("entry"), 0, "one translation per language"))
        for t in self.translations:
            try:
                out.append((f"{t.lang}/{t.id}.md", render_faq(t.id, t.lang, t.title, t.questions, t.answer, t.tags)))
            except FaqFormatError as exc:
                problems.extend(exc.problems)
        if problems:
            raise FaqFormatError(problems)
        return out


def with_entries(kb: KnowledgeBase, entries: Sequence[FaqEntry]) -> KnowledgeBase:
    """``kb`` plus ``entries`` (same tickets)."""
    grouped = {eid: dict(tr) for eid, tr in kb.entries.items()}
    for e in entries:
        grouped.setdefault(e.id, {})[e.lang] = e
    return KnowledgeBase(grouped, kb.ticket_set)


class Editorial:
    def __init__(self, runtime: KnowledgeRuntime, storage: Storage, gaps: ContentGaps) -> None:
        self.runtime = runtime
        self.storage = storage
        self.gaps = gaps
        self._publish_lock = threading.Lock()

    @property
    def faq_dir(self) -> Path:
        return self.runtime.index.faq_dir

    def _check_new(self, proposal: Proposal, snap: Snapshot) -> list[tuple[str, str]]:
        files = proposal.files()
        if proposal.entry_id in snap.kb.entries:
            raise EntryExists(
                f"an entry `id: {proposal.entry_id}` exists already; give the new entry another id, or edit "
                f"that entry's file"
            )
        for rel, _ in files:
            if (self.faq_dir / rel).exists():
                raise EntryExists(f"{Path(self.faq_dir.name) / rel} exists already; give the entry another id")
        return files

    def _candidate(self, snap: Snapshot, files: list[tuple[str, str]]) -> tuple[KnowledgeBase, Retriever]:
        entries = [parse_faq(text, self.faq_dir / rel) for rel, text in files]
        kb = with_entries(snap.kb, entries)
        index = self.runtime.index
        store = build_store(kb, index.embedders, index.location.cache, previous=snap.retriever.store)
        return kb, Retriever(store, index.embedders, snap.calibration.ranking, None, Terms(sorted(set(kb.key_terms()))))

    def _cluster(self, proposal: Proposal) -> GapCluster | None:
        if not proposal.cluster_key:
            return None
        cluster = self.gaps.find(proposal.cluster_key)
        if cluster is None:
            raise ClusterGone(f"the group {proposal.cluster_key} changed since it was opened; open it again")
        return cluster

    def _questions(self, cluster: GapCluster | None) -> tuple[list[tuple[str, str, str | None, str | None]], int]:
        """``(text, lang, rejected entry, linked entry)`` to ask: the cluster's questions, then distinct
        recent traffic."""
        asked: list[tuple[str, str, str | None, str | None]] = []
        seen: set[str] = set()
        for q in cluster.questions if cluster else []:
            if q.text.casefold() not in seen:
                seen.add(q.text.casefold())
                asked.append((q.text, q.lang, q.rejected, q.linked))
        n_cluster = len(asked)
        since = (datetime.now(UTC) - timedelta(days=RECENT_DAYS)).isoformat(timespec="microseconds")
        for r in self.storage.content.recent_questions(since, RECENT_LIMIT):
            text = " ".join((r["text"] or "").split())
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                asked.append((text, r["lang"] if r["lang"] in LANGS else "en", None, None))
        return asked, n_cluster

    @staticmethod
    def _decide_now(
        snap: Snapshot, asked: list[tuple[str, str, str | None, str | None]]
    ) -> tuple[list[str], list[str], dict[str, np.ndarray], list[Decided]]:
        """The questions' texts, languages and vectors (encoded once, for every version asked), and
        what the live desk decides for them."""
        texts, langs = [a[0] for a in asked], [a[1] for a in asked]
        vectors = snap.retriever.encode(texts) if texts else {}
        return texts, langs, vectors, decide_all(snap.retriever, snap, texts, langs, vectors)

    def preview(self, proposal: Proposal) -> dict[str, Any]:
        snap = self.runtime.snapshot
        files = self._check_new(proposal, snap)
        cluster = self._cluster(proposal)
        _, candidate = self._candidate(snap, files)
        asked, n_cluster = self._questions(cluster)
        texts, langs, vectors, before = self._decide_now(snap, asked)
        after = decide_all(candidate, snap, texts, langs, vectors)
        return self._report(proposal, files, asked, n_cluster, before, after, cluster)

    def _report(
        self,
        proposal: Proposal,
        files: list[tuple[str, str]],
        asked: list[tuple[str, str, str | None, str | None]],
        n_cluster: int,
        before: list[Decided],
        after: list[Decided],
        cluster: GapCluster | None,
    ) -> dict[str, Any]:
        new = proposal.entry_id
        rows = [
            {"text": t, "lang": lang, "rejected_entry": rej, "before": b.public(), "after": a.public(),
             "covered_before": covers(b, rej, linked), "covered_after": covers(a, rej, linked)}
            for (t, lang, rej, linked), b, a in zip(asked, before, after, strict=True)
        ]
        in_cluster, recent = rows[:n_cluster], rows[n_cluster:]
        recent_pairs = list(zip(before[n_cluster:], after[n_cluster:], strict=True))
        changed = [r for r, (b, a) in zip(recent, recent_pairs, strict=True) if (b.kind, b.entry_id) != (a.kind, a.entry_id)]
        return {
            "entry_id": new,
            "files": [{"path": str(Path(self.faq_dir.name) / rel), "markdown": text} for rel, text in files],
            "missing_lang": proposal.missing_lang,
            "cluster": None if cluster is None else {
                "key": cluster.key,
                "questions": n_cluster,
                "covered_before": sum(1 for r in in_cluster if r["covered_before"]),
                "covered_after": sum(1 for r in in_cluster if r["covered_after"]),
                "answered_from_new": sum(1 for a in after[:n_cluster] if a.entry_id == new),
                "rows": in_cluster,
            },
            "recent": {
                "questions": len(recent),
                "days": RECENT_DAYS,
                "newly_answered": sum(1 for b, a in recent_pairs if b.kind != "answer" and a.entry_id == new),
                "taken_from_others": sum(
                    1 for b, a in recent_pairs if b.kind == "answer" and b.entry_id != new and a.entry_id == new
                ),
                "no_longer_answered": sum(1 for b, a in recent_pairs if b.kind == "answer" and a.kind != "answer"),
                "changed": changed,
            },
        }

    def publish(self, proposal: Proposal, editor: str) -> dict[str, Any]:
        """Write the files, reload, and record the publication with the cluster's coverage before and after."""
        with self._publish_lock:
            snap = self.runtime.snapshot
            files = self._check_new(proposal, snap)
            if proposal.draft_id is not None and self.storage.drafts.get(proposal.draft_id).status != "open":
                raise InvalidTransition(f"FAQ draft {proposal.draft_id} is no longer open")
            cluster = self._cluster(proposal)
            asked, n_cluster = self._questions(cluster)
            asked = asked[:n_cluster]
            texts, langs, vectors, before = self._decide_now(snap, asked)
            written = self._write(files)
            if cluster is not None:  # its resolved handoffs are the new entry's questions from now on
                handoffs = [q.handoff_id for q in cluster.questions if q.handoff_id is not None]
                self.storage.content.link_to_entry(handoffs, proposal.entry_id)
            live = self.runtime.reload()
            if proposal.entry_id not in live.kb.entries:
                for path in written:
                    path.unlink(missing_ok=True)
                self.runtime.reload()
                why = self.runtime.last_error or "the reloaded knowledge does not have the entry; the files were removed"
                raise NotPublished(f"The knowledge did not take the entry: {why}")
            after = decide_all(live.retriever, live, texts, langs, vectors)
            if proposal.draft_id is not None:
                self.storage.drafts.set_status(proposal.draft_id, "published", editor)
            self.gaps.forget()
            return self.storage.content.add_publication(
                entry_id=proposal.entry_id,
                langs=[t.lang for t in proposal.translations],
                missing_lang=proposal.missing_lang,
                files=[str(Path(self.faq_dir.name) / rel) for rel, _ in files],
                cluster_key=proposal.cluster_key,
                draft_id=proposal.draft_id,
                questions=len(texts),
                covered_before=sum(1 for q, b in zip(asked, before, strict=True) if covers(b, q[2], q[3])),
                covered_after=sum(1 for q, a in zip(asked, after, strict=True) if covers(a, q[2], q[3])),
                taken_from_others=sum(
                    1 for b, a in zip(before, after, strict=True)
                    if b.kind == "answer" and b.entry_id != proposal.entry_id and a.entry_id == proposal.entry_id
                ),
                published_by=editor,
            )

    def _write(self, files: list[tuple[str, str]]) -> list[Path]:
        """Each file written aside and linked into place (fails if it exists: no overwrite, no half file)."""
        written: list[Path] = []
        try:
            for rel, text in files:
                final = self.faq_dir / rel
                final.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=final.parent)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as f:
                        f.write(text)
                        f.flush()
                        os.fsync(f.fileno())
                    os.link(tmp, final)
                except FileExistsError:
                    raise EntryExists(f"{Path(self.faq_dir.name) / rel} exists already") from None
                finally:
                    os.unlink(tmp)
                written.append(final)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return written
