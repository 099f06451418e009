"""Fine-tunes the extractive QA model on every QA set in the shared data, with a doc stride."""

from __future__ import annotations

import random
import re
import zlib
from collections import defaultdict
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
NEGATIVE_FILES = (WIKI_FILE, "qa/qed_nq/train.jsonl.gz")
"""The files given hard negatives: factual questions, which another passage of the article does not answer. A
review's subjective question ("How is the hotel?") is answered by any review of the same product."""


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


_FUNCTION_WORDS = (
    "a an the of to in on at for by with from and or but is are was were be been do does did how what "
    "when where who whom which why whose can could would should will shall may might must i you he she it "
    "we they me my your his her its our their this that these those there here about as into than then so "
    "not no yes much many"
)
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())
CANDIDATES = 200
"""At most this many passages, drawn at random, are scored for each question."""
MAX_PASSAGE_CHARS = 2000
"""About one 384-token window."""


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in FUNCTION_WORDS}


def _unanswerable(row: dict[str, Any], context: str, kind: str) -> dict[str, Any]:
    """`row`'s question over another `context`, with no answer."""
    return {
        "id": f"{row['id']}-{kind}",
        "title": row["title"],
        "question": row["question"],
        "context": context,
        "answers": {"text": [], "answer_start": []},
    }


def same_topic_negatives(rows: list[dict[str, Any]], share: float, seed: int) -> list[dict[str, Any]]:
    """Unanswerable rows made from answerable ones: the question with the passage that best matches it and lacks its
    answer.

    A `share` of the answerable questions, drawn with `seed`, each get one. The passage comes from the same title (the
    article, the product) when it has others, else from the whole list; at most `CANDIDATES` of them, drawn at
    random, are scored, and the one sharing most content words with the question wins: what retrieval hands QA when
    the question's own passage is missing. A passage holding any gold answer (normalised, as a substring) is never
    used, nor one longer than `MAX_PASSAGE_CHARS` (an unanswerable row keeps every window, and a paper would add
    dozens).
    """
    from slmesh.evaluation.squad import normalize_answer

    rng = random.Random(seed)
    # dicts keep the first-seen order, so a seed draws the same passages every run.
    by_title: dict[str, dict[str, None]] = defaultdict(dict)
    for row in rows:
        if len(row["context"]) <= MAX_PASSAGE_CHARS:
            by_title[row["title"]][row["context"]] = None
    everything = [c for contexts in by_title.values() for c in contexts]
    words = {c: _content_words(c) for c in everything}
    normalised = {c: normalize_answer(c) for c in everything}
    negatives = []
    for row in rows:
        gold = [normalize_answer(t) for t in row["answers"]["text"]]
        if not gold or rng.random() >= share:
            continue
        own = [c for c in by_title[row["title"]] if c != row["context"]]
        pool = own or everything
        pool = rng.sample(pool, CANDIDATES) if len(pool) > CANDIDATES else pool
        question = _content_words(row["question"])
        allowed = [c for c in pool if c != row["context"] and not any(g and g in normalised[c] for g in gold)]
        if not allowed:
            continue
        negatives.append(_unanswerable(row, max(allowed, key=lambda c: len(question & words[c])), "negative"))
    return negatives


