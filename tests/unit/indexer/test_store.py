from pathlib import Path

import numpy as np
import pytest

from indexer.build import build_and_publish, is_stale, load_current
from indexer.embedders import vectors_key
from indexer.store import IndexLocation, IndexMismatch, VectorStore
from knowledge.corpus import load_knowledge

MD = """---
id: {id}
lang: {lang}
questions:
  - {q}
---
# {title}

{answer}
"""


def write(folder: Path, id: str, lang: str, q: str, title: str, answer: str = "Answer text.") -> Path:
    p = folder / lang / f"{id}.md"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(MD.format(id=id, lang=lang, q=q, title=title, answer=answer))
    return p


class Counting:
    """Wraps an embedder and records how many texts each call encodes."""

    def __init__(self, inner: object, calls: list[int]) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim  # type: ignore[attr-defined]
        self.key = vectors_key(inner)  # type: ignore[arg-type]
        self.calls = calls

    def encode(self, texts: list[str], passage: bool = False) -> np.ndarray:
        self.calls.append(len(texts))
        return self.inner.encode(texts, passage=passage)  # type: ignore[attr-defined]


@pytest.fixture()
def faq(tmp_path: Path) -> Path:
    f = tmp_path / "faq"
    write(f, "credit-note", "en", "Can I cancel a sent invoice?", "How do I issue a credit note?")
    write(f, "credit-note", "zh", "发票开错了怎么办", "怎么开红字发票？")
    write(f, "api-keys", "en", "Where do I create an API key?", "How do I manage API keys?")
    return f


def test_build_publish_load_and_manifest(tmp_path: Path, faq: Path, embedders: list) -> None:
    kb = load_knowledge(faq)
    loc = IndexLocation(tmp_path / "index")
    store = build_and_publish(kb, embedders, loc)
    m = store.manifest
    assert m.model_names == [e.name for e in embedders]
    assert m.models[0]["dim"] == embedders[0].dim
    assert m.counts["docs"] == len(kb.docs) == 9 and m.content_hash  # title, question, answer passage == kb.content_hash and m.built_at
    loaded = load_current(loc, embedders)
    assert loaded is not None and not is_stale(loaded, kb)
    assert [d.text for d in loaded.faq.docs] == [d.text for d in store.faq.docs]
    q = embedders[0].encode(["How do I make a credit note?"])
    scores, ids = loaded.faq.search(embedders[0].name, q, 1)
    assert loaded.faq.docs[int(ids[0][0])].entry_id == "credit-note"


def test_index_built_with_other_models_is_refused(tmp_path: Path, faq: Path, embedders: list) -> None:
    loc = IndexLocation(tmp_path / "index")
    build_and_publish(load_knowledge(faq), embedders, loc)
    folder = loc.current_folder()
    assert folder is not None
    with pytest.raises(IndexMismatch, match="run `helpdesk index`"):
        VectorStore.load(folder, ["some-other-model"])


class OtherBackend:
    """The same model run another way: same name, other vectors key."""

    def __init__(self, inner: object) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim  # type: ignore[attr-defined]
        self.key = f"{inner.name}@elsewhere"  # type: ignore[attr-defined]

    def encode(self, texts: list[str], passage: bool = False) -> np.ndarray:
        return self.inner.encode(texts, passage=passage)  # type: ignore[attr-defined]


def test_index_built_on_another_backend_is_not_loaded(tmp_path: Path, faq: Path, embedders: list) -> None:
    loc = IndexLocation(tmp_path / "index")
    kb = load_knowledge(faq)
    build_and_publish(kb, embedders, loc)
    other = [OtherBackend(e) for e in embedders]
    assert load_current(loc, other, kb) is None  # so the service rebuilds instead of mixing vectors
    store = build_and_publish(kb, other, loc)
    assert store.manifest.model_keys == [f"{e.name}@elsewhere" for e in embedders]
    assert store.manifest.tickets_folder != store.manifest.tickets_hash  # its own tickets vectors
    assert load_current(loc, other, kb) is not None and load_current(loc, embedders, kb) is None


