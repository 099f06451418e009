"""`python -m slmesh.training SKILL ...`: fine-tune, export, quantise, evaluate and write the model card."""

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
from slmesh.runtime import CARD_FILE, FP32_FILE, ModelBundle, load_bundle, read_card, sha256
from slmesh.skills.qa import QASkill
from slmesh.skills.registry import measure
from slmesh.skills.router import RouterSkill
from slmesh.skills.sentiment import SentimentSkill
from slmesh.training import cards, export
from slmesh.training.common import DEFAULT_BASE, RunConfig, load_rows, resolve_base_model
from slmesh.training.sentiment import DESIGNS

TORCH_REFERENCE = "torch fp32"
BUILDERS: dict[str, Callable[[ModelBundle], Any]] = {
    "sentiment": SentimentSkill.from_bundle,
    "qa": QASkill.from_bundle,
    "router": RouterSkill.from_bundle,
}


def _config(args: argparse.Namespace) -> RunConfig:
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


def _card(
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


def _export(skill: str, model: torch.nn.Module, sample: list[dict[str, Any]], outputs: list[str], out: Path) -> None:
    export.export_onnx(model, sample, outputs, out / FP32_FILE)
    export.quantize_int8(out / FP32_FILE, out / "model.onnx", export.KEPT_FP32[skill])


def _quantization(model_dir: Path) -> dict[str, Any]:
    kept = export.weight_matmuls(model_dir / "model.onnx")
    return {"method": "dynamic int8, per-channel 7-bit weights", "kept_fp32": kept}


def _parity(
    skill: str, reference: export.Reference, out: Path, sample: list[dict[str, Any]], against: str = TORCH_REFERENCE
) -> dict[str, Any]:
    checks, token_level = export.PARITY_CHECKS[skill]
    return {**export.parity(reference, out / "model.onnx", sample, checks, token_level), "reference": against}


def _parity_sample(
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

    return router_model.featurize(tokenizer, dev["generated_dev"][:500], inference["skills"], inference["max_length"])


def _measure(
    out: Path, skill: str, card: dict[str, Any], dev_sets: dict[str, list[dict[str, Any]]], threads: int
) -> None:
    card["quantization"] = _quantization(out)
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


def _train_timed(fn: Callable[[], tuple[Any, Any, dict[str, Any]]]) -> tuple[Any, Any, dict[str, Any]]:
    started = time.time()
    model, tokenizer, info = fn()
    info["seconds"] = round(time.time() - started, 1)
    return model, tokenizer, info


def sentiment(args: argparse.Namespace) -> None:
    from slmesh.training import sentiment as task

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
    cfg = _config(args)
    model, tokenizer, info = _train_timed(
        lambda: task.train(
            cfg,
            data["train"],
            calibration_rows,
            args.design,
            args.vector_scaling,
            export_labels,
            args.max_length,
            args.head,
        )
    )
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(args.out / "tokenizer.json"))
    dev_sets = {"sst2_dev": data["dev"]}
    if data["imdb_dev"]:
        dev_sets["imdb_heldout"] = data["imdb_dev"]
    if data["tweets_dev"]:
        dev_sets["tweets_dev"] = data["tweets_dev"]
    sample = _parity_sample("sentiment", tokenizer, info["inference"], dev_sets, args.seed)
    _export("sentiment", model, sample, ["logits"], args.out)
    sst2_subset = f" ({args.sst2_train} drawn with seed {args.seed})" if args.sst2_train else ""
    imdb_subset = f"; the first {args.imdb_train} of the rest, seed {args.seed}" if args.imdb_train else ""
    files = args.train_data or (
        ([task.TWEETS_TRAIN] if args.tweets else [])
        + [f"sentiment/sst2/train.jsonl.gz{sst2_subset}"]
        + ([f"sentiment/imdb/train.jsonl.gz (minus {args.imdb_dev} held out{imdb_subset})"] if args.imdb else [])
    )
    card = _card(
        "sentiment", args, info, files, "Three-class sentiment (negative/neutral/positive), calibrated probabilities."
    )
    card["data"]["imdb_heldout"] = args.imdb_dev if args.imdb else 0
    card["data"]["tweets_dev"] = task.TWEETS_DEV if data["tweets_dev"] else ""
    card["data"]["calibrated_on"] = "tweets_dev" if data["tweets_dev"] else "sst2_dev"
    card["parity"] = _parity("sentiment", export.torch_reference(model), args.out, sample)
    _measure(args.out, "sentiment", card, dev_sets, args.threads)
    int8 = SentimentSkill.from_bundle(load_bundle(args.out, "sentiment", args.threads, verify=False))
    card["calibration"] = {
        "fitted_on": f"{card['data']['calibrated_on']}, torch fp32 logits",
        "method": "temperature + class bias" if args.vector_scaling else "temperature",
        "int8": task.calibration_report(int8, dev_sets, card["data"]["calibrated_on"], args.vector_scaling),
    }
    cards.write_card(args.out, card)


def _starts_without_wiki_dev(init_onnx: Path | None) -> bool:
    """Whether a QA run starts from weights that never saw the Wikipedia dev articles (a cardless export might have)."""
    from slmesh.training import qa as task

    folder = init_onnx.parent if init_onnx else None
    return folder is None or ((folder / CARD_FILE).is_file() and task.holds_out_wiki_dev(read_card(folder)))


def qa(args: argparse.Namespace) -> None:
    from slmesh.training import qa as task

    rows = (
        [row for spec in args.train_data for row in load_rows(spec)]
        if args.train_data
        else task.default_rows(args.data_dir, task.TRAIN_FILES)
    )
    if args.limit:
        rows = rows[: args.limit]
    held_out = [task.WIKI_DEV] if not args.train_data and _starts_without_wiki_dev(args.init_onnx) else []
    dev_sets = task.dev_sets(args.data_dir, wiki_dev=bool(held_out))
    if args.limit:
        dev_sets = {k: v[: args.limit] for k, v in dev_sets.items()}
    cfg = _config(args)
    model, tokenizer, info = _train_timed(lambda: task.train(cfg, rows, args.max_length, args.stride))
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(args.out / "tokenizer.json"))
    dev_all = [r for v in dev_sets.values() for r in v]
    inference = {"max_length": args.max_length, "stride": args.stride}
    sample = _parity_sample("qa", tokenizer, inference, dev_sets, args.seed)
    _export("qa", model, sample, ["start_logits", "end_logits"], args.out)
    card = _card(
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
    card["parity"] = _parity("qa", export.torch_reference(model), args.out, sample)
    _measure(args.out, "qa", card, dev_sets, args.threads)


def _tune_router(out: Path, rows: list[dict[str, Any]], threads: int) -> dict[str, float]:
    skill = RouterSkill.from_bundle(load_bundle(out, "router", threads, FP32_FILE, verify=False))
    decisions = [d for i in range(0, len(rows), 64) for d in skill.route_batch([r["prompt"] for r in rows[i : i + 64]])]
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


def router(args: argparse.Namespace) -> None:
    from slmesh.datasets_io import read_records
    from slmesh.training import router_data, router_model

    held = args.limit or 2000
    sizes = {"train": args.limit or args.prompts, "dev": held, "test": held}
    paths = router_data.write_splits(args.data_dir, args.out / "prompts", args.seed, sizes, args.opinion_model)
    train_rows, dev_rows, test_rows = (read_records(paths[s]) for s in ("train", "dev", "test"))
    skills = list(router_data.TASK_ORDER)
    cfg = _config(args)
    model, tokenizer, info = _train_timed(
        lambda: router_model.train(cfg, train_rows, skills, args.layers, args.max_length)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(args.out / "tokenizer.json"))
    inference = {"max_length": args.max_length, "skills": skills}
    sample = _parity_sample("router", tokenizer, inference, {"generated_dev": dev_rows}, args.seed)
    _export("router", model, sample, ["skill_logits", "subject_logits"], args.out)
    card = _card(
        "router",
        args,
        info,
        [
            "generated prompts: python -m slmesh.training router-data (subjects from sst2, qa questions and"
            " passages, clinc150; instructions from templates and router_phrasings.json)"
        ],
        "Multi-label skill router with a subject tagger.",
    )
    if args.opinion_model:
        card["data"]["opinion_model"] = {
            "path": str(args.opinion_model),
            "sha256": sha256(args.opinion_model / "model.onnx"),
            "review_sentences_from": [f"qa/{name}/train.jsonl.gz" for name in router_data.REVIEW_FILES],
        }
    card["inference"]["thresholds"] = {s: 0.5 for s in skills}
    cards.write_card(args.out, card)
    card["inference"]["thresholds"] = _tune_router(args.out, dev_rows, args.threads)
    card["parity"] = _parity("router", export.torch_reference(model), args.out, sample)
    sets = {"generated_dev": dev_rows, "generated_test_unseen_phrasings": test_rows, **router_data.handwritten_sets()}
    _measure(args.out, "router", card, sets, args.threads)


def router_prompts(args: argparse.Namespace) -> None:
    from slmesh.training import router_data

    paths = router_data.write_splits(
        args.data_dir, args.out, args.seed, {"train": args.prompts, "dev": 2000, "test": 2000}, args.opinion_model
    )
    print(json.dumps({k: str(v) for k, v in paths.items()}))


SELECTION: dict[str, list[tuple[str, str]]] = {
    "sentiment": [("sst2_dev", "accuracy"), ("imdb_heldout", "accuracy"), ("tweets_dev", "macro_recall")],
    "qa": [
        ("qed_nq_dev", "f1"),
        ("subjqa_dev", "f1"),
        ("subjqa_dev_unanswerable", "f1"),
        ("squadshifts_new_wiki_dev", "f1"),
    ],
    # Generated prompts saturate near 99%; the hand-written dev sets are what tracks real prompts (the *_test sets
    # stay out of every choice).
    "router": [
        ("router_handwritten_more", "exact_task_set_accuracy"),
        ("router_handwritten_dev2", "exact_task_set_accuracy"),
    ],
}
"""Pick ranks runs by the mean of these int8 dev metrics."""


def pick(args: argparse.Namespace) -> None:
    """Prints every candidate's int8 dev metrics and copies the best into --out (fp32 export included when kept)."""
    import shutil

    finished: dict[Path, dict[str, Any]] = {}
    for run in args.runs:
        if not (run / "card.json").is_file() or "metrics" not in read_card(run):
            print(json.dumps({"run": str(run), "status": "no finished card"}))
            continue
        card = read_card(run)
        print(json.dumps({"run": str(run), "training": card["training"], "int8": card["metrics"]["int8"]}))
        finished[run] = card["metrics"]["int8"]
    if not finished:
        raise SystemExit(f"no finished {args.skill} run among {args.runs}")
    # Runs from before a dev set existed lack its metric: rank on the ones every candidate has.
    criteria = [(n, m) for n, m in SELECTION[args.skill] if all(n in int8 for int8 in finished.values())]
    scored = [(sum(int8[n][m] for n, m in criteria) / len(criteria), run) for run, int8 in finished.items()]
    best_score, best = max(scored, key=lambda item: item[0])
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "tokenizer.json", "card.json", "README.md"):
        shutil.copy2(best / name, args.out / name)
    # The fp32 export travels too: parity re-checks and re-quantisation need it once the torch weights are gone.
    if (best / FP32_FILE).is_file():
        shutil.copy2(best / FP32_FILE, args.out / FP32_FILE)
    print(json.dumps({"picked": str(best), "mean_int8_dev_metric": round(best_score, 2)}))


