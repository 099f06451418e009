"""Sentence embeddings from the base model as it is (all-MiniLM-L6-v2 was trained for them): the ONNX graph pools
and normalises, so one call gives unit vectors whose dot product is their cosine similarity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from slmesh.budget import calls
from slmesh.encoding import head_tail, pad_batch
from slmesh.runtime import ModelBundle, ModelSource
from slmesh.skills.base import CardSettings, card_settings

EMBED_MODEL = "embed"
"""The folder of the embedding model in the models directory."""


class EmbedSettings(CardSettings):
    max_length: int = Field(gt=2, description="Tokens read per text ([CLS] and [SEP] included); the rest is cut.")
    dim: int = Field(gt=0)
    pooling: Literal["mean"] = "mean"
    normalized: Literal[True] = True


class Embedder:
    def __init__(self, settings: EmbedSettings, bundle: ModelBundle) -> None:
        self.settings = settings
        self._bundle = bundle

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> Embedder:
        return cls(card_settings(bundle, EmbedSettings), bundle)

    @classmethod
    def load(cls, models: ModelSource) -> Embedder:
        return cls.from_bundle(models.get(EMBED_MODEL))

    @property
    def sha256(self) -> str:
        """The model file's digest as its card records it: what an index built with it names."""
        return self._bundle.model_sha256

    def embed(self, texts: Sequence[str], rows: int = 32) -> np.ndarray:
        """One unit vector (float32) per text, in order; a text longer than `max_length` tokens is read from its
        start (the model was trained on 128-token pieces, so a chunk should fit)."""
        out = np.zeros((len(texts), self.settings.dim), dtype=np.float32)
        if not texts:
            return out
        cut = self.settings.max_length
        ids = [head_tail(e.ids, cut, cut) for e in self._bundle.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for part in calls([len(ids[i]) for i in order], rows=rows):
            chosen = order[part]
            out[chosen] = self._bundle.run(pad_batch([ids[i] for i in chosen]))["embedding"]
        return out
