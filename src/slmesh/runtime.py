"""Loads each skill's ONNX session, tokenizer and inference settings once per process."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MODEL_FILE = "model.onnx"
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


def load_bundle(model_dir: Path, skill: str, intra_op_threads: int = 1, model_file: str = MODEL_FILE) -> ModelBundle:
    if not (model_dir / model_file).is_file():
        raise ModelNotFoundError(f"no model for skill {skill!r} at {model_dir / model_file}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    # Skills run side by side on few cores: threads that spin while idle would steal them from the other skill.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Every request has its own batch and sequence length: cached memory patterns per shape only grow RSS.
    options.enable_mem_pattern = False
    session = ort.InferenceSession(
        str(model_dir / model_file), sess_options=options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return ModelBundle(skill, session, tokenizer, read_card(model_dir)["inference"])


class ModelSource(Protocol):
    """Where skills get their bundles; tests pass an in-memory one."""

    def get(self, skill: str) -> ModelBundle: ...


class ModelStore:
    """Process-wide cache: each bundle is loaded on first use and kept."""

    def __init__(
        self, models_dir: Path, intra_op_threads: int = 1, skill_threads: Mapping[str, int] | None = None
    ) -> None:
        self._models_dir = models_dir
        self._threads = intra_op_threads
        self._skill_threads = dict(skill_threads or {})
        self._bundles: dict[str, ModelBundle] = {}
        self._lock = threading.Lock()

    def get(self, skill: str) -> ModelBundle:
        bundle = self._bundles.get(skill)
        if bundle is None:
            with self._lock:
                bundle = self._bundles.get(skill)
                if bundle is None:
                    threads = self._skill_threads.get(skill, self._threads)
                    bundle = load_bundle(self._models_dir / skill, skill, threads)
                    self._bundles[skill] = bundle
        return bundle
