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


def require_fields(rows: list[dict[str, Any]], fields: tuple[str, ...], path: Path) -> None:
    for number, row in enumerate(rows, start=1):
        missing = [f for f in fields if f not in row]
        if missing:
            raise ValueError(f"{path}: record {number} lacks field(s) {', '.join(missing)}")


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
    from 1, as `require_fields` does)."""
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
