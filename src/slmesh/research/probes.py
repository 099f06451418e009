"""Focused measurements behind the numbers in docs/benchmark.md and the model cards' notes.

`python -m slmesh.research.probes PROBE ...`; each prints one JSON line per measurement. They time what `slmesh bench`
cannot isolate: one session option against another, one model against another, one threshold against another.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from slmesh.bench.stats import latency_samples
from slmesh.bench.workload import article_requests
from slmesh.encoding import head_tail, pad_batch, windows
from slmesh.research.int8_probe import int8_sensitivity
from slmesh.runtime import (
    FP32_FILE,
    UNFUSED,
    ModelBundle,
    ModelStore,
    load_bundle,
    new_session,
    read_card,
    share_threads,
)

MODELS = Path("models")


def _p50_ms(call: Callable[[], object], runs: int, warmup: int = 10) -> float:
    return round(statistics.median(latency_samples(call, runs, warmup)), 2)


def _feeds(batch: int, tokens: int) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(0).integers(1000, 5000, (batch, tokens), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def _inputs(session: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {i.name: feeds[i.name] for i in session.get_inputs()}


class _OwnThreads:
    """Session 1's layout: every session its own pool (QA two threads, the others one), no spinning."""

    def __init__(self, models: Path) -> None:
        self._bundles = {
            s: load_bundle(models / s, s, 2 if s == "qa" else 1, verify=False) for s in ("router", "sentiment", "qa")
        }

    def get(self, skill: str) -> ModelBundle:
        return self._bundles[skill]


def _pipeline_once(args: argparse.Namespace) -> None:
    from slmesh.pipeline import Pipeline
    from slmesh.schemas import AnalyzeRequest

    pipeline = Pipeline(ModelStore(args.models, 0) if args.layout == "shared" else _OwnThreads(args.models))
    requests = [AnalyzeRequest(prompt=p, context=c) for p, c in article_requests()]
    totals = []
    for run in range(15 + args.runs):
        for request in requests:
            total = pipeline.analyze(request).timings_ms["total"]
            if run >= 15:
                totals.append(total)
    pipeline.close()
    print(json.dumps({"layout": args.layout, "total_p50_ms": round(statistics.median(totals), 2)}))


def sessions(args: argparse.Namespace) -> None:
    """The embedded pipeline with per-session pools against one shared pool, alternating fresh processes."""
    for repeat in range(args.repeats):
        for layout in ("own", "shared"):
            command = [sys.executable, "-m", "slmesh.research.probes", "pipeline-once", "--layout", layout]
            done = subprocess.run(
                [*command, "--models", str(args.models), "--runs", str(args.runs)],
                capture_output=True,
                text=True,
                check=True,
            )
            print(json.dumps({"repeat": repeat, **json.loads(done.stdout)}), flush=True)


def fusion(args: argparse.Namespace) -> None:
    """One model with and without the fusions `slmesh.runtime.UNFUSED` leaves out, on the shared pool."""
    share_threads(args.threads)
    feeds = _feeds(args.batch, args.tokens)
    for repeat in range(args.repeats):
        for left_out in ((), tuple(UNFUSED)):
            session = new_session(args.model, disabled=left_out)
            inputs = _inputs(session, feeds)
            p50 = _p50_ms(partial(session.run, None, inputs), args.runs)
            print(json.dumps({"repeat": repeat, "left_out": list(left_out), "p50_ms": p50}), flush=True)


def compare(args: argparse.Namespace) -> None:
    """Model files at one input shape on the shared pool, as served, taking turns file by file (depth options)."""
    share_threads(args.threads)
    feeds = _feeds(args.batch, args.tokens)
    opened = {model: new_session(model) for model in args.models}
    for repeat in range(args.repeats):
        for model, session in opened.items():
            p50 = _p50_ms(partial(session.run, None, _inputs(session, feeds)), args.runs)
            row = {"repeat": repeat, "model": str(model), "mb": round(model.stat().st_size / 1e6, 1), "p50_ms": p50}
            print(json.dumps({**row, "batch": args.batch, "tokens": args.tokens, "threads": args.threads}), flush=True)


