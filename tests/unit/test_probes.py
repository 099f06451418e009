"""The measurement probes behind docs/benchmark.md run and print well-formed JSON; timings are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit


def _probe(*args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "slmesh.bench.probes", *args], capture_output=True, text=True, timeout=120, check=False
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
