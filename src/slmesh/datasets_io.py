"""Reads the labelled data sets that training and `slmesh eval` use: JSON Lines (gzip too) and SQuAD JSON."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
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
