"""`python -m slmesh.training sentiment`: three-class sentiment from tweets, SST-2 and IMDB."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from slmesh.runtime import CARD_FILE, load_bundle, read_card
from slmesh.skills.sentiment import SentimentSkill
from slmesh.textnorm import NORMALIZERS
from slmesh.training import cards, export
from slmesh.training import sentiment as task
from slmesh.training.commands import runs
from slmesh.training.common import load_rows


def register(sub: Any) -> None:
    p = sub.add_parser("sentiment", help="fine-tune, export and measure the sentiment model")
    p.set_defaults(handler=run)
    runs.training_arguments(p, epochs=3.0, lr=5e-5, batch=32)
    runs.start_arguments(p)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--head", type=int, default=128)
    p.add_argument("--imdb", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--imdb-dev", type=int, default=1000)
    p.add_argument(
        "--imdb-train", type=runs.count, default=0, help="train on only N IMDB reviews (0: all but the held-out)"
    )
    p.add_argument("--sst2-train", type=runs.count, default=0, help="train on only N SST-2 sentences (0: all)")
    p.add_argument("--tweets", action=argparse.BooleanOptionalAction, default=True, help="three-class tweets")
    p.add_argument(
        "--design",
        choices=sorted(task.DESIGNS),
        default="gated",
        help="loss design for the binary rows (slmesh.training.sentiment.DESIGNS)",
    )
    p.add_argument(
        "--distill-from",
        type=Path,
        default=None,
        help="a sentiment model folder (the served one) whose pole probabilities the binary rows also learn",
    )
    p.add_argument(
        "--distill-weight", type=float, default=0.5, help="share of a binary row's target that is the teacher's"
    )
    p.add_argument(
        "--class-weighting",
        choices=["none", "balanced"],
        default="none",
        help="weights of the three-class rows' classes (slmesh.training.sentiment.class_weights)",
    )
    p.add_argument(
        "--normalize",
        choices=sorted(NORMALIZERS),
        default=task.NORMALIZE,
        help="text normalisation before tokenising, in training and as served (slmesh.textnorm)",
    )
    p.add_argument(
        "--vector-scaling",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="calibrate with a bias per class besides the temperature",
    )


def teacher(folder: Path, threads: int) -> Callable[[list[str]], np.ndarray]:
    """The positive pole's share of the two poles' calibrated probabilities, as the model in `folder` serves them."""
    skill = SentimentSkill.from_bundle(load_bundle(folder, "sentiment", threads))
    neg, pos = (skill.labels.index(name) for name in ("negative", "positive"))

    def score(texts: list[str]) -> np.ndarray:
        probs = skill.probabilities(skill.logits(texts))
        share: np.ndarray = probs[:, pos] / (probs[:, neg] + probs[:, pos])
        return share

    return score


def run(args: argparse.Namespace) -> None:
    data = task.default_data(
        args.data_dir, args.imdb, args.imdb_dev, args.seed, args.imdb_train, args.sst2_train, args.tweets
    )
    if args.train_data:
        data["train"] = [row for spec in args.train_data for row in load_rows(spec)]
    if args.limit:
        data["train"] = data["train"][: args.limit]
    # A binary export's head is widened to three classes; its card says which kind of head it has.
    folder = args.init_onnx.parent if args.init_onnx else None
    export_labels = read_card(folder)["inference"]["labels"] if folder and (folder / CARD_FILE).is_file() else None
    calibration_rows = data["tweets_dev"] or data["dev"]
    cfg = runs.config(args)
    model, tokenizer, info = runs.train_timed(
        lambda: task.train(
            cfg,
            data["train"],
            calibration_rows,
            args.design,
            args.vector_scaling,
            export_labels,
            args.max_length,
            args.head,
            teacher(args.distill_from, args.threads) if args.distill_from else None,
            args.distill_weight,
            args.class_weighting,
            args.normalize,
        )
    )
    dev_sets = {"sst2_dev": data["dev"]}
    if data["imdb_dev"]:
        dev_sets["imdb_heldout"] = data["imdb_dev"]
    if data["tweets_dev"]:
        dev_sets["tweets_dev"] = data["tweets_dev"]
    sst2_subset = f" ({args.sst2_train} drawn with seed {args.seed})" if args.sst2_train else ""
    imdb_subset = f"; the first {args.imdb_train} of the rest, seed {args.seed}" if args.imdb_train else ""
    files = args.train_data or (
        ([task.TWEETS_TRAIN] if args.tweets else [])
        + [f"sentiment/sst2/train.jsonl.gz{sst2_subset}"]
        + ([f"sentiment/imdb/train.jsonl.gz (minus {args.imdb_dev} held out{imdb_subset})"] if args.imdb else [])
    )
    card = runs.new_card(
        "sentiment", args, info, files, "Three-class sentiment (negative/neutral/positive), calibrated probabilities."
    )
    card["data"]["imdb_heldout"] = args.imdb_dev if args.imdb else 0
    card["data"]["tweets_dev"] = task.TWEETS_DEV if data["tweets_dev"] else ""
    card["data"]["calibrated_on"] = "tweets_dev" if data["tweets_dev"] else "sst2_dev"
    export_and_measure(args.out, model, tokenizer, card, dev_sets, args.seed, args.threads, "torch fp32 logits")


def export_and_measure(
    out: Path,
    model: Any,
    tokenizer: Any,
    card: dict[str, Any],
    dev_sets: dict[str, list[dict[str, Any]]],
    seed: int,
    threads: int,
    fitted_with: str,
) -> None:
    """Exports and quantises `model` into `out`, then writes its card: parity with torch, the dev metrics of both
    files, and how well the int8 file's calibration (the card's, fitted with `fitted_with`) holds on every dev set."""
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer.json"))
    sample = runs.parity_sample("sentiment", tokenizer, card["inference"], dev_sets, seed)
    runs.export_model("sentiment", model, sample, ["logits"], out)
    card["parity"] = runs.parity("sentiment", export.torch_reference(model), out, sample)
    runs.measure_run(out, "sentiment", card, dev_sets, threads)
    int8 = SentimentSkill.from_bundle(load_bundle(out, "sentiment", threads, verify=False))
    vector = "class_bias" in card["inference"]
    calibrated_on = card["data"]["calibrated_on"]
    card["calibration"] = {
        "fitted_on": f"{calibrated_on}, {fitted_with}",
        "method": "temperature + class bias" if vector else "temperature",
        "int8": task.calibration_report(int8, dev_sets, calibrated_on, vector),
    }
    cards.write_card(out, card)
