"""`slmesh eval sentiment` on binary (0/1) and three-class (string) files: what it measures and what it refuses."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from slmesh.datasets_io import read_records
from slmesh.evaluation.metrics import evaluate_sentiment
from slmesh.skills.sentiment import SentimentResult

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data" / "sentiment"


class Scripted:
    """Answers each text with the probabilities it was given: the measures are checked, not a model."""

    def __init__(self, scores: dict[str, dict[str, float]]) -> None:
        self.scores = scores

    def predict(self, texts: Sequence[str]) -> list[SentimentResult]:
        results = []
        for text in texts:
            scores = self.scores[text]
            label = max(scores, key=scores.__getitem__)
            results.append(SentimentResult(label=label, score=scores[label], scores=scores))
        return results


def _three(neg: float, neu: float, pos: float) -> dict[str, float]:
    return {"negative": neg, "neutral": neu, "positive": pos}


def test_three_class_files_get_macro_recall_accuracy_macro_f1_and_per_class_recall() -> None:
    rows = read_records(DATA / "three_class.jsonl")
    # Both negatives right; one neutral of three called positive; the positive called neutral.
    answers = [_three(0.8, 0.1, 0.1), _three(0.6, 0.3, 0.1), _three(0.1, 0.2, 0.7)]
    answers += [_three(0.1, 0.8, 0.1), _three(0.2, 0.7, 0.1), _three(0.1, 0.5, 0.4)]
    skill = Scripted({r["text"]: a for r, a in zip(rows, answers, strict=True)})
    metrics = evaluate_sentiment(skill, rows, batch_size=4)  # type: ignore[arg-type]
    assert metrics["recall_negative"] == 100.0
    assert metrics["recall_neutral"] == pytest.approx(66.67)
    assert metrics["recall_positive"] == 0.0
    assert metrics["macro_recall"] == pytest.approx((100 + 200 / 3 + 0) / 3, abs=0.01)
    assert metrics["accuracy"] == pytest.approx(400 / 6, abs=0.01)
    # F1: negative 1.0, neutral 2*2/(3+3), positive 0 (its one prediction was a neutral text).
    assert metrics["macro_f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3, abs=0.01)
    assert metrics["examples"] == 6


def test_binary_files_take_the_larger_pole_and_never_neutral() -> None:
    rows = read_records(DATA / "binary.jsonl")
    # Neutral is the most probable class for the first two; their larger pole decides, right for one of them.
    answers = [_three(0.1, 0.6, 0.3), _three(0.1, 0.6, 0.3), _three(0.2, 0.1, 0.7), _three(0.9, 0.05, 0.05)]
    skill = Scripted({r["text"]: a for r, a in zip(rows, answers, strict=True)})
    metrics = evaluate_sentiment(skill, rows)  # type: ignore[arg-type]
    assert metrics["accuracy"] == 75.0
    assert metrics["f1_positive"] == pytest.approx(100 * 2 * 2 / (2 * 2 + 1), abs=0.01)
    assert "macro_recall" not in metrics


def slmesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slmesh.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("three_class.jsonl", {"macro_recall", "accuracy", "macro_f1", "recall_neutral"}),
        ("binary.jsonl", {"accuracy", "f1_positive"}),
    ],
)
def test_eval_reads_both_kinds_of_file_with_the_served_model(name: str, keys: set[str]) -> None:
    done = slmesh("eval", "sentiment", "--data", str(DATA / name))
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert keys <= set(metrics) and metrics["examples"] == len(read_records(DATA / name))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_label.jsonl", "record 2: label 'neutrall' is neither 0/1 nor one of negative, neutral, positive"),
        ("mixed_labels.jsonl", "record 2: a 0/1 label among labels of the other kind"),
    ],
)
def test_eval_names_the_row_of_a_bad_label_without_a_traceback(name: str, message: str) -> None:
    done = slmesh("eval", "sentiment", "--data", str(DATA / name))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