def _dev_sets(
    skill: str, data_dir: Path, seed: int, model_dir: Path, opinion_model: Path | None = None
) -> dict[str, list[dict[str, Any]]]:
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


def _onnx_parity(
    args: argparse.Namespace, card: dict[str, Any], dev: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Parity of the int8 file against the fp32 ONNX file beside it (the torch weights are gone by now)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    sample = _parity_sample(args.skill, tokenizer, card["inference"], dev, args.seed)
    reference = export.onnx_reference(args.model_dir / FP32_FILE)
    rebuilt = "fp32_rebuilt_from_int8" in card
    against = "onnx fp32 rebuilt from int8" if rebuilt else "onnx fp32 (torch weights not kept)"
    return _parity(args.skill, reference, args.model_dir, sample, against)


def requantize(args: argparse.Namespace) -> None:
    """Quantises the kept fp32 ONNX file again with the current settings and re-checks parity against it."""
    card = read_card(args.model_dir)
    export.quantize_int8(args.model_dir / FP32_FILE, args.model_dir / "model.onnx", export.KEPT_FP32[args.skill])
    card["quantization"] = _quantization(args.model_dir)
    dev = _dev_sets(args.skill, args.data_dir, args.seed, args.model_dir, args.opinion_model)
    card["parity"] = _onnx_parity(args, card, dev)
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


def recard(args: argparse.Namespace) -> None:
    """Re-measures a model's dev metrics (int8, and fp32 when its file is here: then parity against it too, unless
    the card's parity is against the torch weights) and latency, and rewrites its card.

    With --tune-null-threshold the QA threshold is tuned on the int8 model (for runs whose fp32 file is gone).
    """
    card = read_card(args.model_dir)
    dev_sets = _dev_sets(args.skill, args.data_dir, args.seed, args.model_dir, args.opinion_model)
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
            runner = BUILDERS[args.skill](load_bundle(args.model_dir, args.skill, args.threads, name, verify=False))
            card.setdefault("metrics", {})[precision] = {k: evaluate(runner, rows) for k, rows in dev_sets.items()}
    # Parity against the torch weights, measured at training time, is the better reference: it is kept.
    if (args.model_dir / FP32_FILE).is_file() and card.get("parity", {}).get("reference") != TORCH_REFERENCE:
        card["parity"] = _onnx_parity(args, card, dev_sets)
    card["latency_ms_batch1"] = cards.batch1_latency_ms(args.model_dir, args.skill, REFERENCE_PROMPTS[0])
    cards.write_card(args.model_dir, card)
    print(json.dumps({"metrics": card["metrics"], "parity": card.get("parity")}))


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is not a count (0 or more)")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m slmesh.training", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    defaults = {
        "sentiment": (3.0, 5e-5, 32),
        "qa": (3.0, 1e-4, 32),
        "router": (2.0, 1e-4, 32),
        "router-data": (0, 0, 0),
    }
    handlers = {"sentiment": sentiment, "qa": qa, "router": router, "router-data": router_prompts}
    for name, (epochs, lr, batch) in defaults.items():
        p = sub.add_parser(name)
        p.set_defaults(handler=handlers[name])
        p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--seed", type=int, default=13)
        if name in ("router", "router-data"):
            p.add_argument(
                "--opinion-model",
                type=Path,
                help="sentiment model folder that picks review sentences as extra opinions (e.g. models/sentiment)",
            )
        if name == "router-data":
            p.add_argument("--prompts", type=int, default=24000)
            continue
        p.add_argument("--base-model", default=DEFAULT_BASE, help="Hugging Face id or local path")
        p.add_argument("--epochs", type=float, default=epochs)
        p.add_argument("--lr", type=float, default=lr)
        p.add_argument("--batch-size", type=int, default=batch)
        p.add_argument("--max-steps", type=int, default=-1)
        p.add_argument("--threads", type=int, default=4, help="ONNX Runtime threads for the dev evaluation")
        p.add_argument("--limit", type=int, default=0, help="use only N training and N dev rows (smoke runs)")
        if name in ("sentiment", "qa"):
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
        if name == "sentiment":
            p.add_argument("--max-length", type=int, default=512)
            p.add_argument("--head", type=int, default=128)
            p.add_argument("--imdb", action=argparse.BooleanOptionalAction, default=True)
            p.add_argument("--imdb-dev", type=int, default=1000)
            p.add_argument(
                "--imdb-train", type=_count, default=0, help="train on only N IMDB reviews (0: all but the held-out)"
            )
            p.add_argument("--sst2-train", type=_count, default=0, help="train on only N SST-2 sentences (0: all)")
            p.add_argument("--tweets", action=argparse.BooleanOptionalAction, default=True, help="three-class tweets")
            p.add_argument(
                "--design",
                choices=sorted(DESIGNS),
                default="gated",
                help="loss design for the binary rows (slmesh.training.sentiment.DESIGNS)",
            )
            p.add_argument(
                "--vector-scaling",
                action=argparse.BooleanOptionalAction,
                default=False,
                help="calibrate with a bias per class besides the temperature",
            )
        if name == "qa":
            p.add_argument("--max-length", type=int, default=384)
            p.add_argument("--stride", type=int, default=128)
        if name == "router":
            p.add_argument("--layers", type=int, default=4)
            p.add_argument("--max-length", type=int, default=128)
            p.add_argument("--prompts", type=int, default=24000)
    chooser = sub.add_parser("pick")
    chooser.set_defaults(handler=pick)
    chooser.add_argument("skill", choices=sorted(SELECTION))
    chooser.add_argument("runs", type=Path, nargs="+")
    chooser.add_argument("--out", type=Path, required=True)
    rebuild = sub.add_parser("rebuild-fp32", help="rebuild a lost model_fp32.onnx from the int8 weights")
    rebuild.set_defaults(handler=rebuild_fp32)
    rebuild.add_argument("skill", choices=["sentiment", "qa"])
    rebuild.add_argument("--model-dir", type=Path, required=True)
    rebuild.add_argument("--base-model", default=DEFAULT_BASE, help="the architecture the weights belong to")
    rebuild.add_argument("--force", action="store_true", help="replace an existing model_fp32.onnx")
    for name, handler, summary in (
        ("requantize", requantize, "re-quantise model_fp32.onnx and re-check parity"),
        ("card", recard, "re-measure a model's dev metrics (int8, and fp32 when kept) on this machine"),
    ):
        existing = sub.add_parser(name, help=summary)
        existing.set_defaults(handler=handler)
        existing.add_argument("skill", choices=sorted(SELECTION))
        existing.add_argument("--model-dir", type=Path, required=True)
        existing.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
        existing.add_argument("--seed", type=int, default=13)
        existing.add_argument("--threads", type=int, default=2)
        existing.add_argument("--tune-null-threshold", action="store_true", help="card qa only")
        existing.add_argument(
            "--opinion-model",
            type=Path,
            help="router only: where the sentiment model that drew its prompts is now (sha256 as in the card)",
        )
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