def test_rebuild_embeds_only_new_texts(tmp_path: Path, faq: Path, embedders: list) -> None:
    loc = IndexLocation(tmp_path / "index")
    build_and_publish(load_knowledge(faq), embedders, loc)
    first = loc.current_folder()
    write(faq, "webhooks", "en", "How do I receive events?", "How do I set up webhooks?")
    counted: list[int] = []

    store = build_and_publish(load_knowledge(faq), [Counting(e, counted) for e in embedders], loc)
    assert sum(counted) == 2 * len(embedders)  # title + one question, per model (the answer text is cached)
    assert loc.current_folder() != first and store.manifest.counts["docs"] == 12


def test_failed_build_leaves_the_old_index_serving(tmp_path: Path, faq: Path, embedders: list) -> None:
    loc = IndexLocation(tmp_path / "index")
    build_and_publish(load_knowledge(faq), embedders, loc)
    before = loc.current_folder()
    write(faq, "webhooks", "en", "How do I receive events?", "How do I set up webhooks?")

    class Broken:
        name, dim = embedders[0].name, embedders[0].dim

        def encode(self, texts: list[str], passage: bool = False) -> np.ndarray:
            raise RuntimeError("model crashed mid-build")

    with pytest.raises(RuntimeError):
        build_and_publish(load_knowledge(faq), [Broken(), *embedders[1:]], loc)
    assert loc.current_folder() == before
    assert not [p for p in loc.builds.iterdir() if p.name.startswith(".tmp-")]
    assert load_current(loc, embedders) is not None


def test_large_partitions_get_an_approximate_index_with_high_recall() -> None:
    from indexer.store import index_kind, make_index

    rng = np.random.default_rng(1)
    centers = rng.normal(size=(200, 64)).astype(np.float32)
    vecs = centers[rng.integers(0, 200, 20_000)] + 0.3 * rng.normal(size=(20_000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    small = make_index(vecs[:1000], approx_threshold=5_000)
    approx = make_index(vecs, approx_threshold=5_000)
    exact = make_index(vecs, approx_threshold=10**9)
    assert index_kind(small) == "exact" and index_kind(approx).startswith("ivf-sq8")
    queries = vecs[:200] + 0.1 * rng.normal(size=(200, 64)).astype(np.float32)
    _, truth = exact.search(queries, 10)
    _, got = approx.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got, strict=True)])
    assert recall >= 0.9


def test_tickets_partition_is_reused_or_extended_not_rebuilt(
    tmp_path: Path, faq: Path, embedders: list
) -> None:
    from indexer.build import build_store
    from knowledge.tickets import Ticket, append_ticket

    tdir = tmp_path / "tickets"
    for i in range(3):
        append_ticket(
            tdir / "t.jsonl", Ticket(f"T{i}", f"customer issue number {i}", "fixed", "en", "2026-01-01")
        )
    kb = load_knowledge(faq, [tdir])
    first = build_store(kb, embedders)
    assert first.manifest.partitions["tickets"]["models"] == [embedders[0].name]
    assert len(first.tickets.docs) == 3
    same = build_store(load_knowledge(faq, [tdir]), embedders, previous=first)
    assert same.tickets is first.tickets
    append_ticket(tdir / "t.jsonl", Ticket("T9", "a brand new problem", "fixed", "en", "2026-01-02"))
    counted: list[int] = []

    grown = build_store(
        load_knowledge(faq, [tdir]), [Counting(e, counted) for e in embedders], previous=first
    )
    faq_docs = load_knowledge(faq).faq_docs
    questions = sum(1 for d in faq_docs if not d.is_passage)
    # no cache folder here: each model embeds the FAQ questions, then the passages; the first model the new ticket
    assert counted == [questions, len(faq_docs) - questions] * len(embedders) + [1]
    assert [d.ticket_id for d in grown.tickets.docs] == ["T0", "T1", "T2", "T9"]
    assert len(first.tickets.docs) == 3  # the serving store is never mutated
