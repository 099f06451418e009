"""`python -m slmesh.training card`: re-measure a finished model on this machine and rewrite its card."""

from __future__ import annotations

import argparse
import json
from typing import Any

from slmesh.demo import REFERENCE_PROMPTS
from slmesh.runtime import FP32_FILE, load_bundle, read_card
from slmesh.skills.qa import QASkill
from slmesh.skills.registry import measure
from slmesh.training import cards
from slmesh.training.commands import runs


def register(sub: Any) -> None:
    p = sub.add_parser("card", help="re-measure a model's dev metrics (int8, and fp32 when kept) on this machine")
    p.set_defaults(handler=run)
    runs.existing_model_arguments(p, sorted(runs.BUILDERS))
    p.add_argument("--tune-null-threshold", action="store_true", help="qa only")


def run(args: argparse.Namespace) -> None:
    """Re-measures a model's dev metrics (int8, and fp32 when its file is here: then parity against it too, unless
    the card's parity is against the torch weights) and latency, and rewrites its card.

    With --tune-null-threshold the QA threshold is tuned on the int8 model (for runs whose fp32 file is gone).
    """
    card: dict[str, Any] = read_card(args.model_dir)
    dev_sets = runs.dev_sets(args.skill, args.data_dir, args.seed, args.model_dir, args.opinion_model)
    if args.tune_null_threshold:
        from slmesh.training import qa as task

        card["inference"]["null_threshold"] = -1e9
        cards.write_card(args.model_dir, card)
        skill = QASkill.from_bundle(load_bundle(args.model_dir, "qa", args.threads, verify=False))
        card["inference"]["null_threshold"] = task.tune_null_threshold(skill, [r for v in dev_sets.values() for r in v])
        card["inference_tuned_on"] = "int8"
        cards.write_card(args.model_dir, card)
    evaluate = measure(args.skill).evaluate
    # fp32 files stay out of git: without one, the fp32 metrics and parity measured with it stay as they are.
    for precision, name in (("fp32", FP32_FILE), ("int8", "model.onnx")):
        if (args.model_dir / name).is_file():
            bundle = load_bundle(args.model_dir, args.skill, args.threads, name, verify=False)
            runner = runs.BUILDERS[args.skill](bundle)
            card.setdefault("metrics", {})[precision] = {k: evaluate(runner, rows) for k, rows in dev_sets.items()}
    # Parity against the torch weights, measured at training time, is the better reference: it is kept.
    if (args.model_dir / FP32_FILE).is_file() and card.get("parity", {}).get("reference") != runs.TORCH_REFERENCE:
        card["parity"] = runs.onnx_parity(args.model_dir, args.skill, args.seed, card, dev_sets)
    card["latency_ms_batch1"] = cards.batch1_latency_ms(args.model_dir, args.skill, REFERENCE_PROMPTS[0])
    cards.write_card(args.model_dir, card)
    print(json.dumps({"metrics": card["metrics"], "parity": card.get("parity")}))
