"""Approximate search for large knowledge bases: an HNSW graph (faiss's `IndexHNSWFlat`) behind `VectorStore`.

faiss is an optional extra (`pip install 'slmesh[ann]'`), imported only when a store is built or loaded. It was
chosen over hnswlib (no binary wheels) and usearch (slower to build and to search at the same recall) by
`python -m slmesh.research.vectors`. Vectors are stored in float32, unquantised, so scores are exact inner products;
only which vectors are visited is approximate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np

INSTALL_HINT = "approximate search needs faiss: pip install 'slmesh[ann]'"


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return faiss


def _unit_rows(vectors: np.ndarray, what: str) -> np.ndarray:
    if vectors.ndim != 2:
        raise ValueError(f"{what} must be a 2-d array, got shape {vectors.shape}")
    return np.ascontiguousarray(vectors, dtype=np.float32)


class HnswStore:
    """Unit vectors in an HNSW graph, searched by inner product; row numbers are the order of `build`'s rows.

    `ef_search` is how many candidates a search keeps (at least `k`): higher finds more true neighbours, slower.
    `threads` caps faiss's OpenMP threads during search (None leaves faiss's setting, which is process-wide).
    """

    def __init__(self, index: Any, *, threads: int | None = None) -> None:
        self._index = index
        self.threads = threads

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        *,
        m: int = 16,
        ef_construction: int = 128,
        ef_search: int = 64,
        threads: int | None = None,
    ) -> Self:
        """The graph over `vectors` (rows of unit float32); `m` links per node, `ef_construction` candidates per
        insertion. `threads` None uses every core faiss sees."""
        faiss = _faiss()
        vectors = _unit_rows(vectors, "vectors")
        index = faiss.IndexHNSWFlat(int(vectors.shape[1]), m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
        if threads is not None:
            faiss.omp_set_num_threads(threads)
        if len(vectors):
            index.add(vectors)
        return cls(index, threads=threads)

    def save(self, path: Path) -> None:
        """One file holding vectors, graph and `ef_search`."""
        _faiss().write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, *, threads: int | None = None) -> Self:
        faiss = _faiss()
        if not Path(path).is_file():
            raise FileNotFoundError(path)
        return cls(faiss.read_index(str(path)), threads=threads)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def ef_search(self) -> int:
        return int(self._index.hnsw.efSearch)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"ef_search must be at least 1, got {value}")
        self._index.hnsw.efSearch = value

    @property
    def nbytes(self) -> int:
        """Memory held by the index: the float32 vectors plus the graph's tables (within bytes of the file size)."""
        hnsw = self._index.hnsw
        vectors = len(self) * self.dim * 4
        return vectors + int(hnsw.neighbors.size()) * 4 + int(hnsw.offsets.size()) * 8 + int(hnsw.levels.size()) * 4

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.ndim != 2:
            raise ValueError(f"queries must be a 2-d array, got shape {queries.shape}")
        if queries.shape[1] != self.dim:
            raise ValueError(f"queries have {queries.shape[1]} dimensions, the index holds {self.dim}-d vectors")
        k = min(k, len(self))
        if k <= 0 or queries.shape[0] == 0:
            shape = (queries.shape[0], max(k, 0))
            return np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.int64)
        if self.threads is not None:
            _faiss().omp_set_num_threads(self.threads)
        # faiss searches at least k candidates (ef = max(efSearch, k)), so k up to len() is filled; a node the
        # graph cannot reach would come back as id -1 with score -FLT_MAX.
        scores, ids = self._index.search(np.ascontiguousarray(queries), k)
        return scores.astype(np.float32, copy=False), ids.astype(np.int64, copy=False)
