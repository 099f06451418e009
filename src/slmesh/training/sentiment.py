"""Fine-tunes the three-class sentiment classifier: tweets (negative/neutral/positive) with SST-2 and IMDB (binary).

The binary sets say which pole a text has, never whether it has one: their rows are scored only on the choice
between the two poles (`sentiment_loss`), so they teach polarity without teaching "never neutral".
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slmesh.datasets_io import BINARY_CLASSES, SENTIMENT_CLASSES, sentiment_class
from slmesh.encoding import head_tail
from slmesh.textnorm import normalizer
from slmesh.training.common import (
    ListDataset,
    RunConfig,
    StateDict,
    fast_tokenizer,
    pad_features,
    starting_point,
    trained,
    training_arguments,
)

LABELS = SENTIMENT_CLASSES
"""Logit order of every three-class model."""
POLES = [LABELS.index(name) for name in BINARY_CLASSES]
NORMALIZE = "emoji_names"
"""The default text normalisation (`slmesh.textnorm`) of a run, named in its card."""
LOSS_KEYS = ("labels", "polar_only", "pole_target", "weight")
"""Per-row inputs of `sentiment_loss` that the model's forward does not take."""
TWEETS_TRAIN, TWEETS_DEV = "sentiment/tweets/train.jsonl.gz", "sentiment/tweets/dev.jsonl"


@dataclass(frozen=True)
class Design:
    gated: bool
    """Head: two logits, "is it polar" and "which pole", composed into three log-probabilities; else one linear
    logit per class."""
    polar_only_loss: bool
    """Binary rows scored on the two poles only; else as three-class rows that are never neutral."""


DESIGNS = {
    "polar_ce": Design(gated=False, polar_only_loss=True),
    "gated": Design(gated=True, polar_only_loss=True),
    "plain_ce": Design(gated=False, polar_only_loss=False),
}
"""Loss designs (`--design`): plain_ce is the baseline that teaches binary rows "never neutral"."""


def sentiment_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    polar_only: torch.Tensor,
    design: Design,
    poles: Sequence[int] = POLES,
    pole_target: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted mean cross-entropy: three-way for three-class rows; for binary rows (`polar_only`) restricted to the
    two poles (logsumexp over negative and positive only) when the design says so, which leaves the neutral logit
    untouched. `pole_target` is a binary row's probability of the positive pole (its label, or a teacher's score
    blended in); `weight` a weight per row.
    """
    full = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    if design.polar_only_loss:
        pair = torch.tensor(list(poles), device=logits.device)
        log_p = torch.log_softmax(logits[:, pair], dim=-1)
        target = (labels == pair[1]).to(log_p.dtype) if pole_target is None else pole_target.to(log_p.dtype)
        polar = -(target * log_p[:, 1] + (1 - target) * log_p[:, 0])
        full = torch.where(polar_only.bool(), polar, full)
    if weight is None:
        return full.mean()
    weight = weight.to(full.dtype)
    return (full * weight).sum() / weight.sum()


def class_weights(features: Sequence[dict[str, Any]], kind: str) -> dict[int, float]:
    """A loss weight per three-class label: `balanced` makes each class weigh as much in total (the SemEval measure
    is recall averaged over classes, so the rare negative class counts as much as the common neutral one); `none`
    weighs every row alike. Binary rows keep weight 1.
    """
    if kind == "none":
        return {}
    counts = np.bincount([f["labels"] for f in features if not f["polar_only"]], minlength=len(LABELS))
    total = counts.sum()
    return {c: float(total / (len(LABELS) * n)) for c, n in enumerate(counts) if n}


def pole_targets(
    labels: Sequence[int], teacher: np.ndarray | None, teacher_weight: float, poles: Sequence[int] = POLES
) -> list[float]:
    """A binary row's target probability of the positive pole: its label, blended with `teacher_weight` of a
    teacher's (the served model's) calibrated probability. Distilling the served model keeps what it knows of the
    binary sets while the tweets teach neutral ("learning without forgetting").
    """
    hard = [1.0 if label == poles[1] else 0.0 for label in labels]
    if teacher is None or teacher_weight == 0.0:
        return hard
    return [(1.0 - teacher_weight) * h + teacher_weight * float(t) for h, t in zip(hard, teacher, strict=True)]


class GatedHead(torch.nn.Linear):
    """Two logits, a ("is it polar") and b ("which pole"), composed into log-probabilities of the three classes:
    log p(negative) = log s(a) + log s(-b), log p(neutral) = log s(-a), log p(positive) = log s(a) + log s(b).

    The pole-only loss of a binary row depends on b alone, so those rows never move the polar gate a. Exported, the
    head still gives one logit per class: the runtime cannot tell the two designs apart.
    """

    def __init__(self, hidden: int) -> None:
        super().__init__(hidden, 2)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        gate, pole = super().forward(pooled).unbind(-1)
        polar, neutral = -torch.nn.functional.softplus(-gate), -torch.nn.functional.softplus(gate)
        negative, positive = -torch.nn.functional.softplus(pole), -torch.nn.functional.softplus(-pole)
        return torch.stack([polar + negative, neutral, polar + positive], dim=-1)


def build_model(base: str, design: str | None, labels: Sequence[str] = LABELS) -> Any:
    """The classifier a design trains; without one (cards of the binary models), a linear head over `labels`."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    if design and DESIGNS[design].gated:
        model.classifier = GatedHead(model.config.hidden_size)
        model.classifier.weight.data.normal_(0.0, model.config.initializer_range)
        model.classifier.bias.data.zero_()
    return model


