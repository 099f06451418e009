"""`python -m slmesh.training pick`: the best of several finished runs by their int8 dev metrics."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from slmesh.runtime import FP32_FILE, read_card

SELECTION: dict[str, list[tuple[str, str]]] = {
    "sentiment": [("sst2_dev", "accuracy"), ("imdb_heldout", "accuracy"), ("tweets_dev", "macro_recall")],
    "qa": [
        ("qed_nq_dev", "f1"),
        ("subjqa_dev", "f1"),
        ("subjqa_dev_unanswerable", "f1"),
        ("squadshifts_new_wiki_dev", "f1"),
    ],
    # Generated prompts saturate near 99%; the hand-written dev sets are what tracks real prompts (the *_test sets
    # and the newest long set, written blind for the next change, stay out of every choice). Short prompts saturate
    # too, so the long sets weigh as much as they do.
    "router": [
        ("router_handwritten_more", "exact_task_set_accuracy"),
        ("router_handwritten_dev2", "exact_task_set_accuracy"),
        ("router_handwritten_long", "exact_task_set_accuracy"),
        ("router_handwritten_long2", "exact_task_set_accuracy"),
        ("router_handwritten_long3", "exact_task_set_accuracy"),
    ],
}
"""Pick ranks runs by the mean of these int8 dev metrics."""


def register(sub: Any) -> None:
    p = sub.add_parser("pick", help="copy the best finished run into --out")
    p.set_defaults(handler=run)
    p.add_argument("skill", choices=sorted(SELECTION))
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)


def run(args: argparse.Namespace) -> None:
    """Prints every candidate's int8 dev metrics and copies the best into --out (fp32 export included when kept)."""
    finished: dict[Path, dict[str, Any]] = {}
    for folder in args.runs:
        if not (folder / "card.json").is_file() or "metrics" not in read_card(folder):
            print(json.dumps({"run": str(folder), "status": "no finished card"}))
            continue
        card = read_card(folder)
        print(json.dumps({"run": str(folder), "training": card["training"], "int8": card["metrics"]["int8"]}))
        finished[folder] = card["metrics"]["int8"]
    if not finished:
        raise SystemExit(f"no finished {args.skill} run among {args.runs}")
    # Runs from before a dev set existed lack its metric: rank on the ones every candidate has.
    criteria = [(n, m) for n, m in SELECTION[args.skill] if all(n in int8 for int8 in finished.values())]
    scored = [(sum(int8[n][m] for n, m in criteria) / len(criteria), folder) for folder, int8 in finished.items()]
    best_score, best = max(scored, key=lambda item: item[0])
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "tokenizer.json", "card.json", "README.md"):
        shutil.copy2(best / name, args.out / name)
    # The fp32 export travels too: parity re-checks and re-quantisation need it once the torch weights are gone.
    if (best / FP32_FILE).is_file():
        shutil.copy2(best / FP32_FILE, args.out / FP32_FILE)
    print(json.dumps({"picked": str(best), "mean_int8_dev_metric": round(best_score, 2)}))
