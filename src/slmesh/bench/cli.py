"""`slmesh bench`: turns the command's options into a run and says where the results went."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from slmesh.bench.runner import SYSTEMS, BenchConfig, run
from slmesh.config import Settings


def parse_systems(text: str) -> tuple[int, ...]:
    problem = ValueError(f"--systems takes numbers from 1 to 5 separated by commas, got {text!r}")
    try:
        chosen = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError as exc:
        raise problem from exc
    if not chosen or any(s not in SYSTEMS for s in chosen):
        raise problem
    return chosen


def default_out() -> Path:
    return Path("results") / f"bench-{date.today():%Y-%m-%d}"


def default_threads(quick: bool) -> int:
    """All CPUs; one in quick mode, where torch's thread barriers on a busy machine cost more than tiny models."""
    return 1 if quick else os.cpu_count() or 1


def _command(args: argparse.Namespace, systems: tuple[int, ...]) -> str:
    parts = ["slmesh bench"]
    if args.quick:
        parts.append("--quick")
    if args.runs:
        parts.append(f"--runs {args.runs}")
    if args.threads:
        parts.append(f"--threads {args.threads}")
    if systems != SYSTEMS:
        parts.append("--systems " + ",".join(map(str, systems)))
    if args.torch_checkpoints:
        parts.append(f"--torch-checkpoints {args.torch_checkpoints}")
    return " ".join(parts)


def _say(message: str) -> None:
    print(f"slmesh bench: {message}", file=sys.stderr, flush=True)


def bench(args: argparse.Namespace, settings: Settings) -> int:
    systems = parse_systems(args.systems)
    config = BenchConfig(
        out=args.out or default_out(),
        models_dir=settings.models_dir.resolve(),
        quick=args.quick,
        runs=args.runs,
        onnx_threads=settings.threads,
        workers=settings.skill_workers,
        systems=systems,
        torch_checkpoints=args.torch_checkpoints,
        command=_command(args, systems),
        threads=args.threads or default_threads(args.quick),
    )
    results = run(config, _say)
    print((config.out / "table.md").read_text())
    missed = [t["target"] for t in results["targets"] if t["met"] is False]
    _say(f"results in {config.out}" + (f"; targets missed: {', '.join(missed)}" if missed else ""))
    return 0


def parse_clients(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(f"--clients takes numbers separated by commas, got {text!r}") from exc
    if not levels or any(not 1 <= n <= 256 for n in levels):
        raise ValueError(f"--clients takes 1 to 256 clients per level, got {text!r}")
    return levels


def serve_bench(args: argparse.Namespace, settings: Settings) -> int:
    """`slmesh bench serve`: the chosen scenarios against `slmesh serve` on 127.0.0.1; one JSON document."""
    from slmesh.bench import serve_load

    models = settings.models_dir.resolve()
    results: dict[str, object] = {"command": " ".join(["slmesh", *sys.argv[1:]]) if sys.argv else "slmesh bench serve"}
    if not (args.soak or args.fairness or args.huge) or args.clients_given:
        levels = parse_clients(args.clients)
        _say(f"load: {levels} clients, {args.seconds:g} s each")
        results["load"] = serve_load.load(models, levels, args.seconds)
    if args.soak:
        _say(f"soak: {args.soak} requests from {args.soak_clients} clients (at most {args.soak_seconds:g} s)")
        results["soak"] = serve_load.soak(models, args.soak, args.soak_clients, args.soak_seconds)
    if args.fairness:
        _say("fairness: a small request behind four huge ones")
        results["fairness"] = serve_load.fairness(models, huge_chars=30_000, huge_requests=4, small_runs=20)
    if args.huge:
        _say("huge inputs: 100,000 characters of 'a ' and of prose")
        results["huge"] = serve_load.huge_inputs(models)
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        _say(f"results in {args.out}")
    print(text)
    return 0
