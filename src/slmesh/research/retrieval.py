"""Retrieval quality on dev questions: `python -m slmesh.research.retrieval --data-dir ../shared/data`.

Every paragraph of a set goes into one exact index; each question should find its own paragraph. Recall@k is the
share of questions whose paragraph is among the k best. The relevance threshold is measured the same way: with its
paragraph in the index a question should be answered (best score at or over the threshold), with it removed it
should not (the best remaining paragraph belongs to another question, often on another article). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from slmesh.config import default_models_dir
from slmesh.datasets_io import read_records
from slmesh.embedding import Embedder
from slmesh.kb.store import ExactStore
from slmesh.runtime import ModelStore

SETS = {"qed_nq_dev": "qa/qed_nq/dev.jsonl.gz", "squadshifts_wiki": "qa/squadshifts_new_wiki/train.jsonl.gz"}
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def measure(embedder: Embedder, rows: list[dict[str, Any]], ks: tuple[int, ...] = (1, 3, 5)) -> dict[str, Any]:
    paragraphs = sorted({r["context"] for r in rows})
    number = {p: i for i, p in enumerate(paragraphs)}
    started = time.perf_counter()
    vectors = embedder.embed(paragraphs)
    ingest_s = time.perf_counter() - started
    questions = embedder.embed([r["question"] for r in rows])
    gold = np.array([number[r["context"]] for r in rows])
    scores, ids = ExactStore(vectors).search(questions, max(ks) + 1)
    found = ids == gold[:, None]
    recall = {f"recall@{k}": round(100 * float(found[:, :k].any(axis=1).mean()), 2) for k in ks}
    with_gold = scores[:, 0]
    # The best score once the gold paragraph is taken out: the first hit that is not it.
    without_gold = np.where(ids[:, 0] == gold, scores[:, 1], scores[:, 0])
    sweep = {}
    for t in THRESHOLDS:
        answered = float((with_gold >= t).mean())
        refused = float((without_gold < t).mean())
        sweep[str(t)] = {"answered_with_gold": round(100 * answered, 2), "refused_without": round(100 * refused, 2)}
    return {
        "questions": len(rows),
        "paragraphs": len(paragraphs),
        **recall,
        "threshold_sweep": sweep,
        "ingest_chunks_per_s": round(len(paragraphs) / ingest_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=2000, help="questions per set at most (the first N)")
    args = parser.parse_args()
    embedder = Embedder.load(ModelStore(args.models_dir or default_models_dir()))
    results = {}
    for name, file in SETS.items():
        rows = read_records(args.data_dir / file)[: args.limit]
        results[name] = measure(embedder, rows)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
