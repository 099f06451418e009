"""Exact search against the HNSW store (`slmesh.kb.ann`): build time, memory, latency and recall@10 by size.

The vectors are synthetic, shaped like sentence embeddings rather than uniform on the sphere (where every point is
about as far from every other and no index does well). `clustered` draws `round(sqrt(n))` clusters in 384-d; cluster
sizes follow a Dirichlet(1) draw, so a few topics are large and many small. Each centre is a random Gaussian direction
plus a share of one direction common to all (embeddings are anisotropic: unrelated sentences still score about 0.1).
A point is its centre plus a spread (drawn per cluster, 0.6 to 1.2) times a Gaussian in a random 24-d subspace of the
cluster (sentence embeddings have a low intrinsic dimension), plus 0.2 of isotropic noise, then normalised. Queries
are held-out points of the same mixture, never in the index, each perturbed by 0.1 of isotropic noise and normalised
again: a paraphrase of a chunk rather than the chunk. Nearest neighbours then score about 0.6 to 0.8, points of
unrelated clusters about 0.1, as MiniLM's do.

Latency is per query at batch 1 (how a question is answered), over every query, with one thread. Memory is what the
store holds: the float32 matrix for exact search, the library's own count (vectors and graph) for HNSW.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
K = 10
RANK = 24
COMMON = 0.45
NOISE = 0.2
QUERY_NOISE = 0.1


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def clustered(
    n: int, queries: int, *, dim: int = DIM, seed: int = 0, clusters: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`n` unit vectors to index and `queries` unit queries from the same mixture of clusters (module docstring)."""
    rng = np.random.default_rng(seed)
    total = n + queries
    count = clusters if clusters is not None else max(1, round(math.sqrt(n)))
    common = rng.standard_normal(dim)
    common /= np.linalg.norm(common)
    centres = _normalise(rng.standard_normal((count, dim)))
    centres = _normalise(centres + COMMON * common)
    spreads = rng.uniform(0.6, 1.2, count)
    labels = rng.choice(count, size=total, p=rng.dirichlet(np.ones(count)))
    out = np.empty((total, dim), dtype=np.float32)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        # Scaled so that the subspace part has norm about 1 and the isotropic part about NOISE.
        basis = rng.standard_normal((RANK, dim)) / math.sqrt(RANK * dim)
        local = rng.standard_normal((rows.size, RANK)) @ basis
        iso = rng.standard_normal((rows.size, dim)) * (NOISE / math.sqrt(dim))
        out[rows] = centres[c] + spreads[c] * local + iso
    _normalise(out)
    order = rng.permutation(total)
    vectors, held_out = out[order[:n]], out[order[n:]]
    held_out = held_out + rng.standard_normal(held_out.shape).astype(np.float32) * (QUERY_NOISE / math.sqrt(dim))
    return np.ascontiguousarray(vectors), _normalise(held_out.astype(np.float32))


def _blas_threads(threads: int) -> Any:
    """Caps NumPy's BLAS pool so exact search runs on as many threads as the index; threadpoolctl is optional."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """The share of each query's true top-k found among its returned k, averaged over queries."""
    if truth.size == 0:
        return 1.0
    hits = [np.intersect1d(f, t).size for f, t in zip(found, truth, strict=True)]
    return float(np.sum(hits) / truth.size)


def latency_ms(store: Any, queries: np.ndarray, k: int = K) -> tuple[float, float]:
    """p50 and p95 milliseconds of one query at a time, after one untimed warm-up query."""
    store.search(queries[:1], k)
    times = []
    for row in range(queries.shape[0]):
        start = time.perf_counter()
        store.search(queries[row : row + 1], k)
        times.append((time.perf_counter() - start) * 1e3)
    p50, p95 = np.percentile(times, [50, 95])
    return round(float(p50), 4), round(float(p95), 4)


def measure(
    size: int,
    queries: int,
    *,
    m: int = 16,
    ef_construction: int = 128,
    ef_search: Sequence[int] = (64,),
    threads: int = 1,
    build_threads: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row for exact search, then one per `ef_search` for the HNSW store, on `clustered(size, queries)`."""
    from slmesh.kb.ann import HnswStore
    from slmesh.kb.store import ExactStore

    vectors, probes = clustered(size, queries, seed=seed)
    common = {"size": size, "queries": queries, "dim": vectors.shape[1], "k": K, "threads": threads}
    with _blas_threads(threads):
        exact = ExactStore(vectors)
        _, truth = exact.search(probes, K)
        p50, p95 = latency_ms(exact, probes)
    rows: list[dict[str, Any]] = [
        {
            **common,
            "store": "exact",
            "build_s": 0.0,
            "bytes": int(exact.vectors.nbytes),
            "p50_ms": p50,
            "p95_ms": p95,
            "recall_at_10": 1.0,
        }
    ]
    start = time.perf_counter()
    ann = HnswStore.build(vectors, m=m, ef_construction=ef_construction, threads=build_threads or threads)
    build_s = round(time.perf_counter() - start, 2)
    ann.threads = threads
    for ef in ef_search:
        ann.ef_search = ef
        _, found = ann.search(probes, K)
        p50, p95 = latency_ms(ann, probes)
        rows.append(
            {
                **common,
                "store": "hnsw",
                "m": m,
                "ef_construction": ef_construction,
                "ef_search": ef,
                "build_threads": build_threads or threads,
                "build_s": build_s,
                "bytes": ann.nbytes,
                "p50_ms": p50,
                "p95_ms": p95,
                "recall_at_10": round(recall_at(found, truth), 4),
            }
        )
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table, one line per store and setting."""
    lines = [
        "| vectors | store | M / ef_c / ef_s | build s | memory MB | p50 ms | p95 ms | recall@10 |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        setting = f"{r['m']} / {r['ef_construction']} / {r['ef_search']}" if r["store"] == "hnsw" else "-"
        build = f"{r['build_s']:.1f}" if r["store"] == "hnsw" else "-"
        lines.append(
            f"| {r['size']:,} | {r['store']} | {setting} | {build} | {r['bytes'] / 1e6:.1f} | {r['p50_ms']:.3f} "
            f"| {r['p95_ms']:.3f} | {r['recall_at_10']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m slmesh.research.vectors", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="threads per search (exact and HNSW)")
    parser.add_argument("--build-threads", type=int, default=None, help="threads for the graph build (--threads)")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=128)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[64])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the rows")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        measured = measure(
            size,
            args.queries,
            m=args.m,
            ef_construction=args.ef_construction,
            ef_search=args.ef_search,
            threads=args.threads,
            build_threads=args.build_threads,
            seed=args.seed,
        )
        for row in measured:
            print(json.dumps(row), flush=True)
        rows += measured
    print(markdown(rows))
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