def head_adapter(design: str, export_labels: Sequence[str] | None) -> Callable[[StateDict], StateDict]:
    """Fits the classifier of the export a run continues to this run's head.

    A binary export (negative, positive) keeps its poles: their rows become the negative and positive rows of a
    linear head, or their difference the gated head's pole logit; neutral (or the gate) starts at zero. The export's
    card tells a binary head from a gated one (both have two rows).
    """
    gated = DESIGNS[design].gated

    def adapt(stored: StateDict) -> StateDict:
        weight, bias = stored["classifier.weight"], stored["classifier.bias"]
        if len(weight) == 2 and export_labels is None:
            raise SystemExit("a two-row classifier is binary or gated: the export's card.json must be beside it")
        if export_labels is not None and len(export_labels) == len(BINARY_CLASSES):
            neg, pos = weight
            zero = np.zeros_like(neg)
            rows = [zero, pos - neg] if gated else [neg, zero, pos]
            biases = [0.0, bias[1] - bias[0]] if gated else [bias[0], 0.0, bias[1]]
            return {
                **stored,
                "classifier.weight": np.stack(rows),
                "classifier.bias": np.array(biases, dtype=np.float32),
            }
        if (len(weight) == 2) != gated:
            raise SystemExit(f"the export's head is not of the {design} design; continue it with its own design")
        return stored

    return adapt


def featurize(
    tokenizer: Any, rows: list[dict[str, Any]], max_length: int, head: int, normalize: str = NORMALIZE
) -> list[dict[str, Any]]:
    """Token ids and labels; `pole_target` and `weight` start as the label and 1 (`train` may replace them)."""
    clean = normalizer(normalize)
    encodings = tokenizer.encode_batch([clean(r["text"]) for r in rows])
    features = []
    for number, (row, encoding) in enumerate(zip(rows, encodings, strict=True), start=1):
        try:
            name, binary = sentiment_class(row["label"])
        except ValueError as exc:
            raise SystemExit(f"training row {number}: {exc}") from None
        ids = head_tail(encoding.ids, max_length, head)
        features.append(
            {
                "input_ids": ids,
                "attention_mask": [1] * len(ids),
                "token_type_ids": [0] * len(ids),
                "labels": LABELS.index(name),
                "polar_only": int(binary),
                "pole_target": 1.0 if name == LABELS[POLES[1]] else 0.0,
                "weight": 1.0,
            }
        )
    return features


def _collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    return pad_features(features, label_keys=LOSS_KEYS)


def fit_calibration(
    logits: np.ndarray, labels: np.ndarray, polar_only: np.ndarray, with_bias: bool, poles: Sequence[int] = POLES
) -> dict[str, Any]:
    """Temperature (and a bias per class) minimising the dev NLL of the training loss: scores then mean what they say.

    Binary rows count by their pole only, so on binary data only the poles' bias difference is fitted.
    """
    z = torch.tensor(logits, dtype=torch.float64)
    y, polar = torch.tensor(labels), torch.tensor(polar_only)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=with_bias)
    params = [log_t, bias] if with_bias else [log_t]
    optimiser = torch.optim.LBFGS(params, lr=0.5, max_iter=200, line_search_fn="strong_wolfe")
    design = DESIGNS["polar_ce"]

    def nll() -> torch.Tensor:
        optimiser.zero_grad()
        loss = sentiment_loss(z / log_t.exp() + bias, y, polar, design, poles)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    before = float(sentiment_loss(z, y, polar, design, poles))
    optimiser.step(nll)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        after = float(sentiment_loss(z / log_t.exp() + bias, y, polar, design, poles))
        centred = (bias - bias.mean()).tolist()
    fitted: dict[str, Any] = {"temperature": round(float(log_t.detach().exp()), 4)}
    if with_bias:
        fitted["class_bias"] = [round(b, 4) for b in centred]
    return {**fitted, "nll_before": round(before, 4), "nll_after": round(after, 4)}


