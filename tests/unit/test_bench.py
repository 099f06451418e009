"""`slmesh bench --quick` runs end to end and writes well-formed results; timings are never asserted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slmesh.bench.stack import latency_summary, merge_latency
from slmesh.cli import main
from slmesh.skills.registry import registry

pytestmark = pytest.mark.unit

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SYSTEMS = ("1", "2", "3", "4", "5")
STATS = {"n", "p50", "p95", "mean", "min"}
# The discard port on the loopback: nothing listens there.
CLOSED_ENDPOINT = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as patch:
        # System 5 would start LocalStack and deploy the stack (the LocalStack tier runs its measures); here it
        # takes the path where the LocalStack it is given does not answer.
        patch.setenv("AWS_ENDPOINT_URL", CLOSED_ENDPOINT)
        assert main(["--models-dir", str(models_dir), "bench", "--quick", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def results(bench_out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((bench_out / "results.json").read_text())
    return loaded


def test_every_system_is_measured_or_says_why_not(results: dict[str, Any]) -> None:
    assert set(results["systems"]) == set(SYSTEMS)
    for system in results["systems"].values():
        assert isinstance(system["title"], str)
        if system["available"]:
            total = system["latency"]["all_prompts"]["total"]
            assert set(total) == STATS
            assert total["n"] > 0
        else:
            assert system["reason"]


def test_the_embedded_pipeline_is_measured_per_stage(results: dict[str, Any]) -> None:
    embedded = results["systems"]["3"]
    assert embedded["available"], embedded.get("reason")
    assert len(embedded["latency"]["per_prompt"]) == 3
    # With a second system to compare against, a second pass in reverse order is pooled with the first.
    passes = embedded.get("latency_passes", 1)
    assert passes == results["plan"]["latency_passes"]
    assert embedded["latency"]["all_prompts"]["total"]["n"] == passes * 3 * results["plan"]["runs"]
    assert {"router", "aggregate", "total", "task_execution"} <= set(embedded["latency"]["all_prompts"])
    assert set(embedded["load_ms"]) == {"router"} | {spec.name for spec in registry.specs()}
    assert embedded["peak_rss_mb_serving"] > 0
    assert set(embedded["throughput"]) == {"sentiment", "qa", "mean_tokens"}
    assert [row["tokens"] for row in embedded["lengths"]] == results["plan"]["lengths"]


def test_cold_start_and_concurrency_are_reported(results: dict[str, Any]) -> None:
    assert results["cold_start"]["available"], results["cold_start"].get("reason")
    assert results["cold_start"]["first_answer_ms"] > 0
    assert results["concurrency"]["available"], results["concurrency"].get("reason")
    clients = [level["clients"] for level in results["concurrency"]["levels"]]
    assert clients == results["plan"]["concurrency"]


def test_targets_have_a_verdict_or_none(results: dict[str, Any]) -> None:
    assert len(results["targets"]) == 6
    for target in results["targets"]:
        assert set(target) == {"target", "goal", "measured", "shown", "met"}
        assert target["met"] in (True, False, None)


def test_machine_description_is_written(bench_out: Path) -> None:
    machine = json.loads((bench_out / "machine.json").read_text())
    assert machine["cpu"]
    assert machine["logical_cpus"] >= 1
    assert machine["versions"]["onnxruntime"]


def test_table_has_the_article_layout_and_a_row_per_system(bench_out: Path, results: dict[str, Any]) -> None:
    table = (bench_out / "table.md").read_text()
    assert "| Approach | Prompt analysis | Task execution | Total p50 | Total p95 | vs slmesh embedded |" in table
    assert "| Article's claim: large LLM (model calls only) | 600 ms | 500 ms | 1,100 ms |" in table
    for key, system in results["systems"].items():
        assert f"| {key}. {system['title']} |" in table
    assert "## Targets" in table
    assert f"`{results['command']}`" in table


def test_charts_are_png_files(bench_out: Path, results: dict[str, Any]) -> None:
    assert "latency.png" in results["charts"]
    for name in results["charts"]:
        assert (bench_out / name).read_bytes()[:8] == PNG_SIGNATURE


def test_rejects_unknown_systems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--systems", "3,7", "--out", str(tmp_path)]) == 2
    assert "--systems" in capsys.readouterr().err


def test_merging_passes_pools_samples_prompt_by_prompt() -> None:
    first = latency_summary([{"total": [1.0, 2.0], "router": [0.5]}, {"total": [10.0]}])
    second = latency_summary([{"total": [3.0], "router": [0.7]}, {"total": [20.0, 30.0]}])
    merged = merge_latency(first, second)
    assert [p["total"]["n"] for p in merged["per_prompt"]] == [3, 3]
    assert merged["per_prompt"][0]["total"]["p50"] == 2.0
    assert merged["per_prompt"][1]["total"]["min"] == 10.0
    assert merged["all_prompts"]["total"]["n"] == 6
    assert merged["all_prompts"]["router"]["mean"] == pytest.approx(0.6)
