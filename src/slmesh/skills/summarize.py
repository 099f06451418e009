"""Extractive summaries: the text's most central sentences, least like each other, in the order the text gives them.

Centrality is a sentence's mean cosine similarity to the text's other sentences (degree centrality over sentence
embeddings, LexRank without the power iteration); maximal marginal relevance trades it against similarity to the
sentences already chosen, so a summary does not repeat itself. No model is trained for this: the embedder is the
base model as it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from slmesh.budget import MAX_CONTEXT_TOKENS, InputTooLarge
from slmesh.embedding import EMBED_MODEL, Embedder, EmbedSettings
from slmesh.kb.chunking import split_sentences
from slmesh.runtime import ModelBundle
from slmesh.schemas import SkillResult, SkillTask
from slmesh.skills.base import Skill

MAX_SENTENCES = 3
MAX_WORDS = 60
"""The default length budget: at most this many sentences and this many words, whichever is reached first."""
MMR_LAMBDA = 0.7
"""Weight of centrality against redundancy: 1 ranks by centrality alone, lower values favour coverage."""
ELLIPSIS = "…"
_MARKUP = re.compile(r"^[ \t]{0,3}(?:(#{1,6})[ \t]+(.*)|(?:[-*+]|\d{1,3}[.)])[ \t]+)", re.MULTILINE)
_INLINE_HEADING = re.compile(r"[ \t]+#{2,6}[ \t]+")
"""A heading marker inside a line: a Markdown document whose line breaks were lost."""
HEADING_WORDS = 12
"""A Markdown heading line of at most this many words is a title, not a sentence; a longer one is text whose line
happens to start with '#' (a document pasted into one line)."""


class SummaryResult(SkillResult):
    summary: str = Field(
        description="The chosen sentences in document order, joined; empty when the text is empty or already within"
        " the budget (`no_summary_reason`)."
    )
    sentences: list[str] = Field(description="The chosen sentences, in document order.")
    positions: list[int] = Field(description="Each chosen sentence's index among the text's sentences (from 0).")
    words: int = Field(ge=0, description="Words in the summary.")
    source_sentences: int = Field(ge=0, description="Sentences in the text that was summarised.")
    source_words: int = Field(ge=0, description="Words in the text that was summarised.")
    read: Literal["subject", "context"] = Field(description="Which text was summarised.")
    truncated: bool = Field(
        default=False, description="The best sentence alone was over the word budget and was cut to it."
    )
    max_words: int = Field(gt=0, description="The word budget the summary was made for.")
    no_summary_reason: Literal["no_text", "within_budget"] | None = Field(
        default=None, description="Why the summary is empty: there was no text, or it is no longer than the budget."
    )


def _unmark(match: re.Match[str]) -> str:
    if match.group(1) is None:
        return "\n\n"
    line = match.group(2)
    return "\n\n" if len(line.split()) <= HEADING_WORDS else f"\n\n{line}"


def sentences_of(text: str) -> list[str]:
    """The text's sentences: Markdown titles left out, each list item a sentence of its own."""
    return split_sentences(_INLINE_HEADING.sub("\n\n", _MARKUP.sub(_unmark, text)))


def centrality(similarity: np.ndarray) -> np.ndarray:
    """Each sentence's mean similarity to the others (a lone sentence is fully central)."""
    n = similarity.shape[0]
    if n == 1:
        return np.ones(1, dtype=np.float64)
    result: np.ndarray = (similarity.sum(axis=1) - np.diag(similarity)) / (n - 1)
    return result


def select(
    similarity: np.ndarray,
    lengths: Sequence[int],
    max_sentences: int = MAX_SENTENCES,
    max_words: int = MAX_WORDS,
    mmr_lambda: float = MMR_LAMBDA,
) -> list[int]:
    """The positions of the chosen sentences in document order: the best by maximal marginal relevance that still
    fit the budget, until it is full or nothing left fits. Empty when no sentence fits on its own."""
    central = centrality(similarity)
    chosen: list[int] = []
    words = 0
    left = set(range(len(lengths)))
    while left and len(chosen) < max_sentences:
        fitting = [i for i in left if words + lengths[i] <= max_words]
        if not fitting:
            break
        redundancy = {i: max((similarity[i, j] for j in chosen), default=0.0) for i in fitting}
        best = max(fitting, key=lambda i: (mmr_lambda * central[i] - (1 - mmr_lambda) * redundancy[i], -i))
        chosen.append(best)
        words += lengths[best]
        left.discard(best)
    return sorted(chosen)