RELATED_THINGS = (
    "a replica of",
    "a copy of",
    "a rival of",
    "the successor to",
    "the predecessor of",
    "an accessory for",
    "a spare part for",
    "a subsidiary of",
    "a smaller version of",
    "a competitor of",
    "the sister of",
    "a neighbour of",
    "a sequel to",
    "a model of",
)
"""What `related_thing_negatives` puts before the question's topic: after it the passage tells of another thing."""
DETERMINERS = frozenset({"the", "a", "an", "its", "his", "her", "their", "our", "this", "that"})
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _topic_mention(question: str, sentence: str, answer: tuple[int, int]) -> int | None:
    """Where, in `sentence`, the noun phrase naming the question's topic starts: the longest run of words the
    question shares with it, outside the answer, that follows a determiner or starts with a capital inside the
    sentence (a name) and holds a content word; its determiner included. None when there is no such run."""
    asked = {w.lower() for w in _WORD.findall(question)}
    words = list(_WORD.finditer(sentence))
    best: int | None = None
    best_len = 0
    for i, first in enumerate(words):
        if first.group().lower() not in asked or first.group().lower() in FUNCTION_WORDS:
            continue
        j = i
        while (
            j < len(words)
            and words[j].group().lower() in asked
            and (words[j].end() <= answer[0] or words[j].start() >= answer[1])
            and (j == i or words[j].start() - words[j - 1].end() <= 1)
        ):
            j += 1
        previous = words[i - 1].group() if i > 0 else ""
        gap = sentence[words[i - 1].end() : first.start()] if i > 0 else ""
        determined = previous.lower() in DETERMINERS and (i == 1 or not previous[0].isupper())
        # The start of a name, not a word inside one or inside a quoted title.
        named = bool(previous) and first.group()[0].isupper() and not previous[0].isupper() and gap == " "
        if (determined or named) and j - i > best_len:
            best, best_len = (words[i - 1].start() if determined else first.start()), j - i
    return best


def related_thing_negatives(rows: list[dict[str, Any]], share: float, seed: int) -> list[dict[str, Any]]:
    """Unanswerable rows made by rewriting the sentence that answers: the question's topic there becomes a related
    thing ("The Aurora X2 costs 199 euros" -> "A spare part for the Aurora X2 costs 199 euros").

    The answer's words stay in the passage, on the question's topic, next to the question's words: the attribute of a
    related thing, which a model trained only on passages that answer or are about something else reads as the
    answer. A `share` of the answerable questions, drawn with `seed`, are tried; one whose answer occurs more than
    once in its passage, or whose answering sentence shares no content word with it outside the answer, gets none.
    """
    rng = random.Random(seed)
    negatives = []
    for row in rows:
        texts, starts = row["answers"]["text"], row["answers"]["answer_start"]
        if not texts or rng.random() >= share:
            continue
        context, answer, start = row["context"], texts[0], starts[0]
        if not answer or context.lower().count(answer.lower()) != 1 or context[start : start + len(answer)] != answer:
            continue
        sentence_start = max((m.end() for m in _SENTENCE_END.finditer(context, 0, start)), default=0)
        found = _SENTENCE_END.search(context, start + len(answer))
        sentence_end = found.start() if found else len(context)
        sentence = context[sentence_start:sentence_end]
        local = (start - sentence_start, start - sentence_start + len(answer))
        mention = _topic_mention(row["question"], sentence, local)
        if mention is None:
            continue
        at = sentence_start + mention
        phrase = rng.choice(RELATED_THINGS)
        if at == sentence_start:
            # "The X2 costs" -> "A spare part for the X2 costs": only a determiner opens a sentence here.
            phrase = phrase[0].upper() + phrase[1:]
            context = context[:at] + context[at].lower() + context[at + 1 :]
        negatives.append(_unanswerable(row, f"{context[:at]}{phrase} {context[at:]}", "related"))
    return negatives


def default_rows(
    data_dir: Path,
    files: tuple[str, ...],
    negative_share: float = 0.0,
    seed: int = 13,
    related_share: float = 0.0,
) -> list[dict[str, Any]]:
    """The training files' rows (the Wikipedia dev articles left out), each of `NEGATIVE_FILES` followed by its
    same-topic negatives when `negative_share` is over 0 and its related-thing negatives when `related_share` is."""
    from slmesh.datasets_io import read_records

    rows: list[dict[str, Any]] = []
    for name in files:
        kept = [r for r in read_records(data_dir / name) if not (name == WIKI_FILE and in_wiki_dev(r))]
        rows += kept
        if name in NEGATIVE_FILES:
            rows += same_topic_negatives(kept, negative_share, seed) if negative_share > 0 else []
            rows += related_thing_negatives(kept, related_share, seed) if related_share > 0 else []
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
