"""One knowledge base on disk: its chunks, their vectors and a manifest naming the embedding model that made them.

An index folder holds `manifest.json`, `chunks.jsonl` (one chunk per line, in vector order) and `vectors.npy`
(float32, one unit row per chunk). Vectors from one model mean nothing to another, so an index is opened only with
the embedder whose model sha256 its manifest records; anything else is refused as stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slmesh.embedding import Embedder
from slmesh.kb.chunking import Chunk, ChunkingSettings, chunk_file, find_documents
from slmesh.kb.store import ExactStore, VectorStore

FORMAT: Literal[1] = 1
MANIFEST_FILE = "manifest.json"
CHUNKS_FILE = "chunks.jsonl"
VECTORS_FILE = "vectors.npy"
EMBED_BATCH = 64
"""Chunks per embedding call while ingesting: the progress callback is told after each."""

Progress = Callable[[int, int], None]
"""Called with (chunks embedded so far, chunks in all)."""


class InvalidIndexError(ValueError):
    """An index folder that is missing, incomplete or unreadable."""


class StaleIndexError(InvalidIndexError):
    """An index built with another embedding model than the one loaded: its vectors cannot be compared."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DocumentEntry(_Strict):
    source: str
    sha256: str
    chunks: int = Field(ge=0)


class Manifest(_Strict):
    format: Literal[1]
    embed_model_sha256: str = Field(min_length=1)
    dim: int = Field(gt=0)
    chunks: int = Field(ge=0)
    max_words: int = Field(gt=0)
    overlap_sentences: int = Field(ge=0)
    documents: list[DocumentEntry]
    built_at: str


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    """Cosine similarity of the chunk to the query."""


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ingest(
    paths: Sequence[Path],
    embedder: Embedder,
    out: Path,
    settings: ChunkingSettings | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Chunks and embeds every supported document under `paths` into the index folder `out`, replacing it whole.

    The folder is written beside `out` and renamed into place, so a reader never sees half an index.
    """
    settings = settings or ChunkingSettings()
    documents = find_documents(paths)
    chunks: list[Chunk] = []
    entries: list[DocumentEntry] = []
    for path, source in documents:
        found = chunk_file(path, source, settings)
        chunks += found
        entries.append(DocumentEntry(source=source, sha256=_file_sha256(path), chunks=len(found)))
    vectors = np.zeros((len(chunks), embedder.settings.dim), dtype=np.float32)
    for start in range(0, len(chunks), EMBED_BATCH):
        part = chunks[start : start + EMBED_BATCH]
        vectors[start : start + len(part)] = embedder.embed([c.embedded_text for c in part])
        if progress is not None:
            progress(start + len(part), len(chunks))
    manifest = Manifest(
        format=FORMAT,
        embed_model_sha256=embedder.sha256,
        dim=embedder.settings.dim,
        chunks=len(chunks),
        max_words=settings.max_words,
        overlap_sentences=settings.overlap_sentences,
        documents=entries,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        np.save(staging / VECTORS_FILE, vectors)
        with (staging / CHUNKS_FILE).open("w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
        (staging / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")
        if out.exists():
            retired = out.with_name(f".{out.name}-old-{os.getpid()}")
            out.rename(retired)
            staging.rename(out)
            shutil.rmtree(retired)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise InvalidIndexError(
            f"{folder} is not a knowledge base (no {MANIFEST_FILE}): build it with `slmesh kb ingest`"
        )
    try:
        return Manifest.model_validate_json(path.read_text())
    except (OSError, ValidationError) as exc:
        raise InvalidIndexError(f"{path} is not a readable manifest of format {FORMAT}") from exc


class KnowledgeBase:
    """An opened index: its chunks in memory, its vectors in a store, searched with the embedder that built them."""

    def __init__(self, folder: Path, manifest: Manifest, chunks: list[Chunk], store: VectorStore, embedder: Embedder):
        self.folder = folder
        self.manifest = manifest
        self.chunks = chunks
        self.store = store
        self.embedder = embedder

    @classmethod
    def open(cls, folder: Path, embedder: Embedder) -> KnowledgeBase:
        """The index in `folder`; refused (`StaleIndexError`) when another embedding model built it."""
        manifest = read_manifest(folder)
        if manifest.embed_model_sha256 != embedder.sha256:
            raise StaleIndexError(
                f"{folder} was built with embedding model {manifest.embed_model_sha256[:12]}, the loaded one is"
                f" {embedder.sha256[:12]}: run `slmesh kb ingest` again"
            )
        if manifest.dim != embedder.settings.dim:
            raise StaleIndexError(
                f"{folder} holds {manifest.dim}-d vectors, the embedder gives {embedder.settings.dim}"
            )
        try:
            with (folder / CHUNKS_FILE).open(encoding="utf-8") as handle:
                chunks = [Chunk(**json.loads(line)) for line in handle if line.strip()]
            store = ExactStore.load(folder / VECTORS_FILE)
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidIndexError(f"{folder}: its chunks or vectors cannot be read ({type(exc).__name__})") from exc
        if len(chunks) != manifest.chunks or len(store) != manifest.chunks:
            raise InvalidIndexError(
                f"{folder}: the manifest lists {manifest.chunks} chunks, the files hold {len(chunks)} and {len(store)}"
            )
        return cls(folder, manifest, chunks, store, embedder)

    def __len__(self) -> int:
        return len(self.chunks)

    def search_many(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """For each query, its `k` best chunks, best first."""
        if not queries or not self.chunks:
            return [[] for _ in queries]
        scores, rows = self.store.search(self.embedder.embed(queries), k)
        return [
            [Hit(self.chunks[int(r)], float(s)) for s, r in zip(line_scores, line_rows, strict=True)]
            for line_scores, line_rows in zip(scores, rows, strict=True)
        ]

    def search(self, query: str, k: int) -> list[Hit]:
        return self.search_many([query], k)[0]
