"""What every training command shares: its arguments, the card of a run, export, parity and the dev measures."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from slmesh.demo import REFERENCE_PROMPTS
from slmesh.runtime import FP32_FILE, ModelBundle, load_bundle, read_card, sha256
from slmesh.skills.qa import QASkill
from slmesh.skills.registry import measure
from slmesh.skills.router import RouterSkill
from slmesh.skills.sentiment import SentimentSkill
from slmesh.training import cards, export
from slmesh.training.common import DEFAULT_BASE, RunConfig, resolve_base_model

TORCH_REFERENCE = "torch fp32"
BUILDERS: dict[str, Callable[[ModelBundle], Any]] = {
    "sentiment": SentimentSkill.from_bundle,
    "qa": QASkill.from_bundle,
    "router": RouterSkill.from_bundle,
}
DATA_DIR = Path("../shared/data")


def count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is not a count (0 or more)")
    return value


def output_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=DATA_DIR)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=13)


def training_arguments(p: argparse.ArgumentParser, epochs: float, lr: float, batch: int) -> None:
    """The arguments of every command that fine-tunes a model, with the skill's defaults."""
    output_arguments(p)
    p.add_argument("--base-model", default=DEFAULT_BASE, help="Hugging Face id or local path")
    p.add_argument("--epochs", type=float, default=epochs)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--batch-size", type=int, default=batch)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--threads", type=int, default=4, help="ONNX Runtime threads for the dev evaluation")
    p.add_argument("--limit", type=int, default=0, help="use only N training and N dev rows (smoke runs)")


def start_arguments(p: argparse.ArgumentParser) -> None:
    """Where a sentiment or QA run starts and what it trains on, when not the base model and the shared data."""
    p.add_argument(
        "--train-data",
        action="append",
        default=[],
        help="train on this file or Hugging Face dataset name instead of the shared data (repeatable)",
    )
    p.add_argument("--layers", type=int, default=0, help="keep only the first N encoder layers (0: all)")
    p.add_argument(
        "--init-onnx",
        type=Path,
        help="start from this exported model's weights (fp32 or int8, same architecture) instead of the base",
    )


def opinion_argument(p: argparse.ArgumentParser, summary: str) -> None:
    p.add_argument("--opinion-model", type=Path, help=summary)


def config(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        base_model=resolve_base_model(args.base_model),
        out_dir=args.out,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        max_steps=args.max_steps,
        layers=getattr(args, "layers", 0),
        init_onnx=getattr(args, "init_onnx", None),
    )


def new_card(
    skill: str, args: argparse.Namespace, info: dict[str, Any], train_files: list[str], description: str
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "skill": skill,
        "description": description,
        "base_model": args.base_model,
        "data": {"dir": str(args.data_dir), "train": train_files},
        "training": {
            "command": "python -m slmesh.training " + shlex.join(sys.argv[1:]),
            "seed": args.seed,
            "learning_rate": args.lr,
            "batch_size": args.batch_size,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "seconds": info.pop("seconds"),
            **info["summary"],
        },
        "inference": info["inference"],
    }
    if getattr(args, "init_onnx", None):
        card["training"]["init_onnx"] = {"path": str(args.init_onnx), "sha256": sha256(args.init_onnx)}
    return card


def export_model(
    skill: str, model: torch.nn.Module, sample: list[dict[str, Any]], outputs: list[str], out: Path
) -> None:
    export.export_onnx(model, sample, outputs, out / FP32_FILE)
    export.quantize_int8(out / FP32_FILE, out / "model.onnx", export.KEPT_FP32[skill])


def quantization(model_dir: Path) -> dict[str, Any]:
    kept = export.weight_matmuls(model_dir / "model.onnx")
    return {"method": "dynamic int8, per-channel 7-bit weights", "kept_fp32": kept}


def parity(
    skill: str, reference: export.Reference, out: Path, sample: list[dict[str, Any]], against: str = TORCH_REFERENCE
) -> dict[str, Any]:
    checks, token_level = export.PARITY_CHECKS[skill]
    return {**export.parity(reference, out / "model.onnx", sample, checks, token_level), "reference": against}


