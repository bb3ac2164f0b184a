"""e5 on onnxruntime: exported from the real SentenceTransformer folder at first use, cached by hash.

The export (about 30 s and 600 MB on disk, once per machine) lands in the model cache beside the
folder, as it does for the service.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.embedders import E5Embedder, OnnxE5Embedder, load_embedders, vectors_key
from indexer.models.onnx_export import ensure_onnx, folder_digest

TEXTS = [
    "how do I issue a credit note",
    "发票红冲怎么开",
    "invoice",
    "E5003 sync failed since 23:00, invoices stuck in draft, 发票没生成 " * 40,  # past 512 tokens: truncated
    "Can I change the VAT rate on an invoice that was already sent to the customer by email?",
]


@pytest.fixture(scope="module")
def torch_e5(embedders: list) -> E5Embedder:
    e5 = next(e for e in embedders if e.name == "multilingual-e5-small")
    return e5 if isinstance(e5, E5Embedder) else E5Embedder(e5.folder)


@pytest.fixture(scope="module")
def onnx_fp32(torch_e5: E5Embedder) -> OnnxE5Embedder:
    return OnnxE5Embedder(torch_e5.folder, quantized=False)


@pytest.fixture(scope="module")
def onnx_int8(torch_e5: E5Embedder) -> OnnxE5Embedder:
    return OnnxE5Embedder(torch_e5.folder, quantized=True)


def test_fp32_export_gives_torchs_vectors_for_any_batch_and_length(torch_e5: E5Embedder, onnx_fp32) -> None:
    for passage in (False, True):
        ref = torch_e5.encode(TEXTS, passage=passage)
        together = onnx_fp32.encode(TEXTS, passage=passage)
        one_by_one = np.vstack([onnx_fp32.encode([t], passage=passage) for t in TEXTS])
        assert together.shape == (len(TEXTS), 384) and together.dtype == np.float32
        assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
        assert (ref * together).sum(1).min() > 0.9999
        assert (together * one_by_one).sum(1).min() > 0.9999  # padding in a batch changes nothing
    assert (onnx_fp32.encode(["x"]) * onnx_fp32.encode(["x"], passage=True)).sum() < 0.999  # prefixes differ


def test_int8_stays_close_to_torch_and_keeps_the_ranking(torch_e5: E5Embedder, onnx_int8) -> None:
    ref, q = torch_e5.encode(TEXTS), onnx_int8.encode(TEXTS)
    assert (ref * q).sum(1).min() > 0.96
    # the nearest of the other texts is the same under both
    assert ((ref @ ref.T - 2 * np.eye(len(TEXTS))).argmax(1) == (q @ q.T - 2 * np.eye(len(TEXTS))).argmax(1)).all()
    assert onnx_int8.encode([]).shape == (0, 384)


def test_backends_share_the_name_but_not_the_key(torch_e5: E5Embedder, onnx_fp32, onnx_int8) -> None:
    assert torch_e5.name == onnx_fp32.name == onnx_int8.name == "multilingual-e5-small"
    keys = {vectors_key(torch_e5), vectors_key(onnx_fp32), vectors_key(onnx_int8)}
    assert len(keys) == 3 and vectors_key(torch_e5) == "multilingual-e5-small"
    assert vectors_key(onnx_int8).startswith("multilingual-e5-small@onnx-int8-")


def test_the_export_is_made_once_and_found_by_the_weights_hash(torch_e5: E5Embedder, onnx_int8) -> None:
    path = ensure_onnx(torch_e5.folder, quantized=True)
    assert path == onnx_int8.path and path.parent.name == folder_digest(torch_e5.folder)
    before = path.stat().st_mtime_ns
    assert ensure_onnx(torch_e5.folder, quantized=True).stat().st_mtime_ns == before  # not exported again
    assert not [p for p in path.parent.parent.iterdir() if p.name.startswith(".tmp-")]


def test_the_digest_follows_weights_and_config(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text("{}")
    first = folder_digest(folder)
    assert folder_digest(folder) == first
    (folder / "config.json").write_text('{"hidden_size": 384}')
    assert folder_digest(folder) != first
    other = tmp_path / "copy"
    shutil.copytree(folder, other)
    assert folder_digest(other) == folder_digest(folder)  # content, not place


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown e5 backend"):
        load_embedders(["multilingual-e5-small"], e5_backend="tensorrt")
