"""The `slmesh` command line: ask, demo, serve, eval, bench, openapi.

Exit codes: 0 done; 1 a chosen skill failed or is unavailable (the answer is still printed); 2 a usage, input,
configuration or start-up error, told in one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from slmesh import __version__
from slmesh.budget import InputTooLarge
from slmesh.config import SERVE_ENV, ConfigError, ServeSettings, Settings, serve_settings, settings_from_env
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse
from slmesh.skills.registry import SkillSet, measure, registry


def _settings(args: argparse.Namespace) -> Settings:
    environ = dict(os.environ)
    if getattr(args, "models_dir", None):
        environ["SLMESH_MODELS_DIR"] = str(args.models_dir)
    if getattr(args, "kb", None):
        environ["SLMESH_KB"] = str(args.kb)
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


def _context(args: argparse.Namespace) -> str | None:
    """--context TEXT, or --context-file PATH (`-`: standard input), for contexts past the argument-length limit."""
    if args.context_file is None:
        context: str | None = args.context
        return context
    if str(args.context_file) == "-":
        return sys.stdin.read()
    try:
        return Path(args.context_file).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{args.context_file} is not UTF-8 text") from exc
    except OSError as exc:
        raise ValueError(f"cannot read {args.context_file}: {exc.strerror}") from exc


def failed_skills(response: AnalyzeResponse) -> list[str]:
    """Chosen skills with an implementation whose outcome is not ok (a reserved skill is never a failure)."""
    return [s for s, o in response.outcomes.items() if o.status != "ok" and registry.spec(s) is not None]


def cmd_ask(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        request = AnalyzeRequest(prompt=args.prompt, context=_context(args))
    except ValidationError as exc:
        print(f"slmesh ask: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    pipeline = _pipeline(args)
    try:
        response = pipeline.analyze(request)
    except InputTooLarge as exc:
        print(f"slmesh ask: {exc}", file=sys.stderr)
        return 2
    finally:
        pipeline.close()
    _emit(response, args.prompt, args.json)
    failed = failed_skills(response)
    if failed:
        print(f"slmesh ask: {', '.join(failed)} failed (see the answer)", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT

    pipeline = _pipeline(args)
    pipeline.skills.warm()
    context = None if pipeline.retriever is not None else TRAIN_SERVICE_CONTEXT
    print(f"Context: {context}\n" if context else f"Knowledge base: {_settings(args).kb}\n")
    try:
        for prompt in REFERENCE_PROMPTS:
            _emit(pipeline.analyze(AnalyzeRequest(prompt=prompt, context=context)), prompt, args.json)
            print()
    finally:
        pipeline.close()
    return 0


def _kb_folder(args: argparse.Namespace) -> Path:
    folder = args.kb or os.environ.get("SLMESH_KB")
    if not folder:
        raise ConfigError("no knowledge base: pass --kb DIR or set SLMESH_KB")
    return Path(folder)


def _embedder(args: argparse.Namespace) -> Any:
    from slmesh.embedding import Embedder
    from slmesh.runtime import ModelStore

    # The index may not exist yet (ingest builds it): only the models are read from the environment.
    environ = {k: v for k, v in os.environ.items() if k != "SLMESH_KB"}
    if args.models_dir:
        environ["SLMESH_MODELS_DIR"] = str(args.models_dir)
    return Embedder.load(ModelStore(settings_from_env(environ).models_dir))


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(f"\rembedding [{'#' * filled}{'.' * (width - filled)}] {done}/{total} chunks", end=end, file=sys.stderr)


def cmd_kb_ingest(args: argparse.Namespace) -> int:
    import time

    from slmesh.kb.chunking import ChunkingSettings
    from slmesh.kb.index import ingest

    folder = _kb_folder(args)
    started = time.perf_counter()
    manifest = ingest(
        [Path(p) for p in args.paths],
        _embedder(args),
        folder,
        ChunkingSettings(args.max_words, args.overlap),
        None if args.quiet else _progress,
    )
    seconds = time.perf_counter() - started
    rate = manifest.chunks / seconds if seconds > 0 else 0.0
    print(
        f"{folder}: {len(manifest.documents)} documents, {manifest.chunks} chunks in {seconds:.1f} s"
        f" ({rate:.0f} chunks/s)"
    )
    return 0


def cmd_kb_search(args: argparse.Namespace) -> int:
    from slmesh.kb.index import KnowledgeBase

    kb = KnowledgeBase.open(_kb_folder(args), _embedder(args))
    hits = kb.search(args.query, args.k)
    if args.json:
        rows = [
            {"score": round(h.score, 4), "source": h.chunk.source, "heading": h.chunk.heading, "text": h.chunk.text}
            for h in hits
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for rank, hit in enumerate(hits, 1):
        where = hit.chunk.source + (f" › {hit.chunk.heading}" if hit.chunk.heading else "")
        print(f"{rank}. {hit.score:.3f}  {where}\n   {hit.chunk.text[:200]}")
    return 0


def cmd_kb_stats(args: argparse.Namespace) -> int:
    from slmesh.kb.index import KnowledgeBase, read_manifest

    folder = _kb_folder(args)
    manifest = read_manifest(folder)
    kb = KnowledgeBase.open(folder, _embedder(args))
    words = sorted(len(c.text.split()) for c in kb.chunks) or [0]
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    stats = {
        "folder": str(folder),
        "documents": len(manifest.documents),
        "chunks": manifest.chunks,
        "words_per_chunk": {"min": words[0], "median": words[len(words) // 2], "max": words[-1]},
        "dim": manifest.dim,
        "bytes": size,
        "embed_model_sha256": manifest.embed_model_sha256,
        "built_at": manifest.built_at,
    }
    print(json.dumps(stats, indent=2))
    return 0


def cmd_kb_push(args: argparse.Namespace) -> int:
    """Uploads an index folder to S3 for the retrieve function (template.yaml's KnowledgeBaseBucket and -Prefix)."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as exc:
        raise ConfigError("kb push needs boto3: pip install 'slmesh[lambda]'") from exc
    from pydantic import ValidationError

    from slmesh.cloud.kbstore import IndexLocation, push

    folder = _kb_folder(args)
    try:
        location = IndexLocation(bucket=args.bucket, **({"prefix": args.prefix} if args.prefix is not None else {}))
    except ValidationError as exc:
        raise ConfigError(f"invalid --bucket or --prefix: {exc.errors()[0]['msg']}") from exc
    try:
        manifest = push(boto3.client("s3"), folder, location)
    except (BotoCoreError, ClientError) as exc:
        print(f"slmesh: upload to {location} failed: {exc}", file=sys.stderr)
        return 2
    print(f"{folder} -> {location}: {len(manifest.documents)} documents, {manifest.chunks} chunks")
    return 0


def exposure_warning(settings: ServeSettings, loopback: bool) -> str | None:
    if loopback or settings.api_key is not None:
        return None
    return (
        f"{settings.host} is reachable from other machines and nothing checks who calls;"
        " set SLMESH_API_KEY (or --api-key) to require a bearer token"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from slmesh.api.server import AnalyzeServer, StartupError, is_loopback
    except ImportError as exc:
        missing = f"slmesh serve needs the serve extra ({exc.name} is missing): pip install 'slmesh[serve]'"
        raise ConfigError(missing) from exc
    from slmesh.pipeline import Pipeline

    settings = serve_settings({field: getattr(args, field) for field in ServeSettings.model_fields})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    pipeline = Pipeline.from_settings(_settings(args), settings.max_large)
    try:
        server = AnalyzeServer(pipeline, settings)
    except StartupError as exc:
        pipeline.close()
        print(f"slmesh serve: {exc}", file=sys.stderr)
        return 2
    exposed = exposure_warning(settings, is_loopback(settings.host))
    if exposed:
        print(f"slmesh serve: warning: {exposed}", file=sys.stderr)
    for name, problem in server.service.health().problems.items():
        if registry.spec(name) is not None or name == "router":
            print(f"slmesh serve: warning: {name} is unavailable: {problem}", file=sys.stderr)
    host, port = server.address
    print(
        f"slmesh serving on http://{host}:{port} (POST /v1/analyze, GET /healthz, GET /docs, GET /openapi.json)",
        flush=True,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        pipeline.close()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from slmesh.datasets_io import check_rows, read_records
    from slmesh.runtime import ModelStore

    settings = _settings(args)
    rows = read_records(args.data)
    if args.limit:
        rows = rows[: args.limit]
    scored = measure(args.skill)
    rows = check_rows(rows, scored.fields, args.data)
    skills = SkillSet(ModelStore(settings.models_dir, args.threads))
    subject = skills.router if args.skill == "router" else skills.named(args.skill)
    batching = {"batch_size": args.batch_size} if args.batch_size else {}
    try:
        measured = scored.evaluate(subject, rows, **batching)
    except (KeyError, TypeError, ValueError) as exc:
        # A value the row check lets through but this skill's measure cannot read, such as a label it lacks.
        detail = f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"{args.data}: a record cannot be measured ({detail})") from exc
    metrics = {"skill": args.skill, "data": str(args.data), **measured}
    print(json.dumps(metrics, allow_nan=False))
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from slmesh.api.openapi import document

    print(json.dumps(document(), indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from slmesh.bench.cli import bench

    return bench(args, _settings(args))


def cmd_bench_serve(args: argparse.Namespace) -> int:
    from slmesh.bench.cli import serve_bench

    args.clients_given = args.clients is not None
    args.clients = args.clients or "1,4,16"
    return serve_bench(args, _settings(args))


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 65535, got {text!r}") from exc
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 65535, got {value}")
    return value


def _serve_flags(serve: argparse.ArgumentParser) -> None:
    """One flag per server setting, documented from the setting itself; unset flags fall back to the variable."""
    env = {field: name for name, field in SERVE_ENV.items()}
    for field, info in ServeSettings.model_fields.items():
        kind: Any = _port if field == "port" else info.annotation if info.annotation in (int, float) else str
        metavar = "SECONDS" if field.endswith("_s") else "N" if kind is int else field.split("_")[-1].upper()
        default = "none" if info.default is None else info.default
        source = f"; ${env[field]}" if field in env else ""
        serve.add_argument(
            f"--{field.replace('_', '-')}",
            dest=field,
            type=kind,
            metavar=metavar,
            help=f"{info.description} (default: {default}{source})",
        )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="slmesh", description="A mesh of small ONNX language models.")
    root.add_argument("--version", action="version", version=f"slmesh {__version__}")
    root.add_argument("--models-dir", type=Path, help="defaults to $SLMESH_MODELS_DIR or the installed models")
    sub = root.add_subparsers(dest="command", required=True)

    ask = sub.add_parser(
        "ask", help="answer one prompt", epilog="exit status: 0 answered, 1 a chosen skill failed, 2 bad input"
    )
    ask.add_argument("prompt")
    given = ask.add_mutually_exclusive_group()
    given.add_argument("--context", help="passage for question answering")
    given.add_argument(
        "--context-file", metavar="PATH", help="read the passage from a UTF-8 file ('-': standard input)"
    )
    ask.add_argument("--json", action="store_true", help="print the full response as JSON")
    ask.add_argument("--kb", type=Path, help="knowledge base for questions without a context (default: $SLMESH_KB)")
    ask.set_defaults(handler=cmd_ask)

    demo = sub.add_parser("demo", help="answer the seed article's three prompts")
    demo.add_argument("--json", action="store_true")
    demo.add_argument("--kb", type=Path, help="answer from this knowledge base instead of the article's passage")
    demo.set_defaults(handler=cmd_demo)

    serve = sub.add_parser(
        "serve",
        help="serve POST /v1/analyze over HTTP",
        description="Serves the analyze API (POST /v1/analyze, GET /healthz, GET /openapi.json, GET /docs) on uvicorn. "
        "Every limit below is also read from its environment variable; a flag wins.",
    )
    _serve_flags(serve)
    serve.add_argument(
        "--kb", type=Path, help="knowledge base for questions without a context, opened at start (default: $SLMESH_KB)"
    )
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
    modes = bench.add_subparsers(dest="bench_mode", metavar="{serve}")
    served = modes.add_parser(
        "serve",
        help="load, soak, fairness and huge inputs against slmesh serve on 127.0.0.1 (bounded; prints JSON)",
        description="Starts `slmesh serve` on a free 127.0.0.1 port for each scenario and stops it after. Without a "
        "scenario flag, runs the load levels only.",
    )
    served.add_argument("--clients", help="clients per load level (default 1,4,16)")
    served.add_argument("--seconds", type=float, default=20.0, help="seconds per load level (default 20)")
    served.add_argument("--soak", type=int, default=0, metavar="REQUESTS", help="also soak for this many requests")
    served.add_argument("--soak-clients", type=int, default=16, metavar="N", help="clients of the soak (default 16)")
    served.add_argument(
        "--soak-seconds", type=float, default=3600.0, help="the soak stops here at the latest (default 3600)"
    )
    served.add_argument("--fairness", action="store_true", help="also time a small request behind four huge ones")
    served.add_argument("--huge", action="store_true", help="also send the largest inputs and read the server's RSS")
    served.add_argument("--out", type=Path, help="also write the JSON here")
    served.set_defaults(handler=cmd_bench_serve)

    kb = sub.add_parser("kb", help="build and search a knowledge base (an index folder)")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    ingest = kb_sub.add_parser("ingest", help="chunk and embed Markdown, text and HTML files into an index folder")
    ingest.add_argument("paths", nargs="+", help="files or folders (searched recursively)")
    ingest.add_argument("--max-words", type=int, default=120, help="words per chunk at most (default 120)")
    ingest.add_argument("--overlap", type=_not_negative, default=1, help="sentences repeated between chunks (1)")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(handler=cmd_kb_ingest)
    search = kb_sub.add_parser("search", help="the chunks nearest a query")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=cmd_kb_search)
    stats = kb_sub.add_parser("stats", help="what an index holds")
    stats.set_defaults(handler=cmd_kb_stats)
    push = kb_sub.add_parser("push", help="upload an index folder to S3 for the cloud's retrieve function")
    push.add_argument("--bucket", required=True, help="the stack's KnowledgeBaseBucket")
    push.add_argument("--prefix", help="key prefix, the stack's KnowledgeBasePrefix (default kb)")
    push.set_defaults(handler=cmd_kb_push)
    for command in (ingest, search, stats, push):
        command.add_argument("--kb", type=Path, help="the index folder (default: $SLMESH_KB)")

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
