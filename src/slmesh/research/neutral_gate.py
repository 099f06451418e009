"""`python -m slmesh.research.neutral_gate`: does a binary sentiment model's body already know "neutral"?

    python -m slmesh.research.neutral_gate --model-dir models/sentiment --train 15000

A three-class head that keeps the binary model's body and its pole logit unchanged would keep SST-2 and IMDB exactly
where they are, at no cost in latency: only a polar gate is learnt (the `gated` design's composition,
`sentiment.GatedHead`), on the body's frozen pooled features of the tweets, with each class weighted alike. The
pole logit may only be scaled, which never flips a binary answer. Prints tweets dev macro-averaged recall.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import torch

from slmesh.datasets_io import iter_jsonl
from slmesh.evaluation.metrics import three_class_metrics
from slmesh.research.soup import weights_file
from slmesh.runtime import read_card
from slmesh.training import sentiment as task
from slmesh.training.commands import runs
from slmesh.training.common import DEFAULT_BASE, fast_tokenizer, pad_features, resolve_base_model, start_from_onnx

TWEETS = "sentiment/tweets"


def pooled_features(model: Any, features: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The body's pooled output and the binary head's pole logit (positive minus negative) of each text."""
    pooled, poles = [], []
    with torch.no_grad():
        for i in range(0, len(features), 128):
            batch = pad_features(features[i : i + 128])
            out = model.bert(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}).pooler_output
            logits = model.classifier(out)
            pooled.append(out)
            poles.append(logits[:, 1] - logits[:, 0])
    return torch.cat(pooled), torch.cat(poles)


def run(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    inference = read_card(args.model_dir)["inference"]
    if inference["labels"] != [task.LABELS[p] for p in task.POLES]:
        raise SystemExit(f"{args.model_dir} is not a binary model (labels {inference['labels']})")
    model = task.build_model(resolve_base_model(args.base_model), None, inference["labels"])
    start_from_onnx(model, weights_file(args.model_dir))
    normalize = args.normalize or inference.get("normalize", "none")
    model.eval()
    tokenizer = fast_tokenizer(str(args.model_dir))
    train_rows = list(iter_jsonl(args.data_dir / TWEETS / "train.jsonl.gz"))
    random.Random(args.seed).shuffle(train_rows)
    sets = {"train": train_rows[: args.train], "dev": list(iter_jsonl(args.data_dir / TWEETS / "dev.jsonl"))}
    data = {}
    for name, rows in sets.items():
        features = task.featurize(tokenizer, rows, args.max_length, args.max_length, normalize)
        x, pole = pooled_features(model, features)
        data[name] = (x, pole, torch.tensor([f["labels"] for f in features]))
    x, pole, y = data["train"]
    mean, std = x.mean(0), x.std(0) + 1e-6
    gate = torch.nn.Linear(x.shape[1], 1)
    scale = torch.nn.Parameter(torch.tensor(0.0))
    weights = len(y) / (len(task.LABELS) * torch.bincount(y, minlength=len(task.LABELS)).float())
    optimiser = torch.optim.Adam([*gate.parameters(), scale], lr=args.lr, weight_decay=1e-4)

    def log_probs(x: torch.Tensor, pole: torch.Tensor) -> torch.Tensor:
        a, b = gate((x - mean) / std).squeeze(-1), pole * scale.exp()
        polar, neutral = torch.nn.functional.logsigmoid(a), torch.nn.functional.logsigmoid(-a)
        neg, pos = torch.nn.functional.logsigmoid(-b), torch.nn.functional.logsigmoid(b)
        return torch.stack([polar + neg, neutral, polar + pos], dim=-1)

    for _ in range(args.epochs):
        for batch in torch.split(torch.randperm(len(y)), 512):
            loss = torch.nn.functional.nll_loss(log_probs(x[batch], pole[batch]), y[batch], weight=weights)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
    with torch.no_grad():
        for name, (x, pole, y) in data.items():
            predicted = [task.LABELS[i] for i in log_probs(x, pole).argmax(-1).tolist()]
            measured = three_class_metrics(predicted, [task.LABELS[i] for i in y.tolist()])
            print(json.dumps({"set": f"tweets_{name}", "examples": len(y), **measured}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m slmesh.research.neutral_gate", description=__doc__)
    p.add_argument("--model-dir", type=Path, default=Path("models/sentiment"), help="a binary sentiment model")
    p.add_argument("--data-dir", type=Path, default=runs.DATA_DIR)
    p.add_argument("--base-model", default=DEFAULT_BASE)
    p.add_argument("--train", type=int, default=15000, help="tweets the gate is fitted on")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument(
        "--normalize", choices=("emoji_names", "messages", "none"), help="text normalisation (default: the card's)"
    )
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()
