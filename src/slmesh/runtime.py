"""Loads each model's ONNX session, tokenizer and card once per process, checking the files against the card."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from slmesh.lazy import Once, OnceMap

if TYPE_CHECKING:
    # Imported where sessions are made: the aggregator reads cards and results without any model runtime.
    import onnxruntime as ort
    from tokenizers import Tokenizer

MODEL_FILE = "model.onnx"
# The fp32 export beside it, kept out of git: training, re-quantising and the quantisation probes read it.
FP32_FILE = "model_fp32.onnx"
TOKENIZER_FILE = "tokenizer.json"
CARD_FILE = "card.json"


CallGate = Callable[[int], None]
"""Called with a call's padded token count before every model call of a request: it may wait, or raise to stop."""
call_gate: ContextVar[CallGate | None] = ContextVar("slmesh_call_gate", default=None)
"""The gate of the request the current thread serves (`slmesh.scheduling`); None outside a request."""

SHRINK_TOKENS = 1024
"""A call of more padded tokens than this hands its arena chunks back when it ends (see `_shrinking`)."""


class ModelNotFoundError(FileNotFoundError):
    """A skill has no model in the models directory."""


class InvalidModelError(ValueError):
    """A model's files or card are broken: unreadable, altered since the card was written, or mis-set."""


@dataclass(frozen=True)
class ModelBundle:
    """Everything one model needs at inference time."""

    name: str
    session: ort.InferenceSession
    tokenizer: Tokenizer
    inference: dict[str, Any]
    model_sha256: str = ""
    """The model file's sha256 as its card records it ("" where the card records none)."""

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.session.get_inputs())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's outputs by name, so that no caller depends on their order in the graph."""
        wanted = {name: feeds[name] for name in self.input_names}
        tokens = int(wanted["input_ids"].size) if "input_ids" in wanted else 0
        gate = call_gate.get()
        if gate is not None:
            gate(tokens)
        names = [o.name for o in self.session.get_outputs()]
        options = _shrinking.get() if tokens > SHRINK_TOKENS else None
        outputs = self.session.run(names, wanted, options)
        return {name: np.asarray(value) for name, value in zip(names, outputs, strict=True)}


def _shrink_options() -> ort.RunOptions:
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


_shrinking = Once(_shrink_options)
"""Run options that give the CPU arena's extra chunks back after the call.

The arena keeps what its largest call needed: one 100,000-character context held gigabytes for the life of the
process. Small calls keep the arena (re-allocating per call costs them time); long ones return what they grew."""
_libc = Once(lambda: ctypes.CDLL(None))


def release_memory() -> None:
    """Hands the C heap's free pages back to the system (glibc keeps them otherwise); a no-op without glibc."""
    trim = getattr(_libc.get(), "malloc_trim", None)
    if trim is not None:
        trim(0)


def read_card(model_dir: Path) -> dict[str, Any]:
    path = model_dir / CARD_FILE
    try:
        card: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InvalidModelError(f"{model_dir.name}/{CARD_FILE} is missing") from exc
    except (OSError, ValueError) as exc:
        raise InvalidModelError(f"{model_dir.name}/{CARD_FILE} is not readable JSON: {exc}") from exc
    if not isinstance(card, dict) or not isinstance(card.get("inference"), dict):
        raise InvalidModelError(f"{model_dir.name}/{CARD_FILE} has no 'inference' object")
    return card


def sha256(path: Path) -> str:
    """The digest a card records for each file, so a card can be checked against the files beside it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_bytes(model_dir: Path, file: str, card: dict[str, Any]) -> bytes:
    expected = card.get("files", {}).get(file, {}).get("sha256")
    if not expected:
        raise InvalidModelError(f"{model_dir.name}/{CARD_FILE} records no sha256 for {file}")
    data = (model_dir / file).read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise InvalidModelError(f"{model_dir.name}/{file} does not match the sha256 in its card")
    return data


_pool_lock = threading.Lock()
_pool_size: int | None = None


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def share_threads(threads: int = 0) -> int:
    """Gives every later session of this process one intra-op pool of `threads` (0: one per usable core).

    Sessions with pools of their own fight over the same few cores when skills run side by side; one shared pool
    adds no threads per session (docs/benchmark.md has the measurements). ONNX Runtime sizes the pool once per
    process, so the first call decides; the size in use is returned. Once it exists, every session of the process
    must use it: sessions made outside `new_session` (onnxruntime.quantization makes some) fail, so training never
    calls this.
    """
    from onnxruntime.capi import _pybind_state as ort_process

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
    import onnxruntime as ort

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
"""ONNX Runtime fusions left out: on this CPU the fused kernel is slower than the Add and LayerNormalization it
replaces (`python -m slmesh.research.probes fusion MODEL` measures it; docs/benchmark.md has the figures)."""


def new_session(model: Path | bytes, threads: int = 1, disabled: Sequence[str] = UNFUSED) -> ort.InferenceSession:
    import onnxruntime as ort

    # Under the lock: options made for threads of its own would be refused if the pool appeared before the session.
    with _pool_lock:
        return ort.InferenceSession(
            model if isinstance(model, bytes) else str(model),
            sess_options=session_options(threads),
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(disabled),
        )


def load_bundle(
    model_dir: Path, name: str, threads: int = 1, model_file: str = MODEL_FILE, verify: bool = True
) -> ModelBundle:
    """The model in `model_dir`; with `verify`, its model and tokenizer files must match the card's sha256.

    Training and research tools pass `verify=False` for files they have just written, before the card records them.
    """
    from tokenizers import Tokenizer

    if not (model_dir / model_file).is_file():
        raise ModelNotFoundError(f"no model for {name!r} ({model_dir.name}/{model_file} is missing)")
    card = read_card(model_dir)
    try:
        if verify:
            model: Path | bytes = _verified_bytes(model_dir, model_file, card)
            tokenizer = Tokenizer.from_str(_verified_bytes(model_dir, TOKENIZER_FILE, card).decode())
        else:
            model = model_dir / model_file
            tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        session = new_session(model, threads)
    except InvalidModelError:
        raise
    except Exception as exc:
        # ONNX Runtime's and the tokenizer's own messages hold absolute paths and internals: name the file only.
        raise InvalidModelError(
            f"{model_dir.name}: the model or tokenizer cannot be loaded ({type(exc).__name__})"
        ) from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    recorded = str(card.get("files", {}).get(model_file, {}).get("sha256", ""))
    return ModelBundle(name, session, tokenizer, card["inference"], recorded)


class ModelSource(Protocol):
    """Where skills get their models; tests pass an in-memory one."""

    def get(self, name: str) -> ModelBundle: ...


class ModelStore:
    """Process-wide cache: each model is loaded (and verified) on first use and kept; all share one thread pool."""

    def __init__(self, models_dir: Path, threads: int = 0) -> None:
        self.models_dir = models_dir
        self.threads = share_threads(threads)
        self._bundles: OnceMap[str, ModelBundle] = OnceMap(lambda name: load_bundle(models_dir / name, name))

    def get(self, name: str) -> ModelBundle:
        return self._bundles.get(name)
