"""`python -m slmesh.research.soup`: a sentiment model whose weights lie between two exports of the same network.

    python -m slmesh.research.soup --start models/sentiment --finish RUN --alpha 0.5 --out DIR

Fine-tuning the served binary model on three-class tweets moves it away from what it knew of SST-2 and IMDB.
Interpolating the weights, (1 - alpha) * start + alpha * finish (Wortsman et al. 2022, "Robust fine-tuning of
zero-shot models", WiSE-FT), keeps part of both when the finish was trained from the start: alpha 0 is the start
model with its head widened (a binary start's neutral logit, or gate, at zero), alpha 1 the finished run. The result
is calibrated on the finish's calibration set, exported, quantised and measured like a training run, into a card of
its own. Mixing shrinks the neutral logit towards the start's zero, so a bias per class (`--vector-scaling`) may be
fitted on that set too.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from slmesh.runtime import FP32_FILE, read_card, sha256
from slmesh.training import sentiment as task
from slmesh.training.commands import runs
from slmesh.training.commands.sentiment import export_and_measure
from slmesh.training.common import DEFAULT_BASE, fast_tokenizer, resolve_base_model, start_from_onnx


def _weights(model: Any) -> dict[str, torch.Tensor]:
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def weights_file(folder: Path) -> Path:
    """A model folder's fp32 export where it kept one, else its int8 file."""
    fp32 = folder / FP32_FILE
    return fp32 if fp32.is_file() else folder / "model.onnx"


def _neutral_row(design: str, labels: list[str]) -> int:
    return 0 if task.DESIGNS[design].gated else labels.index("neutral")


def interpolated(
    base: str, start: Path, finish: Path, alpha: float, neutral_from_finish: bool = False
) -> tuple[Any, dict[str, Any]]:
    """The finish's network with (1 - alpha) of the start's weights and alpha of the finish's, and the finish's card.

    The start's head is widened to the finish's classes as a continued run widens it (`sentiment.head_adapter`).
    Each model's fp32 file is read where it kept one, else its int8 file, dequantised. With `neutral_from_finish`
    the head's neutral row (the gated head's gate) keeps the finish's value: a binary start has none to give, and
    mixing it with that zero only shrinks the neutral logit.
    """
    card = read_card(finish)
    design = card["training"]["design"]
    model = task.build_model(base, design, card["inference"]["labels"])
    start_from_onnx(model, weights_file(start), task.head_adapter(design, read_card(start)["inference"]["labels"]))
    before = _weights(model)
    start_from_onnx(model, weights_file(finish))
    with torch.no_grad():
        for name, param in model.named_parameters():
            mixed = (1.0 - alpha) * before[name] + alpha * param
            if neutral_from_finish and name.startswith("classifier."):
                row = _neutral_row(design, card["inference"]["labels"])
                mixed[row] = param[row]
            param.copy_(mixed)
    model.eval()
    return model, card


def run(args: argparse.Namespace) -> None:
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"--alpha {args.alpha}: a share between 0 and 1")
    model, finish_card = interpolated(
        resolve_base_model(args.base_model), args.start, args.finish, args.alpha, args.neutral_from_finish
    )
    card = copy.deepcopy(finish_card)
    for stale in ("metrics", "parity", "calibration", "latency_ms_batch1", "quantization"):
        card.pop(stale, None)
    inference = card["inference"]
    tokenizer = fast_tokenizer(str(args.finish))
    dev = task.dev_sets(args.data_dir, card)
    vector = args.vector_scaling or "class_bias" in inference
    rows = dev[card["data"]["calibrated_on"]]
    fits = task.calibration_fits(
        model, tokenizer, rows, inference["max_length"], inference["head_tokens"], inference["normalize"]
    )
    fitted = fits["vector" if vector else "temperature"]
    inference["temperature"] = fitted["temperature"]
    inference.pop("class_bias", None)
    if vector:
        inference["class_bias"] = fitted["class_bias"]
    card["soup"] = {
        "command": "python -m slmesh.research.soup " + shlex.join(args.argv),
        "alpha": args.alpha,
        "neutral_from_finish": args.neutral_from_finish,
        **{
            end: {"path": str(weights_file(folder)), "sha256": sha256(weights_file(folder))}
            for end, folder in (("start", args.start), ("finish", args.finish))
        },
        "calibration_fit": fitted,
    }
    seed = int(card["training"]["seed"])
    fitted_with = "torch fp32 logits of the interpolated weights"
    export_and_measure(args.out, model, tokenizer, card, dev, seed, args.threads, fitted_with)
    print(json.dumps({"alpha": args.alpha, "int8": card["metrics"]["int8"]}))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m slmesh.research.soup", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--start", type=Path, required=True, help="the model the finish was trained from (its folder)")
    p.add_argument("--finish", type=Path, required=True, help="a sentiment run's folder")
    p.add_argument("--alpha", type=float, required=True, help="the finish's share of every weight")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, default=runs.DATA_DIR)
    p.add_argument("--base-model", default=DEFAULT_BASE, help="the architecture both exports belong to")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--neutral-from-finish",
        action="store_true",
        help="keep the head's neutral row (the gated head's gate) at the finish's value instead of mixing it",
    )
    p.add_argument(
        "--vector-scaling",
        action="store_true",
        help="calibrate with a bias per class besides the temperature (else as the finish was calibrated)",
    )
    return p


def command(
    parse: Callable[[], argparse.ArgumentParser], run: Callable[[argparse.Namespace], None], argv: list[str] | None
) -> None:
    """Runs a soup command, its raw arguments kept (`args.argv`) for the card's record of it."""
    raw = sys.argv[1:] if argv is None else argv
    args = parse().parse_args(raw)
    args.argv = raw
    run(args)


def main(argv: list[str] | None = None) -> None:
    command(parser, run, argv)


if __name__ == "__main__":
    main()