def parity_sample(
    skill: str, tokenizer: Any, inference: dict[str, Any], dev: dict[str, list[dict[str, Any]]], seed: int
) -> list[dict[str, Any]]:
    """The dev examples the parity check compares on: the same ones at training time and on re-quantising."""
    if skill == "sentiment":
        from slmesh.training import sentiment as sentiment_task

        rows = dev["sst2_dev"][:400] + dev.get("imdb_heldout", [])[:100] + dev.get("tweets_dev", [])[:400]
        return sentiment_task.featurize(
            tokenizer, rows, inference["max_length"], inference["head_tokens"], inference.get("normalize", "none")
        )
    if skill == "qa":
        from slmesh.training import qa as qa_task

        every = [r for v in dev.values() for r in v]
        rows = every[:: max(1, len(every) // 300)]
        return qa_task.featurize(tokenizer, rows, inference["max_length"], inference["stride"], 64, 1, seed)
    from slmesh.training import router_model

    return router_model.featurize(
        tokenizer,
        dev["generated_dev"][:500],
        inference["skills"],
        inference["max_length"],
        inference.get("context_marker"),
    )


def onnx_parity(
    model_dir: Path, skill: str, seed: int, card: dict[str, Any], dev: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Parity of the int8 file against the fp32 ONNX file beside it (the torch weights are gone by now)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    sample = parity_sample(skill, tokenizer, card["inference"], dev, seed)
    reference = export.onnx_reference(model_dir / FP32_FILE)
    rebuilt = "fp32_rebuilt_from_int8" in card
    against = "onnx fp32 rebuilt from int8" if rebuilt else "onnx fp32 (torch weights not kept)"
    return parity(skill, reference, model_dir, sample, against)


def measure_run(
    out: Path, skill: str, card: dict[str, Any], dev_sets: dict[str, list[dict[str, Any]]], threads: int
) -> None:
    """Dev metrics of the fp32 and int8 files, sizes and batch-1 latency, written into the run's card."""
    card["quantization"] = quantization(out)
    cards.write_card(out, card)
    card["metrics"] = {}
    evaluate = measure(skill).evaluate
    for precision, name in (("fp32", FP32_FILE), ("int8", "model.onnx")):
        runner = BUILDERS[skill](load_bundle(out, skill, threads, name, verify=False))
        card["metrics"][precision] = {k: evaluate(runner, rows) for k, rows in dev_sets.items()}
        print(precision, json.dumps(card["metrics"][precision]), flush=True)
    card["fp32_bytes"] = (out / FP32_FILE).stat().st_size
    card["latency_ms_batch1"] = cards.batch1_latency_ms(out, skill, REFERENCE_PROMPTS[0])
    cards.write_card(out, card)


def train_timed(fn: Callable[[], tuple[Any, Any, dict[str, Any]]]) -> tuple[Any, Any, dict[str, Any]]:
    started = time.time()
    model, tokenizer, info = fn()
    info["seconds"] = round(time.time() - started, 1)
    return model, tokenizer, info


def dev_sets(
    skill: str, data_dir: Path, seed: int, model_dir: Path, opinion_model: Path | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The dev sets a finished model's card was measured on, rebuilt from the shared data (and its card)."""
    from slmesh.datasets_io import read_records

    if skill == "sentiment":
        from slmesh.training import sentiment as task

        return task.dev_sets(data_dir, read_card(model_dir))
    if skill == "qa":
        from slmesh.training import qa as qa_task

        return qa_task.dev_sets(data_dir, wiki_dev=qa_task.holds_out_wiki_dev(read_card(model_dir)))
    import tempfile

    from slmesh.training import router_data

    # The same seed regenerates exactly the prompts the model was tuned and tested on.
    out = Path(tempfile.mkdtemp(prefix="slmesh-router-prompts-"))
    opinions = read_card(model_dir)["data"].get("opinion_model")
    opinion_model = (opinion_model or Path(opinions["path"])) if opinions else None
    if opinion_model and sha256(opinion_model / "model.onnx") != opinions["sha256"]:
        raise SystemExit(
            f"{opinion_model} is not the sentiment model this router's prompts were drawn with (sha256 "
            f"{opinions['sha256']}); check out that model.onnx from git history and pass its folder as --opinion-model"
        )
    sizes = {"train": 0, "dev": 2000, "test": 2000}
    paths = router_data.write_splits(data_dir, out, seed, sizes, opinion_model)
    return {
        "generated_dev": read_records(paths["dev"]),
        "generated_test_unseen_phrasings": read_records(paths["test"]),
        **router_data.handwritten_sets(),
    }


def existing_model_arguments(p: argparse.ArgumentParser, skills: list[str]) -> None:
    """The arguments of the commands that re-measure or re-export a finished model folder."""
    p.add_argument("skill", choices=skills)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, default=DATA_DIR)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    opinion_argument(p, "router only: where the sentiment model that drew its prompts is now (sha256 as in the card)")
