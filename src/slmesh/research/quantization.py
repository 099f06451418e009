"""`python -m slmesh.research.quantization`: re-quantise a finished model, or rebuild its lost fp32 file.

requantize SKILL --model-dir DIR     quantise the kept model_fp32.onnx again with the current export settings
rebuild-fp32 SKILL --model-dir DIR   write model_fp32.onnx from the int8 file's weights, dequantised
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slmesh.runtime import FP32_FILE, read_card, sha256
from slmesh.training import cards, export
from slmesh.training.commands import runs
from slmesh.training.common import DEFAULT_BASE, resolve_base_model


def requantize(args: argparse.Namespace) -> None:
    """Quantises the kept fp32 ONNX file again with the current settings and re-checks parity against it."""
    card = read_card(args.model_dir)
    export.quantize_int8(args.model_dir / FP32_FILE, args.model_dir / "model.onnx", export.KEPT_FP32[args.skill])
    card["quantization"] = runs.quantization(args.model_dir)
    dev = runs.dev_sets(args.skill, args.data_dir, args.seed, args.model_dir, args.opinion_model)
    card["parity"] = runs.onnx_parity(args.model_dir, args.skill, args.seed, card, dev)
    cards.write_card(args.model_dir, card)
    print(json.dumps(card["parity"]))


def rebuild_fp32(args: argparse.Namespace) -> None:
    """Writes model_fp32.onnx from the int8 file's weights, dequantised, for a model whose trained fp32 file was lost.

    Its decisions differ from the int8 file's only by activation quantisation, so `requantize` can then re-quantise
    the model with the current settings and the card can show fp32 metrics and parity again.
    """
    from transformers import AutoModelForQuestionAnswering

    from slmesh.training.common import start_from_onnx

    if (args.model_dir / FP32_FILE).exists() and not args.force:
        raise SystemExit(f"{args.model_dir / FP32_FILE} exists (a trained one is better than a rebuilt one); --force")
    card = read_card(args.model_dir)
    base = resolve_base_model(args.base_model)
    if args.skill == "sentiment":
        from slmesh.training import sentiment as task

        model = task.build_model(base, card["training"].get("design"), card["inference"]["labels"])
        outputs = ["logits"]
    else:
        model = AutoModelForQuestionAnswering.from_pretrained(base)
        outputs = ["start_logits", "end_logits"]
    int8 = args.model_dir / "model.onnx"
    start_from_onnx(model, int8)
    # Tracing needs inputs of the right kind only; ids 0-2 exist in every vocabulary.
    sample = [{"input_ids": [0, 1, 2], "attention_mask": [1, 1, 1], "token_type_ids": [0, 0, 0]}] * 2
    export.export_onnx(model, sample, outputs, args.model_dir / FP32_FILE)
    card["fp32_rebuilt_from_int8"] = {"sha256": sha256(int8), "bytes": int8.stat().st_size}
    card["fp32_bytes"] = (args.model_dir / FP32_FILE).stat().st_size
    cards.write_card(args.model_dir, card)
    print(json.dumps({"fp32": str(args.model_dir / FP32_FILE), **card["fp32_rebuilt_from_int8"]}))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m slmesh.research.quantization",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = root.add_subparsers(dest="command", required=True)
    again = sub.add_parser("requantize", help="re-quantise model_fp32.onnx and re-check parity")
    again.set_defaults(handler=requantize)
    runs.existing_model_arguments(again, sorted(runs.BUILDERS))
    rebuild = sub.add_parser("rebuild-fp32", help="rebuild a lost model_fp32.onnx from the int8 weights")
    rebuild.set_defaults(handler=rebuild_fp32)
    rebuild.add_argument("skill", choices=["sentiment", "qa"])
    rebuild.add_argument("--model-dir", type=Path, required=True)
    rebuild.add_argument("--base-model", default=DEFAULT_BASE, help="the architecture the weights belong to")
    rebuild.add_argument("--force", action="store_true", help="replace an existing model_fp32.onnx")
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
