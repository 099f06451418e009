"""`python -m slmesh.training router` (generate prompts, fine-tune, tune thresholds, export) and `router-data`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from slmesh.evaluation.metrics import attached
from slmesh.runtime import FP32_FILE, load_bundle, sha256
from slmesh.skills.router import RouterSkill
from slmesh.training import cards, export
from slmesh.training.commands import runs

CONTEXT_MARKER = "attached text"
"""The second segment after a prompt sent with a context (`RouterSettings.context_marker`)."""
OPINIONS = "sentiment model folder that picks review sentences as extra opinions (e.g. models/sentiment)"


def register(sub: Any) -> None:
    p = sub.add_parser("router", help="generate prompts, fine-tune, export and measure the router")
    p.set_defaults(handler=run)
    runs.training_arguments(p, epochs=2.0, lr=1e-4, batch=32)
    runs.opinion_argument(p, OPINIONS)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--prompts", type=int, default=24000)
    data = sub.add_parser("router-data", help="write the router's generated train/dev/test prompts only")
    data.set_defaults(handler=prompts)
    runs.output_arguments(data)
    runs.opinion_argument(data, OPINIONS)
    data.add_argument("--prompts", type=int, default=24000)


def _tune(out: Path, rows: list[dict[str, Any]], threads: int) -> dict[str, float]:
    """Per-skill thresholds with the best F1 on generated dev prompts (ties: the one nearest 0.5)."""
    skill = RouterSkill.from_bundle(load_bundle(out, "router", threads, FP32_FILE, verify=False))
    decisions = [
        d
        for i in range(0, len(rows), 64)
        for d in skill.route_batch([r["prompt"] for r in rows[i : i + 64]], [attached(r) for r in rows[i : i + 64]])
    ]
    thresholds = {}
    for name in skill.skills:
        pairs = [(d.scores[name], name in r["tasks"]) for d, r in zip(decisions, rows, strict=True)]
        best_t, best_f1 = 0.5, -1.0
        for step in range(5, 96):
            t = step / 100
            tp = sum(p >= t and y for p, y in pairs)
            fp = sum(p >= t and not y for p, y in pairs)
            fn = sum(p < t and y for p, y in pairs)
            f1 = 2 * tp / max(2 * tp + fp + fn, 1)
            if f1 > best_f1 + 1e-9 or (abs(f1 - best_f1) <= 1e-9 and abs(t - 0.5) < abs(best_t - 0.5)):
                best_t, best_f1 = t, f1
        thresholds[name] = best_t
    return thresholds


def run(args: argparse.Namespace) -> None:
    from slmesh.datasets_io import read_records
    from slmesh.training import router_data, router_model

    held = args.limit or 2000
    sizes = {"train": args.limit or args.prompts, "dev": held, "test": held}
    paths = router_data.write_splits(args.data_dir, args.out / "prompts", args.seed, sizes, args.opinion_model)
    train_rows, dev_rows, test_rows = (read_records(paths[s]) for s in ("train", "dev", "test"))
    # Read when the splits are written, not after training: a file added to the folder during a run is not in it.
    written = {
        "prompts": len(router_data.written_examples()),
        "copies": router_data.WRITTEN_REPEAT,
        "files": {path.name: {"sha256": sha256(path)} for path in sorted(router_data.WRITTEN_DIR.glob("*.jsonl"))},
    }
    skills = list(router_data.TASK_ORDER)
    cfg = runs.config(args)
    model, tokenizer, info = runs.train_timed(
        lambda: router_model.train(cfg, train_rows, skills, args.layers, args.max_length, CONTEXT_MARKER)
    )
    card = runs.new_card(
        "router",
        args,
        info,
        [
            "generated prompts: python -m slmesh.training router-data (subjects from sst2, qa questions and"
            " passages, clinc150; instructions from templates and router_phrasings.json)",
            f"written prompts: training/written/*.jsonl, {router_data.WRITTEN_REPEAT} copies each",
        ],
        "Multi-label skill router with a subject tagger.",
    )
    card["data"]["written_prompts"] = written
    if args.opinion_model:
        card["data"]["opinion_model"] = {
            "path": str(args.opinion_model),
            "sha256": sha256(args.opinion_model / "model.onnx"),
            "review_sentences_from": [f"qa/{name}/train.jsonl.gz" for name in router_data.REVIEW_FILES],
        }
    export_and_measure(args.out, model, tokenizer, card, dev_rows, test_rows, args.seed, args.threads)


def export_and_measure(
    out: Path,
    model: Any,
    tokenizer: Any,
    card: dict[str, Any],
    dev_rows: list[dict[str, Any]],
    test_rows: list[dict[str, Any]],
    seed: int,
    threads: int,
) -> None:
    """Exports `model` (an `ExportableRouter`) into `out` with `card`, tunes the thresholds on `dev_rows`, checks
    int8 against torch and measures every set: the tail of a training run, and of a soup of runs."""
    from slmesh.training import router_data

    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer.json"))
    inference = card["inference"]
    sample = runs.parity_sample("router", tokenizer, inference, {"generated_dev": dev_rows}, seed)
    runs.export_model("router", model, sample, ["skill_logits", "subject_logits", "target_logits"], out)
    inference["thresholds"] = {s: 0.5 for s in inference["skills"]}
    cards.write_card(out, card)
    inference["thresholds"] = _tune(out, dev_rows, threads)
    card["parity"] = runs.parity("router", export.torch_reference(model), out, sample)
    sets = {"generated_dev": dev_rows, "generated_test_unseen_phrasings": test_rows, **router_data.handwritten_sets()}
    runs.measure_run(out, "router", card, sets, threads)


def prompts(args: argparse.Namespace) -> None:
    from slmesh.training import router_data

    paths = router_data.write_splits(
        args.data_dir, args.out, args.seed, {"train": args.prompts, "dev": 2000, "test": 2000}, args.opinion_model
    )
    print(json.dumps({k: str(v) for k, v in paths.items()}))
