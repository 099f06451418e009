"""`python -m slmesh.training embed`: the base model as a sentence embedder (mean pooling, unit length), exported
to ONNX, quantised to int8 and checked against the torch model by cosine similarity. Nothing is fine-tuned."""

from __future__ import annotations

import argparse
import json
import random
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from slmesh.datasets_io import iter_jsonl
from slmesh.embedding import EMBED_MODEL, EmbedSettings
from slmesh.runtime import FP32_FILE, load_bundle, new_session
from slmesh.training import cards, export
from slmesh.training.commands import runs
from slmesh.training.common import DEFAULT_BASE, fast_tokenizer, pad_features, resolve_base_model

PARITY_FILES = ("qa/qed_nq/dev.jsonl.gz", "qa/subjqa/dev.jsonl")


class MeanPooled(nn.Module):
    """The encoder's token vectors averaged over the attention mask and scaled to unit length, as
    sentence-transformers computes them for this model."""

    def __init__(self, encoder: Any) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> Any:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2.0, dim=1)


def register(sub: Any) -> None:
    p = sub.add_parser("embed", help="export the base model as the sentence embedder (no training)")
    p.set_defaults(handler=run)
    runs.output_arguments(p)
    p.add_argument("--base-model", default=DEFAULT_BASE, help="Hugging Face id or local path")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--parity-texts", type=int, default=400)


def parity_texts(data_dir: Path, count: int, seed: int) -> list[str]:
    """Sentences and whole paragraphs from dev passages: the lengths chunks and queries come in."""
    paragraphs = sorted({row["context"] for name in PARITY_FILES for row in iter_jsonl(data_dir / name)})
    questions = sorted({row["question"] for name in PARITY_FILES for row in iter_jsonl(data_dir / name)})
    rng = random.Random(seed)
    sentences = [s for p in rng.sample(paragraphs, min(200, len(paragraphs))) for s in re.split(r"(?<=[.!?])\s+", p)]
    third = count // 3
    return rng.sample(paragraphs, third) + rng.sample(sentences, third) + rng.sample(questions, count - 2 * third)


def cosine_parity(model: nn.Module, out: Path, features: list[dict[str, Any]]) -> dict[str, Any]:
    """Cosine of the int8 ONNX vector with the torch fp32 one, per text."""
    session = new_session(out / "model.onnx", threads=0)
    cosines: list[float] = []
    for i in range(0, len(features), 32):
        batch = pad_features(features[i : i + 32])
        with torch.no_grad():
            expected = model(**batch).numpy()
        actual = session.run(None, {k: v.numpy() for k, v in batch.items()})[0]
        cosines += list((expected * actual).sum(1) / np.linalg.norm(actual, axis=1))
    values = np.array(cosines)
    return {
        "examples": len(values),
        "cosine_min": round(float(values.min()), 4),
        "cosine_mean": round(float(values.mean()), 4),
        "share_at_least_0_99": round(float((values >= 0.99).mean()), 4),
        "reference": runs.TORCH_REFERENCE,
    }


def run(args: argparse.Namespace) -> None:
    from transformers import AutoModel

    base = resolve_base_model(args.base_model)
    tokenizer = fast_tokenizer(base)
    model = MeanPooled(AutoModel.from_pretrained(base, add_pooling_layer=False)).eval()
    texts = parity_texts(args.data_dir, args.parity_texts, args.seed)
    features = []
    for encoding in tokenizer.encode_batch(texts):
        ids = (
            encoding.ids[: args.max_length - 1] + encoding.ids[-1:]
            if len(encoding.ids) > args.max_length
            else encoding.ids
        )
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": [0] * len(ids)})
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(args.out / "tokenizer.json"))
    export.export_onnx(model, features, ["embedding"], args.out / FP32_FILE)
    export.quantize_int8(args.out / FP32_FILE, args.out / "model.onnx", export.KEPT_FP32[EMBED_MODEL])
    inference = EmbedSettings(max_length=args.max_length, dim=model.encoder.config.hidden_size).model_dump()
    card: dict[str, Any] = {
        "skill": EMBED_MODEL,
        "description": "Sentence embedder: the base model unchanged, mean pooling, unit length.",
        "base_model": args.base_model,
        "data": {"dir": str(args.data_dir), "train": [], "parity_texts_from": list(PARITY_FILES)},
        "training": {"command": "python -m slmesh.training " + shlex.join(sys.argv[1:]), "fine_tuned": False},
        "inference": inference,
        "quantization": runs.quantization(args.out),
    }
    card["parity"] = cosine_parity(model, args.out, features)
    cards.write_card(args.out, card)
    load_bundle(args.out, EMBED_MODEL)  # the card's digests match the files
    card["latency_ms_batch1"] = cards.batch1_latency_ms(args.out, EMBED_MODEL, texts[-1])
    card["sizes"] = {
        "model.onnx": (args.out / "model.onnx").stat().st_size,
        FP32_FILE: (args.out / FP32_FILE).stat().st_size,
    }
    cards.write_card(args.out, card)
    print(json.dumps({"parity": card["parity"], "latency_ms_batch1": card["latency_ms_batch1"]}))
