"""Fine-tunes the binary sentiment classifier (SST-2 sentences + IMDB reviews)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slmesh.encoding import head_tail
from slmesh.training.common import (
    ListDataset,
    RunConfig,
    fast_tokenizer,
    pad_features,
    starting_point,
    trained,
    training_arguments,
)


def featurize(tokenizer: Any, rows: list[dict[str, Any]], max_length: int, head: int) -> list[dict[str, Any]]:
    encodings = tokenizer.encode_batch([r["text"] for r in rows])
    features = []
    for row, encoding in zip(rows, encodings, strict=True):
        ids = head_tail(encoding.ids, max_length, head)
        features.append(
            {
                "input_ids": ids,
                "attention_mask": [1] * len(ids),
                "token_type_ids": [0] * len(ids),
                "labels": int(row["label"]),
            }
        )
    return features


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature that minimises dev NLL: scores then mean what they say."""
    best_t, best_nll = 1.0, float("inf")
    for t in np.arange(0.5, 5.01, 0.05):
        scaled = logits / t
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        nll = float(-log_probs[np.arange(len(labels)), labels].mean())
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return round(best_t, 2)


def predict_logits(model: Any, features: list[dict[str, Any]], batch_size: int = 128) -> np.ndarray:
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(features), batch_size):
            batch = pad_features(features[i : i + batch_size])
            out.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy())
    return np.concatenate(out)


def train(
    cfg: RunConfig,
    train_rows: list[dict[str, Any]],
    dev_rows: list[dict[str, Any]],
    max_length: int = 512,
    head: int = 128,
) -> tuple[Any, Any, dict[str, Any]]:
    from transformers import AutoModelForSequenceClassification, Trainer, set_seed

    set_seed(cfg.seed)
    tokenizer = fast_tokenizer(cfg.base_model)
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg.base_model,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    starting_point(model, cfg)
    train_features = featurize(tokenizer, train_rows, max_length, head)
    random.Random(cfg.seed).shuffle(train_features)
    trainer = Trainer(
        model=model,
        args=training_arguments(cfg, cfg.out_dir / "work", train_sampling_strategy="group_by_length"),
        train_dataset=ListDataset(train_features),
        data_collator=lambda f: pad_features(f, label_keys=("labels",)),
    )
    result = trainer.train()
    dev_features = featurize(tokenizer, dev_rows, max_length, head)
    logits = predict_logits(model, dev_features)
    labels = np.array([f["labels"] for f in dev_features])
    temperature = fit_temperature(logits, labels)
    summary = {
        "train_examples": len(train_features),
        **trained(trainer, result, model.config.num_hidden_layers),
        "torch_dev_accuracy": round(float((logits.argmax(1) == labels).mean()) * 100, 2),
        "temperature": temperature,
    }
    # Training cuts long reviews to head + tail; inference averages overlapping windows, which measured better
    # on held-out IMDB (`python -m slmesh.research.probes sentiment-long`).
    inference = {
        "max_length": max_length,
        "head_tokens": head,
        "long_text": "windows",
        "temperature": temperature,
        "labels": ["negative", "positive"],
    }
    model.cpu().eval()
    return model, tokenizer, {"summary": summary, "inference": inference}


def dev_sets(data_dir: Path, card: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """SST-2 dev, and the IMDB reviews the model's run held out if it trained on IMDB (count and seed from its card)."""
    held_out = int(card["data"].get("imdb_heldout", 1000))
    data = default_data(data_dir, held_out > 0, held_out, int(card["training"]["seed"]))
    return {"sst2_dev": data["dev"], **({"imdb_heldout": data["imdb_dev"]} if held_out else {})}


def default_data(
    data_dir: Path, with_imdb: bool, imdb_dev: int, seed: int, imdb_train: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """SST-2 train (+ IMDB train minus `imdb_dev` held-out reviews, or only `imdb_train` of the rest when above 0)."""
    from slmesh.datasets_io import read_records

    sst2 = read_records(data_dir / "sentiment/sst2/train.jsonl.gz")
    dev = read_records(data_dir / "sentiment/sst2/dev.jsonl")
    data = {"train": sst2, "dev": dev, "imdb_dev": []}
    if with_imdb:
        imdb = read_records(data_dir / "sentiment/imdb/train.jsonl.gz")
        random.Random(seed).shuffle(imdb)
        data["imdb_dev"] = imdb[:imdb_dev]
        rest = imdb[imdb_dev:]
        data["train"] = sst2 + (rest[:imdb_train] if imdb_train > 0 else rest)
    return data
