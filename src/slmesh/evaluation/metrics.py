"""Runs a skill over a labelled file and returns one flat dict of metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

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


def evaluate_sentiment(skill: SentimentSkill, rows: Sequence[dict[str, Any]], batch_size: int = 32) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        predictions: list[int] = []
        for batch in _batched(rows, batch_size):
            predictions += [int(r.label == "positive") for r in skill.predict([row["text"] for row in batch])]
        labels = np.array([int(r["label"]) for r in rows])
        predicted = np.array(predictions)
        tp = int(((predicted == 1) & (labels == 1)).sum())
        precision = tp / max(int((predicted == 1).sum()), 1)
        recall = tp / max(int((labels == 1).sum()), 1)
        return {
            "accuracy": round(float((predicted == labels).mean()) * 100, 2),
            "f1_positive": round(200 * precision * recall / max(precision + recall, 1e-9), 2),
        }

    return _timed(run, len(rows))


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


def evaluate_router(skill: RouterSkill, rows: Sequence[dict[str, Any]], batch_size: int = 64) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        exact = subjects = subject_hits = 0
        counts = {s: {"tp": 0, "fp": 0, "fn": 0} for s in skill.skills}
        for batch in _batched(rows, batch_size):
            decisions = skill.route_batch([r["prompt"] for r in batch])
            for row, decision in zip(batch, decisions, strict=True):
                expected, chosen = set(row["tasks"]), set(decision.skills)
                exact += expected == chosen
                start, end = row.get("subject_start", 0), row.get("subject_end", 0)
                if end > start:
                    subjects += 1
                    subject_hits += decision.subject == row["prompt"][start:end].strip(TRIM)
                for s, c in counts.items():
                    c["tp"] += s in expected and s in chosen
                    c["fp"] += s not in expected and s in chosen
                    c["fn"] += s in expected and s not in chosen
        metrics: dict[str, Any] = {"exact_task_set_accuracy": round(100 * exact / max(len(rows), 1), 2)}
        if subjects:
            metrics["subject_exact"] = round(100 * subject_hits / subjects, 2)
        for s, c in counts.items():
            if c["tp"] + c["fn"] == 0 and c["fp"] == 0:
                continue
            metrics[f"f1_{s}"] = round(200 * c["tp"] / max(2 * c["tp"] + c["fp"] + c["fn"], 1), 2)
        return metrics

    return _timed(run, len(rows))


ROUTER = Measure(("prompt", "tasks"), evaluate_router)
"""The router is measured as skills are, though it is not one of them."""