def polar_trainer(design: Design, **kwargs: Any) -> Any:
    """A transformers Trainer whose loss is `sentiment_loss` (rows carry `labels` and `polar_only`)."""
    from transformers import Trainer

    class PolarTrainer(Trainer):
        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            labels, polar_only, target, weight = (inputs.pop(key) for key in LOSS_KEYS)
            outputs = model(**inputs)
            loss = sentiment_loss(outputs.logits, labels, polar_only, design, POLES, target, weight)
            return (loss, outputs) if return_outputs else loss

    trainer = PolarTrainer(**kwargs)
    # The loss is already a mean over the batch: nothing for the Trainer to rescale by token counts.
    trainer.model_accepts_loss_kwargs = False
    return trainer


def predict_logits(model: Any, features: list[dict[str, Any]], batch_size: int = 128) -> np.ndarray:
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(features), batch_size):
            batch = pad_features(features[i : i + batch_size])
            out.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy())
    return np.concatenate(out)


def calibration_fits(
    model: Any, tokenizer: Any, rows: list[dict[str, Any]], max_length: int, head: int, normalize: str
) -> dict[str, dict[str, Any]]:
    """Both calibrations (`temperature`, and `vector`: a bias per class beside it) fitted on `rows` with the torch
    model's logits."""
    features = featurize(tokenizer, rows, max_length, head, normalize)
    logits = predict_logits(model, features)
    labels = np.array([f["labels"] for f in features])
    polar_only = np.array([f["polar_only"] for f in features])
    return {kind: fit_calibration(logits, labels, polar_only, kind == "vector") for kind in ("temperature", "vector")}


def train(
    cfg: RunConfig,
    train_rows: list[dict[str, Any]],
    calibration_rows: list[dict[str, Any]],
    design: str,
    vector_scaling: bool,
    export_labels: Sequence[str] | None = None,
    max_length: int = 512,
    head: int = 128,
    teacher: Callable[[list[str]], np.ndarray] | None = None,
    teacher_weight: float = 0.0,
    weighting: str = "none",
    normalize: str = NORMALIZE,
) -> tuple[Any, Any, dict[str, Any]]:
    """Trains, then fits the calibration on `calibration_rows` (dev) with the torch model's logits.

    `teacher` gives texts' probability of the positive pole; binary rows learn `teacher_weight` of it beside their
    label (`pole_targets`). `weighting` names the three-class rows' `class_weights`; `normalize` the text
    normalisation training and serving apply.
    """
    from transformers import set_seed

    set_seed(cfg.seed)
    tokenizer = fast_tokenizer(cfg.base_model)
    model = build_model(cfg.base_model, design)
    starting_point(model, cfg, head_adapter(design, export_labels))
    train_features = featurize(tokenizer, train_rows, max_length, head, normalize)
    binary = [i for i, f in enumerate(train_features) if f["polar_only"]]
    if teacher is not None and teacher_weight > 0.0 and binary:
        scores = teacher([train_rows[i]["text"] for i in binary])
        targets = pole_targets([train_features[i]["labels"] for i in binary], scores, teacher_weight)
        for i, target in zip(binary, targets, strict=True):
            train_features[i]["pole_target"] = target
    weights = class_weights(train_features, weighting)
    for f in train_features:
        if not f["polar_only"]:
            f["weight"] = weights.get(f["labels"], 1.0)
    random.Random(cfg.seed).shuffle(train_features)
    trainer = polar_trainer(
        DESIGNS[design],
        model=model,
        # `polar_only` is no argument of the model's forward: the Trainer must not drop it.
        args=training_arguments(
            cfg, cfg.out_dir / "work", train_sampling_strategy="group_by_length", remove_unused_columns=False
        ),
        train_dataset=ListDataset(train_features),
        data_collator=_collate,
    )
    result = trainer.train()
    fits = calibration_fits(model, tokenizer, calibration_rows, max_length, head, normalize)
    chosen = fits["vector" if vector_scaling else "temperature"]
    summary = {
        "design": design,
        "train_examples": len(train_features),
        "binary_train_examples": sum(f["polar_only"] for f in train_features),
        "teacher_weight": teacher_weight if teacher is not None else 0.0,
        "class_weighting": weighting,
        **({"class_weights": {LABELS[c]: round(w, 4) for c, w in weights.items()}} if weights else {}),
        **trained(trainer, result, model.config.num_hidden_layers),
        "calibration_fits": fits,
    }
    # Training cuts long reviews to head + tail; inference averages overlapping windows, which measured better
    # on held-out IMDB (`python -m slmesh.research.probes sentiment-long`).
    inference = {
        "max_length": max_length,
        "head_tokens": head,
        "long_text": "windows",
        "normalize": normalize,
        "labels": list(LABELS),
        "temperature": chosen["temperature"],
        **({"class_bias": chosen["class_bias"]} if vector_scaling else {}),
    }
    model.cpu().eval()
    return model, tokenizer, {"summary": summary, "inference": inference}


