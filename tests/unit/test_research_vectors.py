"""The vector-search benchmark (`slmesh.research.vectors`): its generator is clustered and reproducible, and its
measurement rows are well formed on a tiny size; timings are never asserted."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from slmesh.research import vectors as bench

pytestmark = pytest.mark.unit

needs_faiss = pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="needs faiss: slmesh[ann]")


def test_the_generator_gives_unit_clustered_held_out_queries() -> None:
    points, queries = bench.clustered(500, 20, seed=3)
    assert points.shape == (500, 384) and queries.shape == (20, 384)
    assert points.dtype == queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1, atol=1e-5)
    scores = queries @ points.T
    nearest = scores.max(axis=1)
    # Clustered: each query has close neighbours and most points are unrelated; held out: no query is a copy.
    assert np.median(nearest) > 0.5
    assert abs(float(np.median(scores))) < 0.3
    assert nearest.max() < 0.999
    again = bench.clustered(500, 20, seed=3)
    np.testing.assert_array_equal(points, again[0])
    np.testing.assert_array_equal(queries, again[1])
    assert not np.array_equal(points, bench.clustered(500, 20, seed=4)[0])


def test_recall_counts_the_true_neighbours_found() -> None:
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert bench.recall_at(truth, truth) == 1.0
    assert bench.recall_at(np.array([[4, 3, 9, 9], [0, 0, 0, 0]]), truth) == 0.25


@needs_faiss
def test_measure_reports_exact_then_each_ef_search(tmp_path: Path) -> None:
    rows = bench.measure(500, 20, m=8, ef_construction=32, ef_search=(10, 50), threads=1)
    assert [(r["store"], r.get("ef_search")) for r in rows] == [("exact", None), ("hnsw", 10), ("hnsw", 50)]
    exact, *ann = rows
    assert exact["recall_at_10"] == 1.0 and exact["bytes"] == 500 * 384 * 4
    for row in ann:
        assert 0 < row["recall_at_10"] <= 1 and row["bytes"] > exact["bytes"]
        assert row["p95_ms"] >= row["p50_ms"] > 0 and row["build_s"] >= 0
    table = bench.markdown(rows).splitlines()
    assert len(table) == 2 + len(rows) and table[2].startswith("| 500 | exact |")

    out = tmp_path / "vectors.json"
    bench.main(["--sizes", "300", "--queries", "5", "--ef-search", "20", "--out", str(out)])
    assert [r["store"] for r in json.loads(out.read_text())] == ["exact", "hnsw"]
