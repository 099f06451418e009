"""The retrieval step: a question sent without a context gets the knowledge base's best passages, or none when
even the best is not similar enough to hold its answer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from slmesh.embedding import Embedder
from slmesh.kb.index import KnowledgeBase
from slmesh.lazy import Once
from slmesh.runtime import ModelSource
from slmesh.schemas import Passage, Source
from slmesh.skills.qa import question_focus

BAND = 0.05
"""Passages scoring more than this under the best one are left out: QA's span margins are not comparable across
passages, and a confident span in a weaker passage would otherwise beat the passage the question is about."""


class Retriever:
    """One knowledge base, opened (and checked against the embedder) on first use and kept for the process."""

    def __init__(self, folder: Path, models: ModelSource, top_k: int, min_score: float) -> None:
        self.folder = folder
        self.top_k = top_k
        self.min_score = min_score
        self._kb = Once(lambda: KnowledgeBase.open(folder, Embedder.load(models)))

    @property
    def knowledge_base(self) -> KnowledgeBase:
        return self._kb.get()

    def open(self) -> Retriever:
        """Opens the knowledge base now; raises `InvalidIndexError` (`StaleIndexError` included) for one that cannot
        be served."""
        self._kb.get()
        return self

    def passages(self, questions: Sequence[str]) -> list[list[Passage]]:
        """Per question, up to `top_k` passages best first, within `BAND` of the best; none when the best scores
        under `min_score`."""
        found: list[list[Passage]] = []
        # A subject that ends in a question after other clauses (a complaint, then the question) is searched by the
        # question alone: the rest matches passages about the complaint.
        for hits in self.knowledge_base.search_many([question_focus(q) for q in questions], self.top_k):
            if not hits or hits[0].score < self.min_score:
                found.append([])
                continue
            found.append(
                [
                    Passage(
                        text=h.chunk.text,
                        source=Source(path=h.chunk.source, heading=h.chunk.heading, score=round(h.score, 4)),
                    )
                    for h in hits
                    if h.score >= hits[0].score - BAND
                ]
            )
        return found
