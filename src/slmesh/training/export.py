"""ONNX export, dynamic int8 quantisation and the torch-vs-int8 parity check."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from slmesh.training.common import pad_features

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def export_onnx(model: torch.nn.Module, sample: Sequence[dict[str, Any]], outputs: list[str], path: Path) -> None:
    batch = pad_features(sample[:2])
    args = tuple(batch[name] for name in INPUTS)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    for name in outputs:
        axes[name] = {0: "batch"} if name in ("logits", "skill_logits") else {0: "batch", 1: "sequence"}
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            str(path),
            input_names=INPUTS,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def quantize_int8(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)


Agreement = Callable[[list[np.ndarray], list[np.ndarray]], bool]


def _rows(outputs: Sequence[np.ndarray], lengths: Sequence[int], token_level: set[int]) -> list[list[np.ndarray]]:
    return [[o[j, :n] if k in token_level else o[j] for k, o in enumerate(outputs)] for j, n in enumerate(lengths)]


def parity(
    model: torch.nn.Module,
    onnx_path: Path,
    sample: Sequence[dict[str, Any]],
    agree: Agreement,
    token_level: set[int],
    batch_size: int = 32,
) -> dict[str, Any]:
    """Share of examples where torch (fp32) and the ONNX file reach the same decision."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    same = 0
    for i in range(0, len(sample), batch_size):
        part = sample[i : i + batch_size]
        batch = pad_features(part)
        lengths = [len(f["input_ids"]) for f in part]
        with torch.no_grad():
            out = model(**batch)
        tensors = out if isinstance(out, tuple) else tuple(v for k, v in out.items() if k != "loss")
        expected = _rows([t.float().numpy() for t in tensors], lengths, token_level)
        actual = _rows(session.run(None, {k: v.numpy() for k, v in batch.items()}), lengths, token_level)
        same += sum(agree(e, a) for e, a in zip(expected, actual, strict=True))
    return {"examples": len(sample), "agreement": round(same / max(len(sample), 1), 4)}


def same_argmax(expected: list[np.ndarray], actual: list[np.ndarray]) -> bool:
    return bool(expected[0].argmax() == actual[0].argmax())


def same_span(expected: list[np.ndarray], actual: list[np.ndarray]) -> bool:
    return bool(expected[0].argmax() == actual[0].argmax() and expected[1].argmax() == actual[1].argmax())


def _tagged_span(token_logits: np.ndarray) -> tuple[int, int]:
    tagged = np.flatnonzero(token_logits > 0)
    return (int(tagged[0]), int(tagged[-1])) if tagged.size else (-1, -1)


def same_route(expected: list[np.ndarray], actual: list[np.ndarray]) -> bool:
    """Same skills chosen and the same subject span: the two decisions the router's output feeds."""
    same_skills = bool(((expected[0] > 0) == (actual[0] > 0)).all())
    return same_skills and _tagged_span(expected[1][1:-1]) == _tagged_span(actual[1][1:-1])


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