def _route_each(router: Any, prompts: Sequence[str]) -> None:
    for prompt in prompts:
        router.route(prompt)


def router_latency(args: argparse.Namespace) -> None:
    """A router's p50 per prompt over the article's three (run once per thread count: the pool is per process)."""
    from slmesh.skills.router import RouterSkill

    share_threads(args.threads)
    prompts = [p for p, _ in article_requests()]
    for model_dir in args.model_dirs:
        router = RouterSkill.from_bundle(load_bundle(model_dir, "router", verify=False))
        p50 = _p50_ms(partial(_route_each, router, prompts), args.runs) / len(prompts)
        print(json.dumps({"router": str(model_dir), "threads": args.threads, "p50_ms_per_prompt": round(p50, 2)}))


def ops(args: argparse.Namespace) -> None:
    """Where one call's time goes, per ONNX Runtime kernel type (its profiler), one thread of its own."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="slmesh-ops-") as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "profile")
        session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
        inputs = _inputs(session, _feeds(args.batch, args.tokens))
        for _ in range(args.runs):
            session.run(None, inputs)
        events = json.loads(Path(session.end_profiling()).read_text())
    spent: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            spent[event["args"]["op_name"]] += event["dur"]
    total = sum(spent.values())
    for op, micros in spent.most_common(args.top):
        print(
            json.dumps(
                {"op": op, "ms_per_call": round(micros / args.runs / 1000, 2), "share": round(micros / total, 3)}
            )
        )
    print(json.dumps({"op": "all", "ms_per_call": round(total / args.runs / 1000, 2)}))


def qa_threshold(args: argparse.Namespace) -> None:
    """EM/F1 of the QA model on each dev set as the no-answer threshold moves (the card's threshold is one of them)."""
    from slmesh.datasets_io import read_records
    from slmesh.evaluation.squad import best_over_truths
    from slmesh.skills.qa import QASkill
    from slmesh.training.qa import DEV_FILES

    share_threads(args.threads)
    skill = QASkill.from_bundle(load_bundle(args.model_dir, "qa", verify=False))
    margins: dict[str, list[tuple[float, str, list[str]]]] = {}
    for name in DEV_FILES:
        rows = read_records(args.data_dir / name)
        found = []
        for start in range(0, len(rows), 16):
            part = rows[start : start + 16]
            for row, decoded in zip(
                part, skill.decode_batch([(r["question"], r["context"]) for r in part]), strict=True
            ):
                span = decoded.best
                answer = row["context"][span.start : span.end] if span else ""
                margin = span.score - decoded.null_score if span else float("-inf")
                found.append((margin, answer, row["answers"]["text"]))
        margins[name] = found
    for threshold in args.thresholds:
        for name, found in margins.items():
            scores = [best_over_truths(a if m >= threshold else "", truths) for m, a, truths in found]
            em, f1 = (round(100 * sum(s[k] for s in scores) / len(scores), 2) for k in (0, 1))
            print(json.dumps({"threshold": threshold, "data": name, "exact_match": em, "f1": f1}))


def summarize_latency(args: argparse.Namespace) -> None:
    """The summariser's p50/p95 per text length: distinct Wikipedia paragraphs (SQuADShifts) joined to N words."""
    from slmesh.datasets_io import read_records
    from slmesh.skills.summarize import SummarizeSkill

    share_threads(args.threads)
    skill = SummarizeSkill.from_bundle(load_bundle(args.model_dir, "embed", verify=False))
    paragraphs = list(dict.fromkeys(r["context"] for r in read_records(args.data_dir / args.source)))
    for words in args.words:
        text, taken = [], 0
        for paragraph in paragraphs:
            if taken >= words:
                break
            text.append(paragraph)
            taken += len(paragraph.split())
        cut = " ".join(" ".join(text).split()[:words])
        result = skill.summarize(cut)
        samples = sorted(latency_samples(partial(skill.summarize, cut), args.runs, 2))
        print(
            json.dumps(
                {
                    "words": words,
                    "sentences": result.source_sentences,
                    "threads": args.threads,
                    "p50_ms": round(statistics.median(samples), 1),
                    "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1),
                    "summary_words": result.words,
                }
            )
        )


STRATEGIES = ("head", "tail", "head-tail", "windows")


def _reading(strategy: str, length: int) -> dict[str, Any]:
    """Sentiment inference settings for one way of reading a long review.

    A cut takes its first tokens from the start of the review ([CLS] included: all of them for head, only [CLS] for
    tail, a quarter for head-tail) and the rest from its end.
    """
    if strategy == "windows":
        return {"max_length": length, "long_text": "windows"}
    head = {"head": length, "tail": 1, "head-tail": length // 4}[strategy]
    return {"max_length": length, "head_tokens": head, "long_text": "head_tail"}


def sentiment_long(args: argparse.Namespace) -> None:
    """Accuracy and time per review on held-out IMDB as the served skill reads it: head, tail, head+tail or windows."""
    from slmesh.skills.sentiment import SentimentSkill
    from slmesh.training.sentiment import default_data

    share_threads(args.threads)
    bundle = load_bundle(args.model_dir, "sentiment", verify=False)
    rows = default_data(args.data_dir, True, args.reviews, args.seed)["imdb_dev"]
    texts = [r["text"] for r in rows]
    encoded = [e.ids for e in bundle.tokenizer.encode_batch(texts)]
    labels = np.array([int(r["label"]) for r in rows])
    print(json.dumps({"reviews": len(rows), "longer_than_512": sum(len(ids) > 512 for ids in encoded)}))
    for strategy in args.strategies:
        for length in args.lengths:
            reading = {**bundle.inference, **_reading(strategy, length)}
            skill = SentimentSkill.from_bundle(dataclasses.replace(bundle, inference=reading), slice_size=args.batch)
            started = time.perf_counter()
            logits = skill.logits(texts)
            seconds = time.perf_counter() - started
            calls = sum(len(windows(ids, length)) for ids in encoded) if strategy == "windows" else len(rows)
            print(
                json.dumps(
                    {
                        "strategy": strategy,
                        "tokens": length,
                        "accuracy": round(100 * float((logits.argmax(axis=-1) == labels).mean()), 2),
                        "model_calls_per_review": round(calls / len(rows), 2),
                        "ms_per_review": round(1000 * seconds / len(rows), 2),
                        "batch": args.batch,
                        "threads": args.threads,
                    }
                )
            )


ISSUE_MESSAGES = (
    "How is it possible that the train is delayed once again, it’s been 3 times in less than 1 hour, is the train "
    "coming at all?",
    "Would you mind telling me the time the next train will arrive?",
    "This station is lovely, did you know this is the first train station in the city?",
    "Could you tell me when the shop opens?",
    "I have changed my address, please update my account",
    "Absolutely fed up.",
    "🤬🤬",
    "👍👍👍",
)
"""The article's three subjects and the messages issue 17 reported as wrongly polar."""


def sentiment_texts(args: argparse.Namespace) -> None:
    """Every label's calibrated probability for each text (default: `ISSUE_MESSAGES`), as the model folder serves it."""
    from slmesh.skills.sentiment import SentimentSkill

    skill = SentimentSkill.from_bundle(load_bundle(args.model_dir, "sentiment", verify=False))
    texts = args.texts or list(ISSUE_MESSAGES)
    for text, probs in zip(texts, skill.probabilities(skill.logits(texts)), strict=True):
        scores = {label: round(float(p), 2) for label, p in zip(skill.labels, probs, strict=True)}
        print(json.dumps({"text": text, "label": max(scores, key=scores.__getitem__), "scores": scores}))


def calibration(args: argparse.Namespace) -> None:
    """How well the sentiment scores' confidence matches their accuracy: unscaled, with the card's calibration, and
    refitted on half of the set the card's calibration was fitted on and scored on the other half.
    """
    from slmesh.skills.sentiment import SentimentSkill
    from slmesh.training.sentiment import calibration_report, dev_sets

    share_threads(args.threads)
    card = read_card(args.model_dir)
    skill = SentimentSkill.from_bundle(load_bundle(args.model_dir, "sentiment", verify=False))
    sets = {name: rows[: args.examples or None] for name, rows in dev_sets(args.data_dir, card).items()}
    # The binary models' temperature was fitted on SST-2 dev.
    fitted_on = card["data"].get("calibrated_on", "sst2_dev")
    report = calibration_report(skill, sets, fitted_on, "class_bias" in card["inference"], args.bins)
    for name, measured in report.items():
        for kind in ("uncalibrated", "calibrated", "cross_fitted"):
            if kind in measured:
                row = {"set": name, "examples": measured["examples"], "scores": kind, "bins": args.bins}
                print(json.dumps({**row, **measured[kind]}), flush=True)


def sentiment_lexical(args: argparse.Namespace) -> None:
    """Would a bag of word and character n-grams beside the model lift tweets dev? A TF-IDF logistic regression
    trained on the tweets, alone and added to the model's log-probabilities (weight and class bias fitted on one
    half of dev and scored on the other, both ways): what stacking a second, lexical reader could be worth."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from slmesh.datasets_io import read_records
    from slmesh.skills.sentiment import SentimentSkill
    from slmesh.textnorm import normalizer
    from slmesh.training.sentiment import TWEETS_DEV, TWEETS_TRAIN

    share_threads(args.threads)
    skill = SentimentSkill.from_bundle(load_bundle(args.model_dir, "sentiment", verify=False))
    labels = list(skill.labels)
    norm = normalizer(skill.settings.normalize)
    train, dev = read_records(args.data_dir / TWEETS_TRAIN), read_records(args.data_dir / TWEETS_DEV)
    gold = np.array([labels.index(r["label"]) for r in dev])

    def macro_recall(rows: np.ndarray, scores: np.ndarray) -> float:
        picked = scores.argmax(axis=1)
        return round(100 * float(np.mean([np.mean(picked[gold[rows] == c] == c) for c in range(len(labels))])), 2)

    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True, max_features=300_000)
    texts = [norm(r["text"]) for r in train]
    features = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
    lexical = LogisticRegression(C=args.c, max_iter=2000, class_weight="balanced")
    lexical.fit(features, [labels.index(r["label"]) for r in train])
    dev_texts = [norm(r["text"]) for r in dev]
    lexical_log = np.log(lexical.predict_proba(hstack([words.transform(dev_texts), chars.transform(dev_texts)])))
    model_log = np.log(skill.probabilities(skill.logits([r["text"] for r in dev])))
    every = np.arange(len(dev))
    print(json.dumps({"reader": "lexical", "tweets_dev_macro_recall": macro_recall(every, lexical_log)}))
    print(json.dumps({"reader": "model", "tweets_dev_macro_recall": macro_recall(every, model_log)}))
    order = np.random.default_rng(args.seed).permutation(len(dev))
    halves = (order[::2], order[1::2])
    steps = np.round(np.arange(-1.0, 1.01, 0.1), 2)
    grid = [(w, np.array([b0, b1, 0.0])) for w in np.round(np.arange(0, 2.01, 0.1), 2) for b0 in steps for b1 in steps]
    held = []
    for fit, scored in (halves, halves[::-1]):
        weight, bias = max(grid, key=lambda g: macro_recall(fit, model_log[fit] + g[0] * lexical_log[fit] + g[1]))
        held.append(macro_recall(scored, model_log[scored] + weight * lexical_log[scored] + bias))
        fitted = {"weight": weight, "class_bias": bias.tolist(), "held_half_macro_recall": held[-1]}
        print(json.dumps({"reader": "model + lexical", **fitted}))
    print(json.dumps({"reader": "model + lexical", "cross_fitted_macro_recall": round(float(np.mean(held)), 2)}))


def _skill_value(text: str) -> tuple[str, float]:
    skill, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not SKILL=VALUE")
    return skill, float(value)


def router_thresholds(args: argparse.Namespace) -> None:
    """The hand-written sets with the card's per-skill thresholds and with others (one for all, or `--thresholds`):
    exact task-set accuracy, and how many prompts get a different skill set (equal accuracy can hide changes that
    cancel out)."""
    from slmesh.evaluation.metrics import attached, evaluate_router
    from slmesh.skills.router import RouterSkill
    from slmesh.training.router_data import handwritten_sets

    share_threads(args.threads)
    bundle = load_bundle(args.model_dir, "router", verify=False)
    tuned = bundle.inference["thresholds"]
    other = ("one for all", dict.fromkeys(tuned, args.single))
    if args.thresholds:
        other = ("given", {**tuned, **dict(args.thresholds)})
    sets = handwritten_sets()
    rows = [row for named in sets.values() for row in named]
    chosen = []
    for label, thresholds in (("per skill", tuned), other):
        router = RouterSkill.from_bundle(
            dataclasses.replace(bundle, inference={**bundle.inference, "thresholds": thresholds})
        )
        accuracy = {name: evaluate_router(router, named)["exact_task_set_accuracy"] for name, named in sets.items()}
        print(json.dumps({"thresholds": label, "values": thresholds, "exact_task_set_accuracy": accuracy}))
        chosen.append([set(router.route(row["prompt"], attached(row)).skills) for row in rows])
    differ = sum(a != b for a, b in zip(*chosen, strict=True))
    print(json.dumps({"prompts": len(rows), "skill_sets_that_differ": differ}))


def static_int8(args: argparse.Namespace) -> None:
    """The router's fp32 export quantised statically (activation ranges calibrated on its training prompts)
    against the dynamic int8 file it ships: accuracy per set and p50 per article prompt."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from slmesh.datasets_io import read_records
    from slmesh.evaluation.metrics import evaluate_router
    from slmesh.skills.router import RouterSkill
    from slmesh.training.router_data import handwritten_sets

    tokenizer = Tokenizer.from_file(str(args.run_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    calibration = [r["prompt"] for r in read_records(args.run_dir / "prompts" / "train.jsonl")[: args.calibration]]
    limit = int(read_card(args.run_dir)["inference"]["max_length"])

    class Prompts(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._left = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            prompt = next(self._left, None)
            if prompt is None:
                return None
            ids = tokenizer.encode(prompt).ids
            return pad_batch([head_tail(ids, limit, limit)])

    static_file = "model_static.onnx"
    quantize_static(
        str(args.run_dir / FP32_FILE),
        str(args.run_dir / static_file),
        Prompts(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    # The calibrator opens sessions with pools of their own, which a process-wide pool forbids: share it only now.
    share_threads(args.threads)
    sets = {"generated_dev": read_records(args.run_dir / "prompts" / "dev.jsonl"), **handwritten_sets()}
    prompts = [p for p, _ in article_requests()]
    for model_file in ("model.onnx", static_file):
        router = RouterSkill.from_bundle(load_bundle(args.run_dir, "router", model_file=model_file, verify=False))
        accuracy = {name: evaluate_router(router, rows)["exact_task_set_accuracy"] for name, rows in sets.items()}
        p50 = _p50_ms(partial(_route_each, router, prompts), args.runs) / len(prompts)
        size = (args.run_dir / model_file).stat().st_size
        print(
            json.dumps(
                {
                    "model": model_file,
                    "exact_task_set_accuracy": accuracy,
                    "p50_ms_per_prompt": round(p50, 2),
                    "mb": round(size / 1e6, 1),
                    "threads": args.threads,
                }
            )
        )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m slmesh.research.probes", description=__doc__)
    sub = root.add_subparsers(dest="probe", required=True)

    def probe(name: str, handler: Callable[[argparse.Namespace], None], runs: int | None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=(handler.__doc__ or "").split("\n")[0])
        p.set_defaults(handler=handler)
        if runs is not None:
            p.add_argument("--runs", type=int, default=runs, help="timed calls")
        return p

    for name, handler in (("sessions", sessions), ("pipeline-once", _pipeline_once)):
        p = probe(name, handler, 60)
        p.add_argument("--models", type=Path, default=MODELS)
        p.add_argument("--repeats", type=int, default=5)
        p.add_argument("--layout", choices=("own", "shared"), default="shared")

    def one_shape(p: argparse.ArgumentParser) -> None:
        p.add_argument("--batch", type=int, default=1)
        p.add_argument("--tokens", type=int, default=110)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--repeats", type=int, default=3)

    for name, handler in (("fusion", fusion), ("ops", ops)):
        p = probe(name, handler, 40)
        p.add_argument("model", type=Path)
        one_shape(p)
        p.add_argument("--top", type=int, default=12)
    p = probe("compare", compare, 100)
    p.add_argument("models", type=Path, nargs="+")
    one_shape(p)
    p = probe("router-latency", router_latency, 100)
    p.add_argument("model_dirs", type=Path, nargs="+")
    p.add_argument("--threads", type=int, default=2)
    p = probe("qa-threshold", qa_threshold, None)
    p.add_argument("--model-dir", type=Path, default=MODELS / "qa")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--thresholds", type=float, nargs="+", default=[float("-inf"), -2, 0, 2, 4, 5.87, 8])
    p = probe("summarize-latency", summarize_latency, 20)
    p.add_argument("--model-dir", type=Path, default=MODELS / "embed")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--source", default="qa/squadshifts_new_wiki/train.jsonl.gz")
    p.add_argument("--words", type=int, nargs="+", default=[250, 1000, 4000])
    p.add_argument("--threads", type=int, default=2)
    p = probe("sentiment-texts", sentiment_texts, None)
    p.add_argument("texts", nargs="*", help="texts to score (default: the issue's messages)")
    p.add_argument("--model-dir", type=Path, default=MODELS / "sentiment")
    p = probe("calibration", calibration, None)
    p.add_argument("--model-dir", type=Path, default=MODELS / "sentiment")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--bins", type=int, default=10, help="equal-width confidence bins of the calibration error")
    p.add_argument("--examples", type=int, default=0, help="only the first N of each set (0: all)")
    p.add_argument("--threads", type=int, default=2)
    p = probe("sentiment-lexical", sentiment_lexical, None)
    p.add_argument("--model-dir", type=Path, default=MODELS / "sentiment")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--c", type=float, default=1.0, help="the logistic regression's inverse regularisation")
    p.add_argument("--seed", type=int, default=0, help="which dev tweets fall in which half")
    p.add_argument("--threads", type=int, default=2)
    p = probe("router-thresholds", router_thresholds, None)
    p.add_argument("--model-dir", type=Path, default=MODELS / "router")
    p.add_argument("--single", type=float, default=0.5, help="the one threshold every skill gets instead")
    p.add_argument(
        "--thresholds",
        type=_skill_value,
        nargs="+",
        default=[],
        metavar="SKILL=VALUE",
        help="per-skill thresholds to compare instead of --single (skills not named keep the card's)",
    )
    p.add_argument("--threads", type=int, default=2)
    p = probe("static-int8", static_int8, 100)
    p.add_argument("run_dir", type=Path, help="a router training run: model.onnx, model_fp32.onnx, prompts/")
    p.add_argument("--calibration", type=int, default=300, help="training prompts that set the activation ranges")
    p.add_argument("--threads", type=int, default=1)
    p = probe("int8-sensitivity", int8_sensitivity, None)
    p.add_argument("model_dir", type=Path, help="a model folder with model_fp32.onnx")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--match", default="", help="regular expression over node names (default: every weight MatMul)")
    p.add_argument("--extra", type=int, default=200, help="IMDB reviews (sentiment) or QA questions in the sample")
    p.add_argument("--threads", type=int, default=2)
    p = probe("sentiment-long", sentiment_long, None)
    p.add_argument("--model-dir", type=Path, default=MODELS / "sentiment")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--reviews", type=int, default=1000, help="the held-out IMDB reviews of the sentiment card")
    p.add_argument("--seed", type=int, default=13, help="the training seed that picked them")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    p.add_argument("--batch", type=int, default=16, help="pieces per model call, sorted by length")
    p.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.handler(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
