"""multilingual-e5-small (or a fine-tuned copy) exported to ONNX, optionally int8-quantised, at first use.

The SentenceTransformer folder's BERT is traced once with torch (mean pooling and normalisation in the
graph, so a session returns the sentence vectors), opset 17; ``quantize_dynamic`` then writes int8
weights (per tensor: per-channel and MatMul-only were measured slower here for the same agreement,
docs/benchmarks.md). The files go under ``<folder>/onnx/<digest>/`` where the digest hashes the
folder's weights and config and this exporter's version, so a re-tuned model gets its own export and
nothing stale is loaded; they are written aside and renamed into place, so several processes starting
at once never load half a file. Generated, never committed: about 470 MB (fp32) and 118 MB (int8).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

EXPORT_VERSION = 1  # bump when the graph or the quantisation changes
OPSET = 17
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
HASHED_FILES = (*WEIGHT_FILES, "config.json", "tokenizer.json")


def folder_digest(folder: Path) -> str:
    """What the export depends on: the weights, the config, the tokenizer and EXPORT_VERSION."""
    h = hashlib.sha256(f"onnx-export-v{EXPORT_VERSION}-opset{OPSET}".encode())
    for name in HASHED_FILES:
        p = folder / name
        if not p.exists():
            continue
        h.update(name.encode())
        with p.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()[:16]


def onnx_path(folder: Path, quantized: bool) -> Path:
    return folder / "onnx" / folder_digest(folder) / ("model-int8.onnx" if quantized else "model.onnx")


def ensure_onnx(folder: Path, quantized: bool = True, log: bool = True) -> Path:
    """The ONNX file of the SentenceTransformer ``folder``, exported (and quantised) if not there yet."""
    target = onnx_path(folder, quantized)
    if target.exists():
        return target
    out_dir = target.parent
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".tmp-{out_dir.name}-{os.getpid()}-{time.monotonic_ns()}"
    tmp.mkdir()
    try:
        started = time.perf_counter()
        fp32 = out_dir / "model.onnx"
        with warnings.catch_warnings():  # the tracer's and the quantiser's advice, not problems here
            warnings.simplefilter("ignore")
            if not fp32.exists():
                _export(folder, tmp / "model.onnx")
                fp32 = tmp / "model.onnx"
            if quantized:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                logging.disable(logging.WARNING)
                try:
                    quantize_dynamic(str(fp32), str(tmp / "model-int8.onnx"), weight_type=QuantType.QInt8)
                finally:
                    logging.disable(logging.NOTSET)
        if log:
            print(f"exported {folder.name} to ONNX{' (int8)' if quantized else ''} in {time.perf_counter() - started:.0f} s")
        out_dir.mkdir(exist_ok=True)
        for f in tmp.iterdir():
            dest = out_dir / f.name
            if not dest.exists():
                os.replace(f, dest)  # atomic per file; another process may have put the same file first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _export(folder: Path, out: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    bert: Any = st[0].auto_model
    bert.eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    sample = st.tokenizer(["query: invoice", "query: 发票红冲怎么开"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.onnx.export(
            Encoder(),
            (sample["input_ids"], sample["attention_mask"]),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
            opset_version=OPSET,
            dynamo=False,
        )
