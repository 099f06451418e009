"""The knowledge base end to end with the served embedder: ingest, search, stale-index refusal, the relevance
threshold, and questions without a context answered from the demo documents with their source."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from slmesh.config import Settings
from slmesh.embedding import Embedder
from slmesh.kb.index import MANIFEST_FILE, InvalidIndexError, KnowledgeBase, StaleIndexError, ingest
from slmesh.kb.retrieval import Retriever
from slmesh.kb.store import ExactStore
from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelStore
from slmesh.schemas import AnalyzeRequest
from slmesh.skills.qa import QAResult

pytestmark = pytest.mark.unit

DEMO_KB = Path(__file__).resolve().parents[2] / "examples" / "kb"


@pytest.fixture(scope="module")
def embedder(model_store: ModelStore) -> Embedder:
    return Embedder.load(model_store)


@pytest.fixture(scope="module")
def demo_index(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kb") / "demo"
    ingest([DEMO_KB], embedder, out)
    return out


@pytest.fixture(scope="module")
def kb_pipeline(model_store: ModelStore, demo_index: Path) -> Iterator[Pipeline]:
    pipeline = Pipeline(model_store, retriever=Retriever(demo_index, model_store, top_k=4, min_score=0.35))
    yield pipeline
    pipeline.close()


def test_embeddings_are_unit_vectors_and_similar_texts_are_near(embedder: Embedder) -> None:
    vectors = embedder.embed(["The next train leaves at 14:35.", "When does the next train go?", "I like cheese."])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_ingest_writes_every_document_and_chunk(demo_index: Path, embedder: Embedder) -> None:
    kb = KnowledgeBase.open(demo_index, embedder)
    sources = {d.source for d in kb.manifest.documents}
    assert "station-history.md" in sources and len(sources) == 12
    assert len(kb) == kb.manifest.chunks == sum(d.chunks for d in kb.manifest.documents)
    assert kb.manifest.embed_model_sha256 == embedder.sha256


def test_search_finds_the_document_that_holds_the_answer(demo_index: Path, embedder: Embedder) -> None:
    hits = KnowledgeBase.open(demo_index, embedder).search("Which was the first train station in the city?", k=3)
    assert any(h.chunk.source == "station-history.md" and "1847" in h.chunk.text for h in hits[:2])
    assert hits[0].score >= hits[1].score >= hits[2].score


@pytest.fixture
def stale_index(demo_index: Path, tmp_path: Path) -> Path:
    """A copy of the demo index whose manifest names another embedding model."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in demo_index.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["embed_model_sha256"] = "0" * 64
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    return copy


def test_an_index_built_by_another_embedding_model_is_refused(stale_index: Path, embedder: Embedder) -> None:
    # Opening it is refused, naming what to do
    with pytest.raises(StaleIndexError, match="slmesh kb ingest"):
        KnowledgeBase.open(stale_index, embedder)


def test_a_stale_index_stops_the_pipeline_at_start_not_at_the_first_question(stale_index: Path) -> None:
    with pytest.raises(StaleIndexError, match="slmesh kb ingest"):
        Pipeline.from_settings(Settings(kb=stale_index))


def test_serve_refuses_to_start_on_a_stale_index_in_one_line(stale_index: Path) -> None:
    # When the server is started on it (port 0: it would bind any free port if it got that far)
    done = subprocess.run(
        [sys.executable, "-m", "slmesh.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--kb", str(stale_index)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then it exits before serving, with one line that says what to run
    assert done.returncode == 2, done.stdout + done.stderr
    assert "slmesh serving" not in done.stdout
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        line for line in done.stderr.splitlines() if "slmesh kb ingest" in line
    ]


def test_a_folder_without_an_index_is_refused(tmp_path: Path, embedder: Embedder) -> None:
    with pytest.raises(InvalidIndexError, match="not a knowledge base"):
        KnowledgeBase.open(tmp_path, embedder)


def test_ingest_replaces_an_index_whole(tmp_path: Path, embedder: Embedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Bikes\n\nFolding bikes travel free at all times.\n")
    out = tmp_path / "index"
    ingest([docs], embedder, out)
    (docs / "b.txt").write_text("Dogs travel free when kept on a lead.\n")
    manifest = ingest([docs], embedder, out)
    assert [d.source for d in manifest.documents] == ["a.md", "b.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_exact_store_ranks_by_inner_product_and_caps_k() -> None:
    vectors = np.eye(3, dtype=np.float32)
    scores, rows = ExactStore(vectors).search(np.array([[0.1, 0.9, 0.3]], dtype=np.float32), k=5)
    assert rows.tolist() == [[1, 2, 0]]
    assert scores[0, 0] == pytest.approx(0.9)


def test_retriever_gives_nothing_below_the_relevance_threshold(model_store: ModelStore, demo_index: Path) -> None:
    retriever = Retriever(demo_index, model_store, top_k=3, min_score=0.35)
    relevant, unrelated = retriever.passages(["Can I take my bicycle on the train?", "Who won the 1998 World Cup?"])
    assert relevant and relevant[0].source.path == "bicycles.md"
    assert unrelated == []


def _qa(pipeline: Pipeline, prompt: str) -> QAResult:
    response = pipeline.analyze(AnalyzeRequest(prompt=prompt))
    result = response.outcomes["qa"].result
    assert isinstance(result, QAResult)
    assert "retrieve" in response.timings_ms
    return result


def test_a_question_without_context_is_answered_from_the_knowledge_base_with_its_source(kb_pipeline: Pipeline) -> None:
    result = _qa(kb_pipeline, "Answer this question: when does the next train to Harbour Park arrive?")
    assert result.answer is not None and "14:35" in result.answer
    assert result.source is not None and result.source.path == "service-updates.md"
    assert result.evidence is not None and "14:35" in result.evidence


def test_a_yes_no_question_gets_the_sentence_that_settles_it(kb_pipeline: Pipeline) -> None:
    result = _qa(kb_pipeline, "Answer this: is Old Town the first train station in the city?")
    assert result.yes_no and result.evidence is not None and "1847" in result.evidence
    assert result.source is not None and result.source.path == "station-history.md"


def test_what_the_knowledge_base_does_not_hold_gets_i_dont_know(kb_pipeline: Pipeline) -> None:
    result = _qa(kb_pipeline, "Answer this question: who won the 1998 football World Cup?")
    assert result.answer is None and result.no_answer_reason == "not_in_knowledge_base"


def test_a_context_given_is_used_instead_of_the_knowledge_base(kb_pipeline: Pipeline) -> None:
    response = kb_pipeline.analyze(
        AnalyzeRequest(prompt="Answer this: who opened the bridge?", context="Clara Voss opened the bridge in 1901.")
    )
    result = response.outcomes["qa"].result
    assert isinstance(result, QAResult) and result.answer == "Clara Voss" and result.source is None
    assert "retrieve" not in response.timings_ms
