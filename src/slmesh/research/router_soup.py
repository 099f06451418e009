"""`python -m slmesh.research.router_soup`: a router whose every weight is the mean of several finished runs'.

    python -m slmesh.research.router_soup RUN RUN [RUN ...] --out DIR

Every router run starts from the same base encoder, its word vectors frozen (`router_model.train`), and fine-tuning
moves it only a little: averaging the weights of such runs (a uniform model soup, Wortsman et al. 2022, "Model
soups") keeps what each learnt from its generator's prompts and evens out what one run got wrong. A run kept only
as int8 (a served model) is dequantised. The mean is exported, its thresholds tuned on the last run's generated dev
prompts (`prompts/`, kept by every training run), checked against torch and measured like a training run, into a
card of its own with a `soup` section.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slmesh.datasets_io import read_records
from slmesh.research.onnx_weights import state_dict_from_onnx
from slmesh.research.soup import command, weights_file
from slmesh.runtime import read_card, sha256
from slmesh.training.commands.router import export_and_measure
from slmesh.training.common import DEFAULT_BASE, fast_tokenizer, keep_layers, resolve_base_model

SHARED = ("skills", "max_length", "context_marker")
"""The inference settings every run of a soup must share, beside its depth, base model and tokenizer: the same
network on the same inputs."""


def averaged(base: str, folders: list[Path]) -> tuple[Any, dict[str, Any]]:
    """The router network holding the mean of the runs' weights, and the last run's card."""
    from transformers import AutoModel

    from slmesh.training.router_model import ExportableRouter, RouterModel

    cards = [read_card(folder) for folder in folders]
    card = cards[-1]

    def network(c: dict[str, Any]) -> list[Any]:
        return [
            *(c["inference"].get(k) for k in SHARED),
            c["training"]["encoder_layers"],
            c["base_model"],
            c["files"]["tokenizer.json"]["sha256"],
        ]

    for folder, other in zip(folders, cards, strict=True):
        if network(other) != network(card):
            raise SystemExit(
                f"{folder} is not the network of {folders[-1]}: its skills, max_length, context marker, depth, base"
                " model or tokenizer differ"
            )
    files = [sha256(weights_file(folder)) for folder in folders]
    if len(set(files)) < len(files):
        raise SystemExit("a run is named twice: a soup averages different runs")
    encoder = AutoModel.from_pretrained(base, add_pooling_layer=False)
    keep_layers(encoder, int(card["training"]["encoder_layers"]))
    model = ExportableRouter(RouterModel(encoder, len(card["inference"]["skills"])))
    stored = [state_dict_from_onnx(weights_file(folder)) for folder in folders]
    params = dict(model.named_parameters())
    for folder, weights in zip(folders, stored, strict=True):
        wrong = sorted(set(weights) ^ set(params)) or [n for n in params if weights[n].shape != params[n].shape]
        if wrong:
            raise SystemExit(f"{folder} does not fit the router network: {wrong[:5]}")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(torch.from_numpy(np.mean([w[name] for w in stored], axis=0)))
    return model.eval(), card


def run(args: argparse.Namespace) -> None:
    if len(args.runs) < 2:
        raise SystemExit("a soup needs two runs or more")
    model, last_card = averaged(resolve_base_model(args.base_model), args.runs)
    card = copy.deepcopy(last_card)
    for stale in ("metrics", "parity", "quantization", "latency_ms_batch1", "fp32_bytes"):
        card.pop(stale, None)
    # The last run's seed regenerates these prompts, so `python -m slmesh.training card` re-measures what was tuned.
    prompts = args.runs[-1] / "prompts"
    dev_rows, test_rows = read_records(prompts / "dev.jsonl"), read_records(prompts / "test.jsonl")
    card["soup"] = {
        "command": "python -m slmesh.research.router_soup " + shlex.join(args.argv),
        "runs": [{"path": str(weights_file(f)), "sha256": sha256(weights_file(f))} for f in args.runs],
        "thresholds_tuned_on": str(prompts / "dev.jsonl"),
    }
    tokenizer = fast_tokenizer(str(args.runs[-1]))
    export_and_measure(
        args.out, model, tokenizer, card, dev_rows, test_rows, int(card["training"]["seed"]), args.threads
    )
    print(json.dumps({"soup": [str(f) for f in args.runs], "int8": card["metrics"]["int8"]}))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m slmesh.research.router_soup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", type=Path, nargs="+", help="finished router folders (fp32 file, else int8)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--base-model", default=DEFAULT_BASE, help="the architecture every run belongs to")
    p.add_argument("--threads", type=int, default=2)
    return p


def main(argv: list[str] | None = None) -> None:
    command(parser, run, argv)


if __name__ == "__main__":
    main()
