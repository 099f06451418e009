"""The HNSW store (`slmesh.kb.ann`) answers as the exact store does on clustered vectors, and keeps `VectorStore`'s
shapes at the edges. Needs the `ann` extra (faiss); without it only the install hint is checked."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from slmesh.kb.ann import HnswStore
from slmesh.kb.store import ExactStore
from slmesh.research.vectors import clustered, recall_at

pytestmark = pytest.mark.unit

needs_faiss = pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="needs faiss: slmesh[ann]")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return clustered(3000, 100, seed=7)


@pytest.fixture(scope="module")
def store(data: tuple[np.ndarray, np.ndarray]) -> HnswStore:
    if importlib.util.find_spec("faiss") is None:
        pytest.skip("needs faiss: slmesh[ann]")
    return HnswStore.build(data[0], m=16, ef_construction=64, threads=1)


@needs_faiss
def test_recall_at_10_against_exact_search(data: tuple[np.ndarray, np.ndarray], store: HnswStore) -> None:
    vectors, queries = data
    exact_scores, truth = ExactStore(vectors).search(queries, 10)
    scores, found = store.search(queries, 10)
    assert found.shape == truth.shape == (100, 10)
    assert found.dtype == np.int64 and scores.dtype == np.float32
    assert recall_at(found, truth) >= 0.95
    # Best first, and the scores are true inner products of the returned rows.
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, vectors[found]), atol=1e-5)
    assert np.all(scores[:, 0] <= exact_scores[:, 0] + 1e-6)


@needs_faiss
def test_save_and_load_give_the_same_answers(
    data: tuple[np.ndarray, np.ndarray], store: HnswStore, tmp_path: Path
) -> None:
    store.ef_search = 40
    path = tmp_path / "chunks.hnsw"
    store.save(path)
    loaded = HnswStore.load(path, threads=1)
    assert len(loaded) == len(store) == 3000
    assert loaded.dim == 384 and loaded.ef_search == 40
    for a, b in zip(store.search(data[1], 10), loaded.search(data[1], 10), strict=True):
        np.testing.assert_array_equal(a, b)


@needs_faiss
def test_k_beyond_the_size_returns_every_vector() -> None:
    vectors, queries = clustered(50, 3, seed=1)
    small = HnswStore.build(vectors, threads=1)
    scores, ids = small.search(queries, 80)
    assert scores.shape == ids.shape == (3, 50)
    assert all(sorted(row) == list(range(50)) for row in ids.tolist())
    _, exact = ExactStore(vectors).search(queries, 80)
    np.testing.assert_array_equal(ids[:, :5], exact[:, :5])


@needs_faiss
def test_empty_queries_and_empty_index_keep_the_shapes(store: HnswStore) -> None:
    scores, ids = store.search(np.zeros((0, 384), dtype=np.float32), 10)
    assert scores.shape == ids.shape == (0, 10)
    assert ids.dtype == np.int64
    scores, ids = store.search(np.zeros((2, 384), dtype=np.float32), 0)
    assert scores.shape == ids.shape == (2, 0)
    empty = HnswStore.build(np.zeros((0, 384), dtype=np.float32), threads=1)
    assert len(empty) == 0
    assert empty.search(np.ones((1, 384), dtype=np.float32), 5)[1].shape == (1, 0)


@needs_faiss
def test_a_query_of_the_wrong_dimension_is_refused(store: HnswStore) -> None:
    with pytest.raises(ValueError, match=r"queries have 128 dimensions, the index holds 384-d vectors"):
        store.search(np.ones((1, 128), dtype=np.float32), 10)
    with pytest.raises(ValueError, match="2-d"):
        HnswStore.build(np.ones(384, dtype=np.float32))
    with pytest.raises(ValueError, match="at least 1"):
        store.ef_search = 0


def test_without_faiss_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"pip install 'slmesh\[ann\]'"):
        HnswStore.build(np.ones((2, 4), dtype=np.float32))
