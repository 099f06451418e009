"""The measurement probes behind docs/benchmark.md run and print well-formed JSON; timings are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.unit


def _probe(*args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "slmesh.research.probes", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_router_latency_reports_each_router(models_dir: Path) -> None:
    rows = _probe("router-latency", str(models_dir / "router"), "--threads", "1", "--runs", "2")
    assert [(r["router"], r["threads"]) for r in rows] == [(str(models_dir / "router"), 1)]
    assert rows[0]["p50_ms_per_prompt"] > 0


def test_fusion_times_the_model_with_and_without_the_left_out_fusions(models_dir: Path) -> None:
    rows = _probe("fusion", str(models_dir / "router" / "model.onnx"), "--runs", "2", "--repeats", "1", "--tokens", "8")
    assert [r["left_out"] for r in rows] == [[], ["SkipLayerNormFusion"]]


def test_ops_shares_add_up_to_the_whole_call(models_dir: Path) -> None:
    rows = _probe("ops", str(models_dir / "router" / "model.onnx"), "--runs", "2", "--tokens", "8", "--top", "100")
    assert rows[-1]["op"] == "all"
    assert sum(r["share"] for r in rows[:-1]) == pytest.approx(1.0, abs=0.01)


def test_sentiment_long_scores_each_way_of_reading_a_long_review() -> None:
    args = ("--reviews", "6", "--strategies", "head-tail", "windows", "--lengths", "64", "--batch", "4")
    rows = _probe("sentiment-long", *args)
    assert rows[0]["reviews"] == 6
    assert [(r["strategy"], r["tokens"]) for r in rows[1:]] == [("head-tail", 64), ("windows", 64)]
    assert rows[2]["model_calls_per_review"] > rows[1]["model_calls_per_review"] == 1.0


def test_compare_times_each_file_in_turn_each_repeat(models_dir: Path) -> None:
    router, sentiment = (str(models_dir / s / "model.onnx") for s in ("router", "sentiment"))
    rows = _probe("compare", router, sentiment, "--runs", "2", "--repeats", "2", "--tokens", "8", "--threads", "1")
    assert [(r["repeat"], r["model"]) for r in rows] == [(0, router), (0, sentiment), (1, router), (1, sentiment)]
    assert all(r["p50_ms"] > 0 and r["mb"] < 30 for r in rows)


def test_calibration_error_is_zero_when_confidence_matches_accuracy() -> None:
    from slmesh.evaluation.metrics import calibration_error

    probs = np.tile([0.25, 0.75], (4, 1))
    matched = calibration_error(probs, np.array([1, 1, 1, 0]), bins=10)
    overconfident = calibration_error(probs, np.array([1, 1, 0, 0]), bins=10)
    assert matched == {"nll": pytest.approx(-(3 * np.log(0.75) + np.log(0.25)) / 4, abs=1e-4), "ece": 0.0}
    assert overconfident["ece"] == pytest.approx(25.0)


def test_calibration_error_weighs_each_bin_by_its_share_of_examples() -> None:
    from slmesh.evaluation.metrics import calibration_error

    probs = np.array([[0.0, 1.0], [0.0, 1.0], [0.4, 0.6], [0.4, 0.6]])
    assert calibration_error(probs, np.array([1, 1, 1, 0]), bins=10)["ece"] == pytest.approx(5.0)


def test_calibration_scores_each_dev_set_unscaled_calibrated_and_cross_fitted_where_it_was_fitted(
    models_dir: Path,
) -> None:
    rows = _probe("calibration", "--model-dir", str(models_dir / "sentiment"), "--examples", "8", "--threads", "1")
    card = json.loads((models_dir / "sentiment" / "card.json").read_text())
    fitted_on = card["data"].get("calibrated_on", "sst2_dev")
    expected = [
        (name, 8, kind)
        for name in ("sst2_dev", "imdb_heldout", "tweets_dev")
        if name == "sst2_dev" or name in card["metrics"]["int8"]
        for kind in ("uncalibrated", "calibrated", "cross_fitted")
        if kind != "cross_fitted" or name == fitted_on
    ]
    assert [(r["set"], r["examples"], r["scores"]) for r in rows] == expected
    assert all(r["ece"] >= 0 and r["nll"] > 0 for r in rows)


def test_router_thresholds_change_decisions_when_one_threshold_replaces_the_tuned_ones(models_dir: Path) -> None:
    rows = _probe("router-thresholds", "--model-dir", str(models_dir / "router"), "--single", "1.01", "--threads", "1")
    card = json.loads((models_dir / "router" / "card.json").read_text())
    tuned, single = (r["exact_task_set_accuracy"] for r in rows[:2])
    assert rows[0]["values"] == card["inference"]["thresholds"]
    assert tuned["router_handwritten"] == card["metrics"]["int8"]["router_handwritten"]["exact_task_set_accuracy"]
    assert rows[1]["values"] == {"sentiment": 1.01, "qa": 1.01, "summarize": 1.01}
    assert single["router_handwritten"] < tuned["router_handwritten"]
    assert 0 < rows[2]["skill_sets_that_differ"] <= rows[2]["prompts"]


def test_router_thresholds_compares_the_given_per_skill_values_and_keeps_the_card_s_for_the_rest(
    models_dir: Path,
) -> None:
    rows = _probe("router-thresholds", "--model-dir", str(models_dir / "router"), "--thresholds", "qa=1.01")
    card = json.loads((models_dir / "router" / "card.json").read_text())
    assert rows[1]["thresholds"] == "given"
    assert rows[1]["values"] == {**card["inference"]["thresholds"], "qa": 1.01}
    tuned, given = (r["exact_task_set_accuracy"] for r in rows[:2])
    assert given["router_handwritten"] < tuned["router_handwritten"], "the first set asks questions"
    assert 0 < rows[2]["skill_sets_that_differ"] <= rows[2]["prompts"]
