"""PNG charts of the results, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from slmesh.bench.report import ARTICLE_CLAIMS


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _measured(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{k}. {s['title']}", s) for k, s in results["systems"].items() if s.get("available")]


def _latency(plt: Any, results: dict[str, Any], path: Path) -> None:
    labels, p50, p95, colors = [], [], [], []
    for name, _, _, total in ARTICLE_CLAIMS:
        labels.append(f"article's claim: {name}")
        p50.append(total)
        p95.append(total)
        colors.append("#bbbbbb")
    for label, system in _measured(results):
        total = system["latency"]["all_prompts"]["total"]
        labels.append(label)
        p50.append(total["p50"])
        p95.append(total["p95"])
        colors.append("#2a7ab9" if "slmesh" in label else "#d9822b")
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(labels) + 1.5))
    ax.barh(labels, p50, color=colors)
    ax.scatter(p95, labels, marker="|", s=200, color="black", label="p95", zorder=3)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("ms per prompt, end to end (log scale); grey: the article's claims, model calls only")
    ax.set_title("The article's three prompts: total latency p50")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _throughput(plt: Any, results: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, system in _measured(results):
        for skill, style in (("sentiment", "-o"), ("qa", "--s")):
            found = system.get("throughput", {}).get(skill)
            if found:
                sizes = [int(b) for b in found]
                ax.plot(sizes, list(found.values()), style, label=f"{label}: {skill}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("texts per second (log scale)")
    ax.set_title("Batch throughput")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _lengths(plt: Any, results: dict[str, Any], path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    for label, system in _measured(results):
        rows = system.get("lengths", [])
        if not rows:
            continue
        tokens = [r["tokens"] for r in rows]
        left.plot(tokens, [r["sentiment_ms"]["p50"] for r in rows], "-o", label=f"{label}: sentiment")
        left.plot(tokens, [r["qa_ms"]["p50"] for r in rows], "--s", label=f"{label}: qa")
        right.plot(tokens, [r["sentiment_texts_per_s"] for r in rows], "-o", label=f"{label}: sentiment")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("input tokens")
        ax.legend(fontsize=8)
    left.set_ylabel("batch-1 latency p50, ms")
    left.set_title("Latency against input length")
    right.set_ylabel("texts per second at batch 32")
    right.set_title("Throughput against input length")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _concurrency(plt: Any, results: dict[str, Any], path: Path) -> None:
    levels = results["concurrency"]["levels"]
    clients = [row["clients"] for row in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    left.plot(clients, [row["latency_ms"]["p50"] for row in levels], "-o", label="p50")
    left.plot(clients, [row["latency_ms"]["p95"] for row in levels], "--s", label="p95")
    left.set_ylabel("latency per request, ms")
    left.set_title("slmesh serve: latency against concurrent clients")
    left.legend()
    right.plot(clients, [row["requests_per_s"] for row in levels], "-o")
    right.set_ylabel("requests per second")
    right.set_title("slmesh serve: throughput against concurrent clients")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_all(results: dict[str, Any], out: Path) -> list[str]:
    """Writes every chart the results have data for; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = {"latency.png": _latency}
    if any(s.get("throughput") for _, s in _measured(results)):
        charts["throughput.png"] = _throughput
    if any(s.get("lengths") for _, s in _measured(results)):
        charts["input_length.png"] = _lengths
    if results.get("concurrency", {}).get("available"):
        charts["concurrency.png"] = _concurrency
    for name, draw in charts.items():
        draw(plt, results, out / name)
    return list(charts)
