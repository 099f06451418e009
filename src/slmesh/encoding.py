"""Turns text into padded numpy feeds for BERT-style ONNX models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer


def head_tail_positions(length: int, max_length: int, head: int) -> list[int]:
    """Which positions of a `length`-token sequence `head_tail` keeps, in order."""
    if length <= max_length:
        return list(range(length))
    head = min(head, max_length - 1)
    return [*range(head), *range(length - (max_length - head), length)]


def head_tail(ids: list[int], max_length: int, head: int) -> list[int]:
    """Keeps the first `head` and the last tokens of a long sequence; [CLS] and [SEP] survive.

    Long reviews put their verdict at the end as often as at the start, so both ends carry signal.
    """
    return [ids[p] for p in head_tail_positions(len(ids), max_length, head)]


def windows(ids: list[int], max_length: int) -> list[list[int]]:
    """Every `max_length` window of a long sequence, each overlapping the next by half, each with [CLS] and [SEP].

    Averaging the windows' logits reads a whole review, not only its ends.
    """
    if len(ids) <= max_length:
        return [ids]
    body, width = ids[1:-1], max_length - 2
    step = max(width // 2, 1)
    return [ids[:1] + body[start : start + width] + ids[-1:] for start in range(0, len(body) - width + step, step)]


def pad_batch(rows: Sequence[Sequence[int]], type_rows: Sequence[Sequence[int]] | None = None) -> dict[str, np.ndarray]:
    width = max((len(r) for r in rows), default=1) or 1
    input_ids = np.zeros((len(rows), width), dtype=np.int64)
    attention = np.zeros((len(rows), width), dtype=np.int64)
    token_types = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
        attention[i, : len(row)] = 1
        if type_rows is not None:
            token_types[i, : len(row)] = type_rows[i]
    return {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": token_types}


def windowing_tokenizer(tokenizer: Tokenizer, max_length: int, stride: int) -> Tokenizer:
    """A private copy set to cut question + context into windows that overlap by `stride` tokens.

    A copy, because truncation settings live on the tokenizer and the shared one serves other threads.
    """
    windowed = type(tokenizer).from_str(tokenizer.to_str())
    windowed.no_padding()
    windowed.enable_truncation(max_length=max_length, stride=stride, strategy="only_second")
    return windowed


def encode_windows(windowed: Tokenizer, question: str, context: str) -> list[Encoding]:
    # encode_batch lets go of the GIL while it works (encode does not): a long context then stalls no other request.
    first = windowed.encode_batch([(question, context)])[0]
    return [first, *first.overflowing]


def clip_question(tokenizer: Tokenizer, question: str, max_tokens: int) -> str:
    """Cuts an overlong question so that windows still have room for context."""
    encoding = tokenizer.encode(question, add_special_tokens=False)
    if len(encoding.ids) <= max_tokens:
        return question
    return question[: encoding.offsets[max_tokens - 1][1]]
