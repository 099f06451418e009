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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slmesh.runtime import FP32_FILE, load_bundle, read_card, sha256
from slmesh.skills.sentiment import SentimentSkill
from slmesh.training import cards, export
from slmesh.training import sentiment as task
from slmesh.training.commands import runs
from slmesh.training.common import DEFAULT_BASE, fast_tokenizer, resolve_base_model, start_from_onnx


def _weights(model: Any) -> dict[str, torch.Tensor]:
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def _weights_file(folder: Path) -> Path:
    fp32 = folder / FP32_FILE
    return fp32 if fp32.is_file() else folder / "model.onnx"


def interpolated(base: str, start: Path, finish: Path, alpha: float) -> tuple[Any, dict[str, Any]]:
    """The finish's network with (1 - alpha) of the start's weights and alpha of the finish's, and the finish's card.

    The start's head is widened to the finish's classes as a continued run widens it (`sentiment.head_adapter`).
    Each model's fp32 file is read where it kept one, else its int8 file, dequantised.
    """
    card = read_card(finish)
    design = card["training"]["design"]
    model = task.build_model(base, design, card["inference"]["labels"])
    start_from_onnx(model, _weights_file(start), task.head_adapter(design, read_card(start)["inference"]["labels"]))
    before = _weights(model)
    start_from_onnx(model, _weights_file(finish))
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_((1.0 - alpha) * before[name] + alpha * param)
    model.eval()
    return model, card


def run(args: argparse.Namespace) -> None:
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"--alpha {args.alpha}: a share between 0 and 1")
    base = resolve_base_model(args.base_model)
    model, finish_card = interpolated(base, args.start, args.finish, args.alpha)
    inference = dict(finish_card["inference"])
    tokenizer = fast_tokenizer(str(args.finish))
    dev = task.dev_sets(args.data_dir, finish_card)
    calibrated_on = finish_card["data"]["calibrated_on"]
    features = task.featurize(
        tokenizer, dev[calibrated_on], inference["max_length"], inference["head_tokens"], inference["normalize"]
    )
    logits = task.predict_logits(model, features)
    labels = np.array([f["labels"] for f in features])
    polar_only = np.array([f["polar_only"] for f in features])
    vector = args.vector_scaling or "class_bias" in inference
    fitted = task.fit_calibration(logits, labels, polar_only, vector)
    inference["temperature"] = fitted["temperature"]
    if vector:
        inference["class_bias"] = fitted["class_bias"]
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(args.out / "tokenizer.json"))
    seed = int(finish_card["training"]["seed"])
    sample = runs.parity_sample("sentiment", tokenizer, inference, dev, seed)
    runs.export_model("sentiment", model, sample, ["logits"], args.out)
    card = copy.deepcopy(finish_card)
    card["inference"] = inference
    card["soup"] = {
        "command": "python -m slmesh.research.soup " + shlex.join(args.argv),
        "alpha": args.alpha,
        **{
            end: {"path": str(_weights_file(folder)), "sha256": sha256(_weights_file(folder))}
            for end, folder in (("start", args.start), ("finish", args.finish))
        },
        "calibration_fit": fitted,
    }
    for stale in ("metrics", "parity", "calibration", "latency_ms_batch1", "quantization"):
        card.pop(stale, None)
    card["parity"] = runs.parity("sentiment", export.torch_reference(model), args.out, sample)
    runs.measure_run(args.out, "sentiment", card, dev, args.threads)
    int8 = SentimentSkill.from_bundle(load_bundle(args.out, "sentiment", args.threads, verify=False))
    card["calibration"] = {
        "fitted_on": f"{calibrated_on}, torch fp32 logits of the interpolated weights",
        "method": "temperature + class bias" if vector else "temperature",
        "int8": task.calibration_report(int8, dev, calibrated_on, vector),
    }
    cards.write_card(args.out, card)
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
        "--vector-scaling",
        action="store_true",
        help="calibrate with a bias per class besides the temperature (else as the finish was calibrated)",
    )
    return p


def main(argv: list[str] | None = None) -> None:
    raw = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(raw)
    args.argv = raw
    run(args)


if __name__ == "__main__":
    main()
