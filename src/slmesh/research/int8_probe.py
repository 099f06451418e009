"""Which matrix multiplication loses the most when quantised: the int8-sensitivity probe behind `export.KEPT_FP32`.

Dynamic int8 quantises each MatMul's input activations per call, with one scale for the whole input, so a MatMul
whose inputs hold a few large values loses resolution everywhere else; keeping it in fp32 costs 0.4 to 1.8 MB. The
probe quantises the fp32 export once with everything in int8, once with the export's setting for
the skill, and once per MatMul with weights kept in fp32, and counts how often the served skill then decides as the
fp32 file does on dev inputs.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from slmesh.runtime import FP32_FILE, load_bundle, read_card, share_threads

PROBE_FILE = "model_probe.onnx"


def _sentiment(model_dir: Path, data_dir: Path, extra: int) -> tuple[Callable[[Any], Any], Callable[[Any], list[Any]]]:
    from slmesh.skills.sentiment import SentimentSkill
    from slmesh.training.sentiment import dev_sets

    dev = dev_sets(data_dir, read_card(model_dir))
    texts = [r["text"] for r in dev["sst2_dev"] + dev.get("imdb_heldout", [])[:extra]]

    def decide(skill: SentimentSkill) -> list[Any]:
        return [r.label for i in range(0, len(texts), 32) for r in skill.predict(texts[i : i + 32])]

    return SentimentSkill.from_bundle, decide


def _qa(model_dir: Path, data_dir: Path, extra: int) -> tuple[Callable[[Any], Any], Callable[[Any], list[Any]]]:
    from slmesh.datasets_io import read_records
    from slmesh.skills.qa import QASkill
    from slmesh.training.qa import DEV_FILES

    rows = [r for name in DEV_FILES for r in read_records(data_dir / name)]
    # Every n-th question of the dev sets, n chosen to give about `extra` of them.
    pairs = [(r["question"], r["context"]) for r in rows[:: max(1, len(rows) // max(extra, 1))]]

    def decide(skill: QASkill) -> list[Any]:
        return [r.answer for i in range(0, len(pairs), 16) for r in skill.answer_batch(pairs[i : i + 16])]

    return QASkill.from_bundle, decide


def _router(model_dir: Path, data_dir: Path, extra: int) -> tuple[Callable[[Any], Any], Callable[[Any], list[Any]]]:
    from slmesh.skills.router import RouterSkill
    from slmesh.training.router_data import handwritten_sets

    # The error-analysis sets: the held-out ones take part in no choice.
    sets = handwritten_sets()
    prompts = [r["prompt"] for name in ("router_handwritten_more", "router_handwritten_dev2") for r in sets[name]]

    def decide(skill: RouterSkill) -> list[Any]:
        decisions = [d for i in range(0, len(prompts), 64) for d in skill.route_batch(prompts[i : i + 64])]
        return [(tuple(sorted(d.skills)), d.subject) for d in decisions]

    return RouterSkill.from_bundle, decide


SAMPLES = {"sentiment": _sentiment, "qa": _qa, "router": _router}


def int8_sensitivity(args: argparse.Namespace) -> None:
    """Agreement with the fp32 file when everything is int8, with the export's setting, and with each MatMul kept."""
    from slmesh.training import export

    share_threads(args.threads)
    skill_name = read_card(args.model_dir)["skill"]
    build, decide = SAMPLES[skill_name](args.model_dir, args.data_dir, args.extra)
    reference = decide(build(load_bundle(args.model_dir, skill_name, model_file=FP32_FILE, verify=False)))
    fp32 = args.model_dir / FP32_FILE
    variants: list[tuple[str, Sequence[str]]] = [("all int8", ()), ("export setting", export.KEPT_FP32[skill_name])]
    # Attention's activation-by-activation products have no weight and stay fp32 anyway.
    variants += [(name, (name,)) for name in export.weight_matmuls(fp32) if re.search(args.match, name)]
    probe = args.model_dir / PROBE_FILE
    try:
        for label, kept in variants:
            export.quantize_int8(fp32, probe, kept)
            decisions = decide(build(load_bundle(args.model_dir, skill_name, model_file=PROBE_FILE, verify=False)))
            same = sum(a == b for a, b in zip(reference, decisions, strict=True))
            row = {"kept_fp32": label, "agreement": round(100 * same / len(reference), 2), "examples": len(reference)}
            print(json.dumps({**row, "mb": round(probe.stat().st_size / 1e6, 1)}), flush=True)
    finally:
        probe.unlink(missing_ok=True)
