"""Loads each skill's ONNX session, tokenizer and inference settings once per process."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import _pybind_state as ort_process
from tokenizers import Tokenizer

MODEL_FILE = "model.onnx"
# The fp32 export beside it, kept out of git: training, re-quantising and the quantisation probes read it.
FP32_FILE = "model_fp32.onnx"
TOKENIZER_FILE = "tokenizer.json"
CARD_FILE = "card.json"


class ModelNotFoundError(FileNotFoundError):
    """A skill has no model in the models directory."""


@dataclass(frozen=True)
class ModelBundle:
    """Everything one skill needs at inference time."""

    skill: str
    session: ort.InferenceSession
    tokenizer: Tokenizer
    inference: dict[str, Any]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.session.get_inputs())

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        wanted = {name: feeds[name] for name in self.input_names}
        return [np.asarray(o) for o in self.session.run(None, wanted)]


def read_card(model_dir: Path) -> dict[str, Any]:
    card: dict[str, Any] = json.loads((model_dir / CARD_FILE).read_text())
    return card


def sha256(path: Path) -> str:
    """The digest a card records for each file, so a card can be checked against the files beside it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_pool_lock = threading.Lock()
_pool_size: int | None = None


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def share_threads(threads: int = 0) -> int:
    """Gives every later session of this process one intra-op pool of `threads` (0: one per usable core).

    Sessions with pools of their own fight over the same few cores when skills run side by side (on 2 cores, three
    sessions' spinning threads doubled the pipeline's latency once: a one-off observation in docs/benchmark.md); one
    shared pool adds no threads per session. The
    pool spins while waiting for work (ONNX Runtime's Python API cannot turn that off for a global pool), which is
    what makes two threads pay off for a 100-token QA call. ONNX Runtime sizes the pool once per process, so the
    first call decides; the size in use is returned. Once it exists, every session of the process must use it:
    sessions made outside `new_session` (onnxruntime.quantization makes some) fail, so training never calls this.
    """
    global _pool_size
    with _pool_lock:
        if _pool_size is None:
            size = threads or usable_cores()
            ort_process.set_global_thread_pool_sizes(size, 1)
            _pool_size = size
        return _pool_size


def pool_size() -> int | None:
    """The shared pool's size, or None while each session has threads of its own."""
    return _pool_size


def session_options(threads: int = 1) -> ort.SessionOptions:
    """Options for every session slmesh creates: the shared pool once there is one, else `threads` of its own."""
    options = ort.SessionOptions()
    if _pool_size is not None:
        options.use_per_session_threads = False
    else:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Threads that spin while idle would steal the cores of a session running beside this one.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Every request has its own batch and sequence length: cached memory patterns per shape only grow RSS.
    options.enable_mem_pattern = False
    return options


UNFUSED = ["SkipLayerNormFusion"]
"""ONNX Runtime fusions left out: on this AVX-512 CPU the fused SkipLayerNormalization kernel is a little slower than
the Add and LayerNormalization it replaces (`python -m slmesh.bench.probes fusion MODEL`: medians of three, sentiment
32 x 20 tokens 45.6 -> 40.5 ms, QA 115 tokens 9.6 -> 9.0 ms; single repetitions vary more than that, see
docs/benchmark.md)."""


def new_session(path: Path, threads: int = 1, disabled: Sequence[str] = UNFUSED) -> ort.InferenceSession:
    # Under the lock: options made for threads of its own would be refused if the pool appeared before the session.
    with _pool_lock:
        return ort.InferenceSession(
            str(path),
            sess_options=session_options(threads),
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(disabled),
        )


def load_bundle(model_dir: Path, skill: str, threads: int = 1, model_file: str = MODEL_FILE) -> ModelBundle:
    if not (model_dir / model_file).is_file():
        raise ModelNotFoundError(f"no model for skill {skill!r} at {model_dir / model_file}")
    session = new_session(model_dir / model_file, threads)
    tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return ModelBundle(skill, session, tokenizer, read_card(model_dir)["inference"])


class ModelSource(Protocol):
    """Where skills get their bundles; tests pass an in-memory one."""

    def get(self, skill: str) -> ModelBundle: ...


class ModelStore:
    """Process-wide cache: each bundle is loaded on first use and kept; all of them share one thread pool."""

    def __init__(self, models_dir: Path, threads: int = 0) -> None:
        self._models_dir = models_dir
        self.threads = share_threads(threads)
        self._bundles: dict[str, ModelBundle] = {}
        self._lock = threading.Lock()

    def get(self, skill: str) -> ModelBundle:
        bundle = self._bundles.get(skill)
        if bundle is None:
            with self._lock:
                bundle = self._bundles.get(skill)
                if bundle is None:
                    bundle = load_bundle(self._models_dir / skill, skill)
                    self._bundles[skill] = bundle
        return bundle
