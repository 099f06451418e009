"""Runs a skill over a labelled file and returns one flat dict of metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from slmesh.datasets_io import BINARY_CLASSES, SENTIMENT_CLASSES, sentiment_classes
from slmesh.evaluation.measure import Measure
from slmesh.evaluation.squad import best_over_truths
from slmesh.skills.router import TRIM, RouterSkill

if TYPE_CHECKING:
    # Each skill module names its own measure, so the skills import this module, not the other way round.
    from slmesh.skills.qa import QASkill
    from slmesh.skills.sentiment import SentimentSkill


def _batched(rows: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _timed(run: Callable[[], dict[str, Any]], count: int) -> dict[str, Any]:
    started = time.perf_counter()
    metrics = run()
    metrics["examples"] = count
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    return metrics


def _binary_metrics(predicted: list[str], truth: list[str]) -> dict[str, Any]:
    tp = sum(p == t == "positive" for p, t in zip(predicted, truth, strict=True))
    precision = tp / max(predicted.count("positive"), 1)
    recall = tp / max(truth.count("positive"), 1)
    return {
        "accuracy": round(100 * sum(p == t for p, t in zip(predicted, truth, strict=True)) / max(len(truth), 1), 2),
        "f1_positive": round(200 * precision * recall / max(precision + recall, 1e-9), 2),
    }


def three_class_metrics(predicted: list[str], truth: list[str]) -> dict[str, Any]:
    """SemEval's measure first: the macro-average of the three classes' recall (a class absent from the file is 0)."""
    recall, f1 = {}, {}
    for name in SENTIMENT_CLASSES:
        tp = sum(p == t == name for p, t in zip(predicted, truth, strict=True))
        recall[name] = tp / max(truth.count(name), 1)
        f1[name] = 2 * tp / max(truth.count(name) + predicted.count(name), 1)
    return {
        "macro_recall": round(100 * sum(recall.values()) / len(recall), 2),
        "accuracy": round(100 * sum(p == t for p, t in zip(predicted, truth, strict=True)) / max(len(truth), 1), 2),
        "macro_f1": round(100 * sum(f1.values()) / len(f1), 2),
        **{f"recall_{name}": round(100 * value, 2) for name, value in recall.items()},
    }


def evaluate_sentiment(skill: SentimentSkill, rows: Sequence[dict[str, Any]], batch_size: int = 32) -> dict[str, Any]:
    """Three-class files (string labels) by macro recall, accuracy and macro F1; binary files (0/1) by accuracy.

    On binary data the answer is the larger of the two polar probabilities: neutral is never an answer there.
    """
    truth, binary = sentiment_classes(rows)

    def run() -> dict[str, Any]:
        results = [r for batch in _batched(rows, batch_size) for r in skill.predict([row["text"] for row in batch])]
        if binary:
            polar = [max(BINARY_CLASSES, key=lambda name: r.scores[name]) for r in results]
            return _binary_metrics(polar, truth)
        return three_class_metrics([r.label for r in results], truth)

    return _timed(run, len(rows))


def calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> dict[str, float]:
    """NLL and expected calibration error (points; equal-width bins of the top probability) of class probabilities."""
    confidence, predicted = probs.max(axis=-1), probs.argmax(axis=-1)
    right = predicted == labels
    bin_of = np.minimum((confidence * bins).astype(int), bins - 1)
    members = [bin_of == b for b in np.unique(bin_of)]
    gap = sum(abs(right[m].mean() - confidence[m].mean()) * m.mean() for m in members)
    nll = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()
    return {"nll": round(float(nll), 4), "ece": round(100 * float(gap), 2)}


def evaluate_qa(skill: QASkill, rows: Sequence[dict[str, Any]], batch_size: int = 16) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        em = f1 = 0.0
        answerable = abstained = 0
        for batch in _batched(rows, batch_size):
            results = skill.answer_batch([(r["question"], r["context"]) for r in batch])
            for row, result in zip(batch, results, strict=True):
                truths = row["answers"]["text"]
                answerable += bool(truths)
                abstained += result.answer is None
                row_em, row_f1 = best_over_truths(result.answer or "", truths)
                em += row_em
                f1 += row_f1
        n = max(len(rows), 1)
        return {
            "exact_match": round(100 * em / n, 2),
            "f1": round(100 * f1 / n, 2),
            "answerable": answerable,
            "abstained": abstained,
        }

    return _timed(run, len(rows))


def attached(row: dict[str, Any]) -> bool:
    """A router row's request sends a context: the row gives one (the text), or `has_context` says so."""
    context = row.get("context")
    return bool(row.get("has_context")) or (isinstance(context, str) and bool(context.strip()))


def evaluate_router(skill: RouterSkill, rows: Sequence[dict[str, Any]], batch_size: int = 1) -> dict[str, Any]:
    """Exact task sets, subjects where a row marks one, per-skill precision/recall and, where a row gives `targets`
    ({skill: "subject" | "context"}), target accuracy: a target is right when its skill is chosen and sent there.

    One prompt per call by default, as requests are routed: the int8 graph quantises its activations with one scale
    per batch, so a prompt batched with others (and their padding) can be routed differently."""

    def run() -> dict[str, Any]:
        exact = subjects = subject_hits = target_count = target_hits = 0
        counts = {s: {"tp": 0, "fp": 0, "fn": 0} for s in skill.skills}
        for batch in _batched(rows, batch_size):
            decisions = skill.route_batch([r["prompt"] for r in batch], [attached(r) for r in batch])
            for row, decision in zip(batch, decisions, strict=True):
                expected, chosen = set(row["tasks"]), set(decision.skills)
                exact += expected == chosen
                start, end = row.get("subject_start", 0), row.get("subject_end", 0)
                if end > start:
                    subjects += 1
                    subject_hits += decision.subject == row["prompt"][start:end].strip(TRIM)
                for name, target in row.get("targets", {}).items():
                    target_count += 1
                    target_hits += name in chosen and decision.targets.get(name) == target
                for s, c in counts.items():
                    c["tp"] += s in expected and s in chosen
                    c["fp"] += s not in expected and s in chosen
                    c["fn"] += s in expected and s not in chosen
        metrics: dict[str, Any] = {"exact_task_set_accuracy": round(100 * exact / max(len(rows), 1), 2)}
        if subjects:
            metrics["subject_exact"] = round(100 * subject_hits / subjects, 2)
        if target_count:
            metrics["target_accuracy"] = round(100 * target_hits / target_count, 2)
        for s, c in counts.items():
            if c["tp"] + c["fn"] == 0 and c["fp"] == 0:
                continue
            metrics[f"f1_{s}"] = round(200 * c["tp"] / max(2 * c["tp"] + c["fp"] + c["fn"], 1), 2)
            metrics[f"precision_{s}"] = round(100 * c["tp"] / max(c["tp"] + c["fp"], 1), 2)
            metrics[f"recall_{s}"] = round(100 * c["tp"] / max(c["tp"] + c["fn"], 1), 2)
        return metrics

    return _timed(run, len(rows))


ROUTER = Measure(("prompt", "tasks"), evaluate_router)
"""The router is measured as skills are, though it is not one of them."""
