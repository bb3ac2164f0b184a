"""Adapt e5 to one knowledge base from its own texts (``helpdesk tune``), on the CPU in minutes.

Contrastive, SetFit-style: pairs of texts of the same entry (an alternative question and another
question, the title, or a passage of the answer) are pulled together and every other entry's
texts in the batch pushed apart (in-batch negatives, InfoNCE with a learned-free temperature).
Each batch holds at most one pair per entry, so no entry is its own negative. The word
embeddings (80% of the weights) stay frozen: the vocabulary is multilingual and a small FAQ
must not move it; the 12 transformer layers learn the knowledge's distinctions.

The result is an ordinary SentenceTransformer folder written aside (``<data-dir>/models/``) and
made current by one atomic pointer swap, like an index.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from knowledge.corpus import QUESTION_KINDS, Doc


@dataclass(frozen=True)
class TuneConfig:
    epochs: int = 2
    batch_entries: int = 32  # pairs per batch, each from a different entry
    learning_rate: float = 3e-5
    temperature: float = 0.05
    max_pairs_per_entry: int = 40
    seed: int = 0
    threads: int | None = None
    max_tokens: int = 128  # texts are cut here while training (passages are longer; their start says most)


@dataclass(frozen=True)
class TuneReport:
    folder: str
    pairs: int
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    config: dict[str, object]


def training_pairs(docs: Sequence[Doc], max_per_entry: int = 40, seed: int = 0) -> list[tuple[str, str, bool, str]]:
    """``(question, positive, positive is a passage, entry)`` for every entry with a question."""
    by_entry: dict[str, list[Doc]] = {}
    for d in docs:
        if d.entry_id:
            by_entry.setdefault(d.entry_id, []).append(d)
    rng = random.Random(seed)
    out = []
    for eid in sorted(by_entry):
        texts = by_entry[eid]
        questions = [d for d in texts if d.kind in QUESTION_KINDS]
        pairs = [
            (q.text, other.text, other.is_passage, eid)
            for q in questions
            for other in texts
            if other is not q and other.text != q.text
        ]
        rng.shuffle(pairs)
        out.extend(pairs[:max_per_entry])
    return out


def _batches(pairs: list[tuple[str, str, bool, str]], size: int, rng: random.Random) -> list[list[int]]:
    """Batches with at most one pair per entry."""
    order = list(range(len(pairs)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    open_: list[tuple[set[str], list[int]]] = []
    for i in order:
        eid = pairs[i][3]
        for seen, batch in open_:
            if eid not in seen and len(batch) < size:
                seen.add(eid)
                batch.append(i)
                break
        else:
            open_.append(({eid}, [i]))
        full = [b for b in open_ if len(b[1]) >= size]
        for b in full:
            batches.append(b[1])
            open_.remove(b)
    batches.extend(b for _, b in open_ if len(b) >= 2)
    rng.shuffle(batches)
    return batches


def fingerprint(docs: Sequence[Doc], base: Path, config: TuneConfig) -> str:
    h = hashlib.sha256(str(base.resolve()).encode())
    h.update(json.dumps(asdict(config), sort_keys=True).encode())
    for d in docs:
        h.update(f"{d.entry_id}\x1f{d.kind}\x1f{d.text}\x1e".encode())
    return h.hexdigest()[:12]


def tune(
    base: Path,
    docs: Sequence[Doc],
    out_dir: Path,
    config: TuneConfig = TuneConfig(),
    progress: Callable[[int, int, float], None] | None = None,
) -> TuneReport:
    """Fine-tune the SentenceTransformer folder ``base`` on ``docs``; write ``out_dir`` (atomically)."""
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    pairs = training_pairs(docs, config.max_pairs_per_entry, config.seed)
    if len({p[3] for p in pairs}) < 2:
        raise ValueError("tuning needs at least two FAQ entries with questions")
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    saved_max = model.max_seq_length
    model.max_seq_length = config.max_tokens
    for name, param in model.named_parameters():
        param.requires_grad = "word_embeddings" not in name
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.01)
    plan = [_batches(pairs, config.batch_entries, rng) for _ in range(config.epochs)]
    total = sum(len(p) for p in plan)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda step: min(1.0, (step + 1) / max(1, total // 10)) * max(0.0, 1 - step / max(1, total))
    )

    def embed(texts: list[str]) -> torch.Tensor:
        features = model.preprocess(texts)
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    model.train()
    losses: list[float] = []
    step = 0
    for epoch in plan:
        for batch in epoch:
            anchors = ["query: " + pairs[i][0] for i in batch]
            positives = [("passage: " if pairs[i][2] else "query: ") + pairs[i][1] for i in batch]
            a, p = embed(anchors), embed(positives)
            logits = a @ p.T / config.temperature
            target = torch.arange(len(batch))
            loss = (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)) / 2
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            sched.step()
            losses.append(float(loss.detach()))
            step += 1
            if progress:
                progress(step, total, losses[-1])
    model.eval()
    model.max_seq_length = saved_max
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".tmp-{out_dir.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    report = TuneReport(
        str(out_dir),
        len(pairs),
        step,
        round(time.perf_counter() - started, 1),
        losses[0] if losses else 0.0,
        sum(losses[-10:]) / max(1, len(losses[-10:])),
        asdict(config),
    )
    (tmp / "tuning.json").write_text(json.dumps(asdict(report), indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return report


def make_current(models_dir: Path, folder: Path) -> None:
    """Point ``models_dir/current`` at ``folder`` in one atomic step; drop older tuned models."""
    link_tmp = models_dir / f".current-{os.getpid()}-{time.monotonic_ns()}"
    os.symlink(os.path.relpath(folder, models_dir), link_tmp)
    os.replace(link_tmp, models_dir / "current")
    for old in models_dir.glob("e5-tuned-*"):
        if old.is_dir() and old.resolve() != folder.resolve():
            shutil.rmtree(old, ignore_errors=True)
