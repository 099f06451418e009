"""`python -m slmesh.training qa`: extractive QA with a tuned no-answer threshold."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from slmesh.runtime import CARD_FILE, FP32_FILE, load_bundle, read_card
from slmesh.skills.qa import QASkill
from slmesh.training import cards, export
from slmesh.training.commands import runs
from slmesh.training.common import load_rows


def register(sub: Any) -> None:
    p = sub.add_parser("qa", help="fine-tune, export and measure the extractive QA model")
    p.set_defaults(handler=run)
    runs.training_arguments(p, epochs=3.0, lr=1e-4, batch=32)
    runs.start_arguments(p)
    p.add_argument("--max-length", type=int, default=384)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument(
        "--same-topic-negatives",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="give this share of answerable training questions an unanswerable twin: the best-matching passage of"
        " the same title that lacks the answer (default 0: none)",
    )
    p.add_argument(
        "--related-negatives",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="give this share of answerable training questions an unanswerable twin whose answering sentence tells"
        " of a related thing ('a spare part for the X costs ...') (default 0: none)",
    )


def _starts_without_wiki_dev(init_onnx: Path | None) -> bool:
    """Whether a QA run starts from weights that never saw the Wikipedia dev articles (a cardless export might have)."""
    from slmesh.training import qa as task

    folder = init_onnx.parent if init_onnx else None
    return folder is None or ((folder / CARD_FILE).is_file() and task.holds_out_wiki_dev(read_card(folder)))


def run(args: argparse.Namespace) -> None:
    from slmesh.training import qa as task

    rows = (
        [row for spec in args.train_data for row in load_rows(spec)]
        if args.train_data
        else task.default_rows(
            args.data_dir, task.TRAIN_FILES, args.same_topic_negatives, args.seed, args.related_negatives
        )
    )
    if args.limit:
        rows = rows[: args.limit]
    held_out = [task.WIKI_DEV] if not args.train_data and _starts_without_wiki_dev(args.init_onnx) else []
    dev_sets = task.dev_sets(args.data_dir, wiki_dev=bool(held_out))
    if args.limit:
        dev_sets = {k: v[: args.limit] for k, v in dev_sets.items()}
    cfg = runs.config(args)
    model, tokenizer, info = runs.train_timed(lambda: task.train(cfg, rows, args.max_length, args.stride))
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(args.out / "tokenizer.json"))
    dev_all = [r for v in dev_sets.values() for r in v]
    inference = {"max_length": args.max_length, "stride": args.stride}
    sample = runs.parity_sample("qa", tokenizer, inference, dev_sets, args.seed)
    runs.export_model("qa", model, sample, ["start_logits", "end_logits"], args.out)
    card = runs.new_card(
        "qa",
        args,
        info,
        args.train_data or [f"{n} (minus {task.WIKI_DEV})" if n == task.WIKI_FILE else n for n in task.TRAIN_FILES],
        "Extractive QA with a doc stride and a tuned no-answer threshold.",
    )
    card["data"]["held_out"] = held_out
    card["inference"]["null_threshold"] = -1e9
    cards.write_card(args.out, card)
    fp32 = QASkill.from_bundle(load_bundle(args.out, "qa", args.threads, FP32_FILE, verify=False))
    card["inference"]["null_threshold"] = task.tune_null_threshold(fp32, dev_all)
    card["parity"] = runs.parity("qa", export.torch_reference(model), args.out, sample)
    runs.measure_run(args.out, "qa", card, dev_sets, args.threads)
