"""Reads a model's weights back out of its ONNX export (fp32 or dynamic int8) as a torch-style state dict.

A model whose trained fp32 file was lost has only its int8 file. Its dequantised weights, exported again
(`python -m slmesh.research.quantization rebuild-fp32`), are an fp32 model that differs from the int8 one only by
activation quantisation: the reference the int8 file can be re-quantised from and checked against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

QUANTIZED = "_quantized"


def _torch_name(node_name: str) -> str:
    """'/bert/encoder/layer.0/attention/self/query/MatMul_quant' -> 'bert.encoder.layer.0.attention.self.query'."""
    return ".".join(node_name.strip("/").split("/")[:-1])


def state_dict_from_onnx(path: Path) -> dict[str, np.ndarray]:
    """Every trained tensor of an exported BERT-style model under its torch name, in torch layout, as float32.

    torch.onnx gives MatMul weights anonymous names ('onnx::MatMul_778'), stored input-major; the node that consumes
    one is named after its module, which is where the torch name comes from. Int8 tensors are dequantised with their
    own scale and zero point (per tensor or per output channel).
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    def value(name: str) -> np.ndarray:
        if not name.endswith(QUANTIZED):
            return tensors[name].astype(np.float32)
        base = name[: -len(QUANTIZED)]
        scale = tensors[base + "_scale"].astype(np.float32)
        # Per tensor, or per output column of an input-major MatMul weight: the layouts ORT's dynamic quantiser writes.
        if scale.shape not in ((), tensors[name].shape[-1:]):
            raise ValueError(f"{name}: scales of shape {scale.shape} for a {tensors[name].shape} tensor")
        levels = tensors[name].astype(np.float32) - tensors[base + "_zero_point"].astype(np.float32)
        return levels * scale

    weights: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type in ("MatMul", "MatMulInteger") and len(node.input) > 1 and node.input[1] in tensors:
            weights[_torch_name(node.name) + ".weight"] = value(node.input[1]).T.copy()
        elif node.op_type == "Gemm" and node.input[1] in tensors:
            transposed = any(a.name == "transB" and a.i == 1 for a in node.attribute)
            weight = value(node.input[1])
            weights[node.input[1]] = weight if transposed else weight.T.copy()
        elif node.op_type == "Gather" and node.input[0] in tensors:
            weights[node.input[0].removesuffix(QUANTIZED)] = value(node.input[0])
    # Biases and layer norms keep their torch names and layout.
    for name, tensor in tensors.items():
        derived = "::" in name or name.endswith((QUANTIZED, "_scale", "_zero_point"))
        if not derived and name not in weights and tensor.dtype.kind == "f":
            weights[name] = tensor.astype(np.float32)
    return weights