def dev_sets(data_dir: Path, card: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """SST-2 dev, the IMDB reviews the model's run held out if it trained on IMDB (count and seed from its card), and
    the tweets dev split if it trained on tweets."""
    from slmesh.datasets_io import read_records

    held_out = int(card["data"].get("imdb_heldout", 1000))
    data = default_data(data_dir, held_out > 0, held_out, int(card["training"]["seed"]))
    sets = {"sst2_dev": data["dev"], **({"imdb_heldout": data["imdb_dev"]} if held_out else {})}
    if card["data"].get("tweets_dev"):
        sets["tweets_dev"] = read_records(data_dir / TWEETS_DEV)
    return sets


def default_data(
    data_dir: Path,
    with_imdb: bool,
    imdb_dev: int,
    seed: int,
    imdb_train: int = 0,
    sst2_train: int = 0,
    with_tweets: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """SST-2 train (all, or `sst2_train` of it drawn with `seed`) + IMDB train minus `imdb_dev` held-out reviews (or
    only `imdb_train` of the rest when above 0) + the tweets' train split; dev: SST-2's, the held-out reviews and the
    tweets' dev split."""
    from slmesh.datasets_io import read_records

    sst2 = read_records(data_dir / "sentiment/sst2/train.jsonl.gz")
    if 0 < sst2_train < len(sst2):
        sst2 = random.Random(seed).sample(sst2, sst2_train)
    dev = read_records(data_dir / "sentiment/sst2/dev.jsonl")
    data = {"train": sst2, "dev": dev, "imdb_dev": [], "tweets_dev": []}
    if with_imdb:
        imdb = read_records(data_dir / "sentiment/imdb/train.jsonl.gz")
        random.Random(seed).shuffle(imdb)
        data["imdb_dev"] = imdb[:imdb_dev]
        rest = imdb[imdb_dev:]
        data["train"] = data["train"] + (rest[:imdb_train] if imdb_train > 0 else rest)
    if with_tweets:
        data["train"] = read_records(data_dir / TWEETS_TRAIN) + data["train"]
        data["tweets_dev"] = read_records(data_dir / TWEETS_DEV)
    return data


def _calibrated(logits: np.ndarray, fitted: dict[str, Any]) -> np.ndarray:
    bias = np.asarray(fitted.get("class_bias", [0.0] * logits.shape[1]))
    scaled: np.ndarray = logits / fitted["temperature"] + bias
    return scaled


def calibration_report(
    skill: Any, sets: dict[str, list[dict[str, Any]]], calibrated_on: str, vector_scaling: bool, bins: int = 10
) -> dict[str, Any]:
    """NLL and ECE per dev set, unscaled and with the card's calibration, as the skill serves them.

    The calibration was fitted on `calibrated_on`, which flatters it there; on that set `cross_fitted` refits it on
    every other row and scores the rows left out (and the reverse): an out-of-sample figure. Binary sets are scored
    on the two poles' probabilities, renormalised. Works for binary models too (their labels are the two poles).
    """
    from slmesh.evaluation.metrics import calibration_error
    from slmesh.skills.sentiment import softmax

    report: dict[str, Any] = {}
    poles = [skill.labels.index(name) for name in BINARY_CLASSES]
    for name, rows in sets.items():
        logits = skill.logits([r["text"] for r in rows]).astype(np.float64)
        classes = [sentiment_class(r["label"]) for r in rows]
        labels = np.array([skill.labels.index(c) for c, _ in classes])
        polar_only = np.array([binary for _, binary in classes])
        scaled = {"uncalibrated": logits, "calibrated": np.log(skill.probabilities(logits))}
        if name == calibrated_on:
            halves = [np.arange(len(rows)) % 2 == k for k in (0, 1)]
            scaled["cross_fitted"] = np.zeros_like(logits)
            for fit, score in (halves, halves[::-1]):
                fitted = fit_calibration(logits[fit], labels[fit], polar_only[fit], vector_scaling, poles)
                scaled["cross_fitted"][score] = _calibrated(logits[score], fitted)
        if polar_only.all():
            scaled = {k: v[:, poles] for k, v in scaled.items()}
            labels = (labels == poles[1]).astype(int)
        report[name] = {
            "examples": len(rows),
            **{k: calibration_error(softmax(v), labels, bins) for k, v in scaled.items()},
        }
    return report