class SummarizeSkill(Skill[EmbedSettings, SummaryResult]):
    name: ClassVar[str] = "summarize"
    title: ClassVar[str] = "summarisation"
    resource: ClassVar[str] = "Summarize"
    model: ClassVar[str | None] = EMBED_MODEL
    settings_model = EmbedSettings
    result_model = SummaryResult

    def __init__(
        self,
        settings: EmbedSettings,
        bundle: ModelBundle | None = None,
        max_sentences: int = MAX_SENTENCES,
        max_words: int = MAX_WORDS,
    ) -> None:
        super().__init__(settings, bundle)
        self.max_sentences = max_sentences
        self.max_words = max_words
        self._embedder = Embedder(settings, self.bundle) if bundle is not None else None

    def _source(self, task: SkillTask) -> tuple[str, Literal["subject", "context"]]:
        """The context when the router sends the skill there, or when the subject already fits the budget (a
        prompt such as "summarise the passage" sent with one): a text that short is not worth summarising."""
        context = task.context
        if (
            context is not None
            and context.strip()
            and (task.target == "context" or len(task.subject.split()) <= self.max_words)
        ):
            return context, "context"
        return task.subject, "subject"

    def check(self, tasks: Sequence[SkillTask]) -> None:
        for task in tasks:
            self._check_tokens(*self._source(task))

    def _check_tokens(self, text: str, field: str) -> None:
        # A token covers at least one character: a text shorter than the limit cannot be over it.
        if self._embedder is None or len(text) <= MAX_CONTEXT_TOKENS:
            return
        tokens = len(self.bundle.tokenizer.encode(text, add_special_tokens=False).ids)
        if tokens > MAX_CONTEXT_TOKENS:
            raise InputTooLarge(field, tokens, MAX_CONTEXT_TOKENS, self.name)

    def _similarity(self, sentences: list[str]) -> np.ndarray:
        if self._embedder is None:
            raise RuntimeError("the summarise skill needs the embedding model for a text over its budget")
        vectors = self._embedder.embed(sentences).astype(np.float64)
        result: np.ndarray = vectors @ vectors.T
        return result

    def summarize(self, text: str, read: Literal["subject", "context"] = "context") -> SummaryResult:
        self._check_tokens(text, read)
        sentences = sentences_of(text)
        lengths = [len(s.split()) for s in sentences]
        shape = {"source_sentences": len(sentences), "source_words": sum(lengths), "read": read}
        if not sentences or (len(sentences) <= self.max_sentences and sum(lengths) <= self.max_words):
            # A text that already fits is not repeated back: when the router found no text of its own the subject
            # is the instruction itself ("tl;dr of the charter please").
            reason: Literal["no_text", "within_budget"] = "within_budget" if sentences else "no_text"
            return SummaryResult(
                summary="",
                sentences=[],
                positions=[],
                words=0,
                max_words=self.max_words,
                no_summary_reason=reason,
                **shape,  # type: ignore[arg-type]
            )
        similarity = self._similarity(sentences)
        positions = select(similarity, lengths, self.max_sentences, self.max_words)
        picked = [sentences[i] for i in positions]
        truncated = not positions
        if truncated:
            best = int(centrality(similarity).argmax())
            positions = [best]
            picked = [" ".join(sentences[best].split()[: self.max_words]) + ELLIPSIS]
        summary = " ".join(picked)
        return SummaryResult(
            summary=summary,
            sentences=picked,
            positions=positions,
            words=len(summary.split()),
            truncated=truncated,
            max_words=self.max_words,
            **shape,  # type: ignore[arg-type]
        )

    def run(self, tasks: Sequence[SkillTask]) -> list[SummaryResult]:
        return [self.summarize(*self._source(task)) for task in tasks]

    @classmethod
    def describe(cls, result: SummaryResult) -> str:
        if result.no_summary_reason == "no_text":
            return "There is no text to summarise: send it as the context, or after the instruction."
        if result.no_summary_reason == "within_budget":
            where = " (to summarise a document, send it as the context)" if result.read == "subject" else ""
            return (
                f"Nothing to shorten: the text is {result.source_words} words, within the summary's"
                f" {result.max_words}{where}."
            )
        return f"In short: {result.summary}"
