"""The `slmesh` command line: ask, demo, serve, eval, openapi."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from slmesh.config import ConfigError, Settings, settings_from_env
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse
from slmesh.skills.registry import SkillSet, measure, registry


def _settings(args: argparse.Namespace) -> Settings:
    environ = dict(os.environ)
    if getattr(args, "models_dir", None):
        environ["SLMESH_MODELS_DIR"] = str(args.models_dir)
    return settings_from_env(environ)


def _pipeline(args: argparse.Namespace) -> Any:
    from slmesh.pipeline import Pipeline

    return Pipeline.from_settings(_settings(args))


def render(response: AnalyzeResponse, prompt: str) -> str:
    from slmesh.aggregator import describe

    lines = [f"Prompt: {prompt}"]
    scores = ", ".join(f"{k} {v:.2f}" for k, v in response.router.scores.items())
    lines.append(f"  skills:    {', '.join(response.skills) or 'none'}  (router scores: {scores})")
    lines.append(f"  subject:   {response.router.subject}")
    for skill, outcome in response.outcomes.items():
        lines.append(f"  {skill + ':':<10} {describe(outcome)}")
    lines.append(f"  answer:    {response.answer}")
    lines.append("  latency:   " + " | ".join(f"{k} {v:.2f} ms" for k, v in response.timings_ms.items()))
    return "\n".join(lines)


def _emit(response: AnalyzeResponse, prompt: str, as_json: bool) -> None:
    print(response.model_dump_json(indent=2) if as_json else render(response, prompt), flush=True)


def cmd_ask(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        request = AnalyzeRequest(prompt=args.prompt, context=args.context)
    except ValidationError as exc:
        print(f"slmesh ask: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    pipeline = _pipeline(args)
    try:
        _emit(pipeline.analyze(request), args.prompt, args.json)
    finally:
        pipeline.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT

    pipeline = _pipeline(args)
    pipeline.skills.warm()
    print(f"Context: {TRAIN_SERVICE_CONTEXT}\n")
    try:
        for prompt in REFERENCE_PROMPTS:
            _emit(pipeline.analyze(AnalyzeRequest(prompt=prompt, context=TRAIN_SERVICE_CONTEXT)), prompt, args.json)
            print()
    finally:
        pipeline.close()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from slmesh.api.server import AnalyzeServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = AnalyzeServer((args.host, args.port), _pipeline(args))
    print(f"slmesh serving on http://{args.host}:{server.server_port} (POST /v1/analyze, GET /healthz)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.pipeline.close()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from slmesh.datasets_io import read_records, require_fields
    from slmesh.runtime import ModelStore

    settings = _settings(args)
    rows = read_records(args.data)
    if args.limit:
        rows = rows[: args.limit]
    scored = measure(args.skill)
    require_fields(rows, scored.fields, args.data)
    skills = SkillSet(ModelStore(settings.models_dir, args.threads))
    subject = skills.router if args.skill == "router" else skills.named(args.skill)
    batching = {"batch_size": args.batch_size} if args.batch_size else {}
    metrics = {
        "skill": args.skill,
        "data": str(args.data),
        **scored.evaluate(subject, rows, **batching),
    }
    print(json.dumps(metrics))
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from slmesh.api.openapi import document

    print(json.dumps(document(), indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from slmesh.bench.cli import bench

    return bench(args, _settings(args))


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="slmesh", description="A mesh of small ONNX language models.")
    root.add_argument("--models-dir", type=Path, help="defaults to $SLMESH_MODELS_DIR or the repository's models/")
    sub = root.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer one prompt")
    ask.add_argument("prompt")
    ask.add_argument("--context", help="passage for question answering")
    ask.add_argument("--json", action="store_true", help="print the full response as JSON")
    ask.set_defaults(handler=cmd_ask)

    demo = sub.add_parser("demo", help="answer the seed article's three prompts")
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(handler=cmd_demo)

    serve = sub.add_parser("serve", help="serve POST /v1/analyze over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(handler=cmd_serve)

    evaluate = sub.add_parser("eval", help="measure a skill on a labelled file; prints one JSON object")
    measured = [spec.name for spec in registry.specs() if spec.measure is not None]
    evaluate.add_argument("skill", choices=[*measured, "router"])
    evaluate.add_argument("--data", type=Path, required=True)
    evaluate.add_argument("--limit", type=int, default=0)
    evaluate.add_argument("--threads", type=int, default=2)
    evaluate.add_argument(
        "--batch-size",
        type=_not_negative,
        default=0,
        help="rows per model call (default: the skill's usual batch; 1: one request at a time, as served)",
    )
    evaluate.set_defaults(handler=cmd_eval)

    bench = sub.add_parser("bench", help="measure end-to-end latency, throughput, cold start and memory")
    bench.add_argument("--quick", action="store_true", help="seconds: every code path, tiny configs")
    bench.add_argument("--out", type=Path, help="results folder (default results/bench-<date>)")
    bench.add_argument("--runs", type=int, help="timed runs per prompt after warm-up (default 40; quick 4)")
    bench.add_argument(
        "--threads", type=int, help="PyTorch threads (default: all CPUs); ONNX Runtime uses SLMESH_THREADS"
    )
    bench.add_argument("--systems", default="1,2,3,4,5", help="which systems to measure, e.g. 1,3")
    bench.add_argument("--torch-checkpoints", type=Path, help="fine-tuned torch checkpoints for system 2")
    bench.set_defaults(handler=cmd_bench)

    openapi = sub.add_parser("openapi", help="print the API's OpenAPI document")
    openapi.set_defaults(handler=cmd_openapi)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"slmesh: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"slmesh: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
