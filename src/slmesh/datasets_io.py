"""Reads the labelled data sets that training and `slmesh eval` use: JSON Lines (gzip too) and SQuAD JSON."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON: {exc.msg}") from exc


def _squad_json(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield {
                    "id": qa["id"],
                    "title": article.get("title", ""),
                    "context": paragraph["context"],
                    "question": qa["question"],
                    "answers": {
                        "text": [a["text"] for a in qa.get("answers", [])],
                        "answer_start": [a["answer_start"] for a in qa.get("answers", [])],
                    },
                }


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl/.jsonl.gz file, or the questions of a SQuAD v1.1/v2 JSON file."""
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        return list(iter_jsonl(path))
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if isinstance(data, dict) and "data" in data:
        return list(_squad_json(data))
    raise ValueError(f"{path}: expected JSON Lines or a SQuAD-style JSON document")


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {_kind(value)}")
    return value


def _label(value: Any) -> Any:
    # An integer class index or a class name; which ones the model has is the skill's measure to check.
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise ValueError(f"must be a class index (0, 1, ...) or a label name, got {_kind(value)}")
    return value


def _answers(value: Any) -> dict[str, Any]:
    """SQuAD's {"text": [...], "answer_start": [...]}, a list of strings, or a list of {"text": ...} objects."""
    if isinstance(value, dict) and isinstance(value.get("text"), list):
        texts = value["text"]
    elif isinstance(value, list):
        texts = [a.get("text") if isinstance(a, dict) else a for a in value]
    else:
        texts = None
    if texts is None or not all(isinstance(t, str) for t in texts):
        raise ValueError(
            'must be {"text": ["..."], "answer_start": [...]}, a list of strings or a list of {"text": "..."}, '
            f"got {_kind(value)}"
        )
    return {**value, "text": texts} if isinstance(value, dict) else {"text": texts}


def _tasks(value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError(f"must be a list of skill names, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


_FIELDS = {
    "text": _text,
    "question": _text,
    "context": _text,
    "prompt": _text,
    "label": _label,
    "answers": _answers,
    "tasks": _tasks,
}
"""How `slmesh eval` reads each field a measure names: a bad value is an error naming the record and the field."""


def check_rows(rows: list[dict[str, Any]], fields: tuple[str, ...], path: Path) -> list[dict[str, Any]]:
    """The rows with `fields` checked (and `answers` in one shape); raises ValueError naming the first bad record."""
    if not rows:
        raise ValueError(f"{path}: no records to measure")
    checked = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: record {number} is not a JSON object")
        missing = [f for f in fields if f not in row]
        if missing:
            raise ValueError(f"{path}: record {number} lacks field(s) {', '.join(missing)}")
        fixed = dict(row)
        for field in fields:
            read = _FIELDS.get(field)
            if read is not None:
                try:
                    fixed[field] = read(row[field])
                except ValueError as exc:
                    raise ValueError(f"{path}: record {number}: {field!r} {exc}") from exc
        checked.append(fixed)
    return checked


SENTIMENT_CLASSES = ("negative", "neutral", "positive")
"""The three-class files' labels (strings); binary files label 0 = negative, 1 = positive."""
BINARY_CLASSES = ("negative", "positive")


def sentiment_class(label: Any) -> tuple[str, bool]:
    """A sentiment row's label as a class name, and whether it came from a binary (0/1) file."""
    # bool is an int in Python; a JSON true is no label of either kind.
    if isinstance(label, int) and not isinstance(label, bool) and label in (0, 1):
        return BINARY_CLASSES[label], True
    if isinstance(label, str) and label in SENTIMENT_CLASSES:
        return label, False
    raise ValueError(f"label {label!r} is neither 0/1 nor one of {', '.join(SENTIMENT_CLASSES)}")


def sentiment_classes(rows: Sequence[dict[str, Any]]) -> tuple[list[str], bool]:
    """Every row's class name, and whether the rows are binary; one kind of label per file ("record N" counts rows
    from 1, as `check_rows` does)."""
    names: list[str] = []
    kinds: set[bool] = set()
    for number, row in enumerate(rows, start=1):
        try:
            name, binary = sentiment_class(row["label"])
        except ValueError as exc:
            raise ValueError(f"record {number}: {exc}") from None
        kinds.add(binary)
        if len(kinds) > 1:
            raise ValueError(f"record {number}: a {'0/1' if binary else 'string'} label among labels of the other kind")
        names.append(name)
    return names, kinds == {True}
