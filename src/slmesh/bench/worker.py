"""One system, measured in a fresh process: `python -m slmesh.bench.worker SPEC.json RESULT.json`.

A process per system keeps one runtime's thread pools (torch's OpenMP threads spin after each op) from
slowing the next one, and makes each system's peak RSS its own.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from slmesh.bench.stack import Stack, article_latency
from slmesh.bench.stats import latency_samples, ms_since, summarize, throughput
from slmesh.bench.workload import (
    QUESTIONS,
    article_requests,
    passage_of_tokens,
    qa_pairs,
    review_of_tokens,
    sentences,
)
from slmesh.runtime import TOKENIZER_FILE, read_card


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def build(spec: dict[str, Any]) -> Stack:
    models_dir = Path(spec["models_dir"])
    if spec["system"] == 3:
        from slmesh.bench.onnx_stack import EmbeddedStack

        return EmbeddedStack(models_dir, spec["onnx_threads"], spec["workers"])
    from slmesh.bench.torch_stacks import ArticleStack, OurTorchStack

    if spec["system"] == 1:
        return ArticleStack(spec["threads"], tiny=spec["tiny"])
    checkpoints = spec.get("torch_checkpoints")
    # The same depth as the served router, so systems 2 and 3 differ only in runtime and precision.
    layers = int(read_card(models_dir / "router")["training"]["encoder_layers"])
    return OurTorchStack(spec["threads"], layers, Path(checkpoints) if checkpoints else None, tiny=spec["tiny"])


def _batches(stack: Stack, tokenizer: Tokenizer, sizes: list[int], min_seconds: float) -> dict[str, Any]:
    texts, pairs = sentences(max(sizes)), qa_pairs(max(sizes))
    return {
        "sentiment": {str(b): throughput(partial(stack.sentiment, texts[:b]), b, min_seconds) for b in sizes},
        "qa": {str(b): throughput(partial(stack.qa, pairs[:b]), b, min_seconds) for b in sizes},
        "mean_tokens": {
            "sentiment": round(sum(len(e.ids) for e in tokenizer.encode_batch(texts)) / len(texts), 1),
            "qa": len(tokenizer.encode(*pairs[0]).ids),
        },
    }


def _lengths(stack: Stack, tokenizer: Tokenizer, spec: dict[str, Any]) -> list[Any]:
    runs, batch, min_seconds = spec["length_runs"], spec["length_batch"], spec["min_seconds"]
    rows = []
    question = QUESTIONS[0]
    for length in spec["lengths"]:
        review = review_of_tokens(tokenizer, length)
        passage = passage_of_tokens(tokenizer, question, length)
        rows.append(
            {
                "tokens": length,
                "sentiment_ms": summarize(latency_samples(partial(stack.sentiment, [review]), runs, 2)),
                "qa_ms": summarize(latency_samples(partial(stack.qa, [(question, passage)]), runs, 2)),
                "sentiment_batch": batch,
                "sentiment_texts_per_s": throughput(
                    partial(stack.sentiment, [review] * batch), batch, min_seconds, min_calls=1
                ),
            }
        )
    return rows


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    stack = build(spec)
    result: dict[str, Any] = {
        "name": stack.name,
        "notes": stack.notes,
        "build_ms": round(ms_since(started), 1),
        "load_ms": stack.load_ms,
        "parameters": getattr(stack, "parameters", None),
    }
    prompt, context = article_requests()[0]
    started = time.perf_counter()
    stack.analyze(prompt, context)
    result["first_request_ms"] = round(ms_since(started), 3)
    result["latency"] = article_latency(stack, spec["runs"], spec["warmup"])
    if spec.get("latency_only"):
        stack.close()
        return result
    result["sample"] = {
        "answer": getattr(stack, "last_answer", None),
        "skills": getattr(stack, "last_skills", None),
    }
    result["peak_rss_mb_serving"] = peak_rss_mb()
    tokenizer = Tokenizer.from_file(str(Path(spec["models_dir"]) / "sentiment" / TOKENIZER_FILE))
    if spec["batch_sizes"]:
        result["throughput"] = _batches(stack, tokenizer, spec["batch_sizes"], spec["min_seconds"])
        result["peak_rss_mb_batches"] = peak_rss_mb()
    if spec["lengths"]:
        result["lengths"] = _lengths(stack, tokenizer, spec)
    result["peak_rss_mb"] = peak_rss_mb()
    stack.close()
    return result


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(json.dumps(measure(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
