"""Model cards: the JSON the runtime reads (inference settings) plus everything measured about the model."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from slmesh.bench.machine import cpu_model
from slmesh.runtime import CARD_FILE, MODEL_FILE, load_bundle, pool_size, sha256


def batch1_latency_ms(model_dir: Path, skill: str, text: str, runs: int = 50) -> dict[str, Any]:
    """Median and p95 of one ONNX call at batch 1 on this machine (one thread unless the process shares a pool)."""
    bundle = load_bundle(model_dir, skill, threads=1, verify=False)
    ids = bundle.tokenizer.encode(text).ids
    import numpy as np

    feeds = {
        "input_ids": np.array([ids], dtype=np.int64),
        "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
        "token_type_ids": np.zeros((1, len(ids)), dtype=np.int64),
    }
    for _ in range(5):
        bundle.run(feeds)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        bundle.run(feeds)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "tokens": len(ids),
        "p50": round(statistics.median(times), 3),
        "p95": round(times[int(0.95 * (len(times) - 1))], 3),
        "threads": pool_size() or 1,
        "cpu": cpu_model(),
    }


def write_card(model_dir: Path, card: dict[str, Any]) -> None:
    model = model_dir / MODEL_FILE
    card["files"] = {
        MODEL_FILE: {"bytes": model.stat().st_size, "sha256": sha256(model)},
        "tokenizer.json": {"sha256": sha256(model_dir / "tokenizer.json")},
    }
    (model_dir / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (model_dir / "README.md").write_text(render_markdown(card))


def _table(metrics: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    lines = ["| data set | precision | metric | value |", "|---|---|---|---|"]
    for precision, sets in metrics.items():
        for name, values in sets.items():
            for key, value in values.items():
                if key not in ("examples", "seconds"):
                    lines.append(f"| {name} ({values.get('examples', '?')}) | {precision} | {key} | {value} |")
    return lines


def _calibration_table(calibration: dict[str, Any]) -> list[str]:
    lines = [
        f"Fitted on {calibration['fitted_on']} ({calibration['method']}); NLL and expected calibration error (ECE,"
        " points, 10 bins) of the int8 model as served. `cross_fitted`: refitted on half of that set and scored on"
        " the other half. Binary sets: the two poles' probabilities, renormalised.",
        "",
        "| data set | scores | NLL | ECE |",
        "|---|---|---|---|",
    ]
    for name, measured in calibration["int8"].items():
        for kind, values in measured.items():
            if kind != "examples":
                lines.append(f"| {name} ({measured['examples']}) | {kind} | {values['nll']} | {values['ece']} |")
    return lines


def _soup_runs(soup: dict[str, Any]) -> list[dict[str, str]]:
    """The files a soup mixed: a router soup's runs, or a sentiment soup's start and finish."""
    return soup.get("runs") or [soup["start"], soup["finish"]]


def render_markdown(card: dict[str, Any]) -> str:
    training = card.get("training", {})
    files = card.get("files", {}).get(MODEL_FILE, {})
    lines = [
        f"# slmesh {card['skill']} model",
        "",
        card.get("description", ""),
        "",
        f"- Base model: `{card.get('base_model')}`",
        f"- Data: {', '.join(card.get('data', {}).get('train', [])) or 'none (not fine-tuned)'}",
        *(
            [
                f"- Weight soup: `{soup['command']}`, of "
                + ", ".join(f"`{r['path']}` (sha256 `{r['sha256']}`)" for r in _soup_runs(soup))
                + "; the training below is the last run's"
            ]
            if (soup := card.get("soup"))
            else []
        ),
        f"- Training command: `{training.get('command', '')}`",
        *(
            [f"- Continued from `{init['path']}` (sha256 `{init['sha256']}`), not from the base model"]
            if (init := training.get("init_onnx"))
            else []
        ),
        *(
            [f"- Seed {training.get('seed')}, {training.get('steps')} steps, device {training.get('device')}"]
            if training.get("fine_tuned", True)
            else []
        ),
        *([f"- Loss design: `{training['design']}`"] if "design" in training else []),
        f"- int8 file: {files.get('bytes', 0) / 1e6:.1f} MB, sha256 `{files.get('sha256', '')}`",
        f"- fp32 file: {card['fp32_bytes'] / 1e6:.1f} MB" if "fp32_bytes" in card else "- fp32 file: not kept",
        f"- Quantisation: {json.dumps(card['quantization']) if 'quantization' in card else 'not recorded'}",
        f"- Parity (fp32 vs int8, same decision): {json.dumps(card.get('parity', {}))}",
        f"- Latency at batch 1: {json.dumps(card.get('latency_ms_batch1', {}))}",
        "",
        "## Dev metrics (measured with the same code as `slmesh eval`)",
        "",
        *_table(card.get("metrics", {})),
        "",
        *(["## Calibration", "", *_calibration_table(card["calibration"]), ""] if "calibration" in card else []),
        *(["## Notes", "", *(f"- {note}" for note in card["notes"]), ""] if card.get("notes") else []),
        "## Inference settings",
        "",
        "```json",
        json.dumps(card.get("inference", {}), indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)
