"""Fine-tunes the extractive QA model on every QA set in the shared data, with a doc stride."""

from __future__ import annotations

import random
import zlib
from pathlib import Path
from typing import Any

from slmesh.encoding import clip_question, windowing_tokenizer
from slmesh.training.common import (
    ListDataset,
    RunConfig,
    fast_tokenizer,
    pad_features,
    starting_point,
    trained,
    training_arguments,
)

TRAIN_FILES = (
    "qa/squadshifts_new_wiki/train.jsonl.gz",
    "qa/squadshifts_reddit/train.jsonl.gz",
    "qa/squadshifts_amazon/train.jsonl.gz",
    "qa/qed_nq/train.jsonl.gz",
    "qa/subjqa/train.jsonl.gz",
    "qa/subjqa/train_unanswerable.jsonl.gz",
    "qa/covid_qa/train.jsonl.gz",
)
DEV_FILES = ("qa/qed_nq/dev.jsonl.gz", "qa/subjqa/dev.jsonl", "qa/subjqa/dev_unanswerable.jsonl.gz")
WIKI_FILE = "qa/squadshifts_new_wiki/train.jsonl.gz"
WIKI_DEV = "squadshifts_new_wiki_dev"


def in_wiki_dev(row: dict[str, Any]) -> bool:
    """One SQuADShifts Wikipedia article in six (8 articles, 1,025 questions) is kept out of training.

    They were collected with SQuAD v1.1's protocol, several answers per question, on articles outside SQuAD: the
    closest thing here to the SQuAD-dev-style questions the team holds back. Whole articles, so no paragraph leaks.
    """
    return zlib.crc32(row["title"].encode()) % 6 == 0


def holds_out_wiki_dev(card: dict[str, Any]) -> bool:
    """Whether a model never saw the Wikipedia dev articles. Models trained before the split saw them, and so does any
    run that continues one: measuring those on the articles would flatter them."""
    return WIKI_DEV in card.get("data", {}).get("held_out", [])


def _positions(encoding: Any, start_char: int, end_char: int) -> tuple[int, int]:
    """Token positions of the answer inside one window, or (0, 0) for [CLS] when the window lacks it."""
    # Each attribute access copies the whole list out of Rust: read them once.
    offsets, sequence_ids = encoding.offsets, encoding.sequence_ids
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    if not context:
        return 0, 0
    first, last = context[0], context[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return 0, 0
    start = first
    while start <= last and offsets[start][1] <= start_char:
        start += 1
    end = last
    while end >= first and offsets[end][0] >= end_char:
        end -= 1
    return (start, end) if start <= end else (0, 0)


def featurize(
    tokenizer: Any,
    rows: list[dict[str, Any]],
    max_length: int,
    stride: int,
    max_question_tokens: int,
    negatives_per_question: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Windows with answer positions; long documents keep a few answerless windows, not all of them."""
    rng = random.Random(seed)
    windowed = windowing_tokenizer(tokenizer, max_length, stride)
    questions = [clip_question(tokenizer, row["question"], max_question_tokens) for row in rows]
    # encode_batch spreads the tokenising over every core; the per-row loop below only reads offsets.
    firsts = windowed.encode_batch(list(zip(questions, [row["context"] for row in rows], strict=True)))
    features = []
    for row, first in zip(rows, firsts, strict=True):
        windows = [first, *first.overflowing]
        answers = row["answers"]
        positive: list[dict[str, Any]] = []
        negative: list[dict[str, Any]] = []
        for encoding in windows:
            if answers["text"]:
                start_char = answers["answer_start"][0]
                start, end = _positions(encoding, start_char, start_char + len(answers["text"][0]))
            else:
                start, end = 0, 0
            feature = {
                "input_ids": encoding.ids,
                "attention_mask": encoding.attention_mask,
                "token_type_ids": encoding.type_ids,
                "start_positions": start,
                "end_positions": end,
            }
            (positive if start > 0 else negative).append(feature)
        if answers["text"]:
            rng.shuffle(negative)
            negative = negative[:negatives_per_question]
        features += positive + negative
    return features


def train(
    cfg: RunConfig, train_rows: list[dict[str, Any]], max_length: int = 384, stride: int = 128
) -> tuple[Any, Any, dict[str, Any]]:
    from transformers import AutoModelForQuestionAnswering, Trainer, set_seed

    set_seed(cfg.seed)
    tokenizer = fast_tokenizer(cfg.base_model)
    model = AutoModelForQuestionAnswering.from_pretrained(cfg.base_model)
    starting_point(model, cfg)
    features = featurize(tokenizer, train_rows, max_length, stride, 64, 2, cfg.seed)
    trainer = Trainer(
        model=model,
        args=training_arguments(cfg, cfg.out_dir / "work", train_sampling_strategy="group_by_length"),
        train_dataset=ListDataset(features),
        data_collator=lambda f: pad_features(f, label_keys=("start_positions", "end_positions")),
    )
    result = trainer.train()
    summary = {
        "train_questions": len(train_rows),
        "train_windows": len(features),
        **trained(trainer, result, model.config.num_hidden_layers),
    }
    inference = {
        "max_length": max_length,
        "stride": stride,
        "max_question_tokens": 64,
        "max_answer_tokens": 30,
    }
    model.cpu().eval()
    return model, tokenizer, {"summary": summary, "inference": inference}


def default_rows(data_dir: Path, files: tuple[str, ...]) -> list[dict[str, Any]]:
    from slmesh.datasets_io import read_records

    rows: list[dict[str, Any]] = []
    for name in files:
        rows += [r for r in read_records(data_dir / name) if not (name == WIKI_FILE and in_wiki_dev(r))]
    return rows


def tune_null_threshold(skill: Any, rows: list[dict[str, Any]], batch_size: int = 16) -> float:
    """The margin (best span - [CLS]) above which answering maximises dev F1, abstentions included."""
    from slmesh.evaluation.squad import best_over_truths

    scored: list[tuple[float, float, float]] = []
    for i in range(0, len(rows), batch_size):
        batch = rows[i : i + batch_size]
        for row, decoded in zip(batch, skill.decode_batch([(r["question"], r["context"]) for r in batch]), strict=True):
            truths = row["answers"]["text"]
            span = decoded.best
            answered_f1 = best_over_truths(row["context"][span.start : span.end], truths)[1] if span else 0.0
            margin = span.score - decoded.null_score if span else float("-inf")
            scored.append((margin, answered_f1, 0.0 if truths else 1.0))
    candidates = sorted({round(m, 2) for m, _, _ in scored if m != float("-inf")})
    best_t, best_total = float("-inf"), -1.0
    for t in [float("-inf"), *candidates]:
        total = sum(f1 if m >= t else abstain for m, f1, abstain in scored)
        if total > best_total:
            best_t, best_total = t, total
    return -1e9 if best_t == float("-inf") else best_t


def dev_sets(data_dir: Path, wiki_dev: bool = True) -> dict[str, list[dict[str, Any]]]:
    """QED (Wikipedia, NQ questions), SubjQA (reviews), answerable and not, keyed like the model card; and the held-out
    SQuADShifts Wikipedia articles unless the model was trained on them (`wiki_dev=False`)."""
    from slmesh.datasets_io import read_records

    sets = {Path(n).parts[1] + "_" + Path(n).name.split(".")[0]: read_records(data_dir / n) for n in DEV_FILES}
    if wiki_dev:
        sets[WIKI_DEV] = [r for r in read_records(data_dir / WIKI_FILE) if in_wiki_dev(r)]
    return sets
