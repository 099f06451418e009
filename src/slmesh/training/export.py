"""ONNX export, dynamic int8 quantisation and the torch-vs-int8 parity check."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slmesh.runtime import new_session
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


# MatMuls left in fp32, by skill: one whose int8 rounding moves decisions away from fp32 more than any other's.
# Dynamic int8 gives each MatMul input one scale per call, so a few large values in it cost the rest their
# resolution. `python -m slmesh.research.probes int8-sensitivity MODEL_DIR` ranks the candidates; docs/models.md has
# what it found for each model.
KEPT_FP32: dict[str, tuple[str, ...]] = {
    "sentiment": ("/layer.0/output/dense/",),
    "qa": ("/layer.0/output/dense/",),
    "router": (),
    "embed": ("/layer.0/output/dense/", "/layer.1/output/dense/"),
}


def kept_nodes(fp32: Path, fragments: Sequence[str]) -> list[str]:
    """The MatMul nodes of an fp32 export whose names contain one of `fragments`.

    Gemm nodes (pooler, classifier) cannot be kept: the quantiser renames them before it reads its exclusion list.
    """
    import onnx

    nodes = onnx.load(str(fp32), load_external_data=False).graph.node
    kept = [n.name for n in nodes if n.op_type == "MatMul" and any(f in n.name for f in fragments)]
    # Another architecture names its nodes otherwise (DistilBERT: /transformer/layer.0/ffn/lin2): say so, don't guess.
    for fragment in fragments:
        if not any(fragment in name for name in kept):
            warnings.warn(f"no MatMul of {fp32.name} matches {fragment!r}: it is quantised like the rest", stacklevel=2)
    return kept


def weight_matmuls(path: Path) -> list[str]:
    """The MatMul nodes with a stored weight: every one of an fp32 file, the ones kept in fp32 of a quantised file."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and weights & set(n.input)]


def quantize_int8(fp32: Path, int8: Path, keep_fp32: Sequence[str] = ()) -> None:
    """Dynamic int8, except the MatMul nodes whose names contain one of `keep_fp32`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales follow each output row's range; 7-bit weights (reduce_range) keep the u8 x s8 products of
    # AVX2 CPUs without VNNI from saturating. Both cut the int8-vs-fp32 disagreements measured by `parity`.
    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
        nodes_to_exclude=kept_nodes(fp32, keep_fp32) if keep_fp32 else [],
    )


Agreement = Callable[[list[np.ndarray], list[np.ndarray]], bool]
Reference = Callable[[dict[str, torch.Tensor]], Sequence[np.ndarray]]


def _rows(outputs: Sequence[np.ndarray], lengths: Sequence[int], token_level: set[int]) -> list[list[np.ndarray]]:
    return [[o[j, :n] if k in token_level else o[j] for k, o in enumerate(outputs)] for j, n in enumerate(lengths)]


def torch_reference(model: torch.nn.Module) -> Reference:
    def run(batch: dict[str, torch.Tensor]) -> Sequence[np.ndarray]:
        with torch.no_grad():
            out = model(**batch)
        tensors = out if isinstance(out, tuple) else tuple(v for k, v in out.items() if k != "loss")
        return [t.float().numpy() for t in tensors]

    return run


def onnx_reference(path: Path) -> Reference:
    """The fp32 ONNX export, for re-checking a re-quantised model once the torch weights are gone."""
    session = new_session(path, threads=0)

    def run(batch: dict[str, torch.Tensor]) -> Sequence[np.ndarray]:
        return [np.asarray(o) for o in session.run(None, {k: v.numpy() for k, v in batch.items()})]

    return run


def parity(
    reference: Reference,
    onnx_path: Path,
    sample: Sequence[dict[str, Any]],
    checks: dict[str, Agreement],
    token_level: set[int],
    batch_size: int = 32,
) -> dict[str, Any]:
    """Share of examples where the fp32 reference and the ONNX file reach the same decision, per check."""
    session = new_session(onnx_path, threads=0)
    same = dict.fromkeys(checks, 0)
    for i in range(0, len(sample), batch_size):
        part = sample[i : i + batch_size]
        batch = pad_features(part)
        lengths = [len(f["input_ids"]) for f in part]
        expected = _rows(reference(batch), lengths, token_level)
        actual = _rows(session.run(None, {k: v.numpy() for k, v in batch.items()}), lengths, token_level)
        for name, agree in checks.items():
            same[name] += sum(agree(e, a) for e, a in zip(expected, actual, strict=True))
    return {"examples": len(sample), **{name: round(n / max(len(sample), 1), 4) for name, n in same.items()}}


def same_argmax(expected: list[np.ndarray], actual: list[np.ndarray]) -> bool:
    return bool(expected[0].argmax() == actual[0].argmax())


def same_span(expected: list[np.ndarray], actual: list[np.ndarray]) -> bool:
    return bool(expected[0].argmax() == actual[0].argmax() and expected[1].argmax() == actual[1].argmax())


def _tagged_span(token_logits: np.ndarray) -> tuple[int, int]:
    tagged = np.flatnonzero(token_logits > 0)
    return (int(tagged[0]), int(tagged[-1])) if tagged.size else (-1, -1)


def same_skills(expected: list[np.ndarray], actual: list[np.ndarray]) -> bool:
    return bool(((expected[0] > 0) == (actual[0] > 0)).all())


def same_subject(expected: list[np.ndarray], actual: list[np.ndarray]) -> bool:
    """First and last subject token agree ([CLS] and [SEP] excluded)."""
    return _tagged_span(expected[1][1:-1]) == _tagged_span(actual[1][1:-1])


def same_targets(expected: list[np.ndarray], actual: list[np.ndarray]) -> bool:
    """Every skill's target (subject or context) agrees; a model without a target head agrees trivially."""
    return len(expected) < 3 or bool(((expected[2] > 0) == (actual[2] > 0)).all())


PARITY_CHECKS: dict[str, tuple[dict[str, Agreement], set[int]]] = {
    "sentiment": ({"same_label": same_argmax}, set()),
    "qa": ({"same_span": same_span}, {0, 1}),
    "router": ({"same_skills": same_skills, "same_subject_span": same_subject, "same_targets": same_targets}, {1}),
}
