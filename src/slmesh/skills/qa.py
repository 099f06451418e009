"""Extractive question answering over contexts of any length: a span of the context, or no answer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field

from slmesh.budget import MAX_CONTEXT_TOKENS, InputTooLarge, calls
from slmesh.encoding import clip_question, encode_windows, pad_batch, windowing_tokenizer
from slmesh.evaluation.measure import Measure
from slmesh.evaluation.metrics import evaluate_qa
from slmesh.kb.chunking import split_sentences
from slmesh.runtime import ModelBundle
from slmesh.schemas import Passage, SkillResult, SkillTask, Source, Target
from slmesh.skills.base import CardSettings, Skill
from slmesh.skills.spans import Decoded, Window, best_span

if TYPE_CHECKING:
    from tokenizers import Encoding


class QASettings(CardSettings):
    max_length: int = Field(gt=8)
    stride: int = Field(ge=0)
    max_question_tokens: int = Field(default=64, gt=0)
    max_answer_tokens: int = Field(default=30, gt=0)
    null_threshold: float = 0.0
    """Margin the best span's score must have over the no-answer score ([CLS]) to be given as the answer."""
    retrieved_null_threshold: float | None = None
    """The margin a span of a retrieved passage needs instead (None: `null_threshold`). A context the user sends is
    meant to hold the answer; a retrieved passage is only the knowledge base's nearest text, often on the question's
    topic without its answer, and the best of several passages is taken (docs/retrieval.md has the measurements)."""
    yes_no_threshold: float = 0.0
    """The margin above which a yes/no question below `null_threshold` still gets the sentence its best span lies in
    as evidence: span models score such questions low, the passage may still settle them."""


YES_NO_OPENERS = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "am",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "has",
        "have",
        "had",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "don't",
        "doesn't",
        "didn't",
        "can't",
        "couldn't",
        "won't",
        "wouldn't",
        "shouldn't",
        "hasn't",
        "haven't",
    ]
)
"""First words of a question answered by yes or no, which a span model cannot say: such a question gets the
passage's sentence instead."""

NoAnswerReason = Literal["no_context", "below_threshold", "not_in_knowledge_base", "yes_no_question"]


POLITE_ASKS = re.compile(r"^\W*(would|could|can|will)\s+you\s+(please\s+)?(mind|tell|let|show|give|explain|say|help)\b")
"""'Would you mind telling me the time...' asks for the time, not for a yes."""


def question_focus(subject: str) -> str:
    """The question a subject ends with: 'It's been late three times, is the train coming at all?' -> 'is the train
    coming at all?'; the whole subject when it is one clause or does not end in a question."""
    text = subject.strip().strip("\"'“”")
    if not text.endswith("?"):
        return text
    clauses = [c for c in re.split(r"(?<=[,.;!?])\s+", text[:-1]) if c.strip()]
    last = clauses[-1].strip() + "?" if clauses else text
    return last if len(last.split()) >= 4 else text


def is_yes_no(question: str) -> bool:
    focus = question_focus(question).lower().replace("’", "'")
    words = focus.split()
    # "Did you know (that) X?" asks whether X holds, as does "do you know if X".
    return bool(words) and words[0].strip("\"'“(") in YES_NO_OPENERS and not POLITE_ASKS.match(focus)


def evidence_sentence(text: str, start: int, end: int) -> str:
    """The sentence of `text` that holds the span [start, end) (the sentences around it when it crosses one)."""
    before = text.rfind("\n\n", 0, start)
    after = text.find("\n\n", end)
    block = text[before + 1 if before >= 0 else 0 : after if after >= 0 else len(text)]
    base = before + 1 if before >= 0 else 0
    held: list[str] = []
    cursor = 0
    for sentence in split_sentences(block):
        found = block.find(sentence.split(" ", 1)[0], cursor)
        begin = found if found >= 0 else cursor
        finish = begin + len(sentence)
        cursor = max(cursor, finish)
        if base + begin < end and base + finish > start:
            held.append(sentence)
    return " ".join(held) or text[start:end]


class QAResult(SkillResult):
    answer: str | None = Field(description="The extracted span, or null when there is no answer.")
    score: float = Field(ge=0.0, le=1.0, description="Probability of the span within its window.")
    start: int | None = Field(
        default=None,
        description="Character offset of the answer in the context, or in the prompt when the question's passage was"
        " pasted in it (null for a retrieved passage).",
    )
    end: int | None = Field(default=None, description="Character offset one past the answer's end.")
    evidence: str | None = Field(
        default=None,
        description="The sentence that holds the answer; for a yes/no question, the sentence that bears on it.",
    )
    source: Source | None = Field(
        default=None, description="The knowledge-base passage the answer or evidence comes from (no context sent)."
    )
    yes_no: bool = Field(
        default=False,
        description="The question asks yes or no, which a span cannot say: the evidence is the reply, the span only"
        " locates it.",
    )
    no_answer_reason: NoAnswerReason | None = None


class QASkill(Skill[QASettings, QAResult]):
    name: ClassVar[str] = "qa"
    title: ClassVar[str] = "question answering"
    resource: ClassVar[str] = "QA"
    model: ClassVar[str | None] = "qa"
    fixed_target: ClassVar[Target | None] = "both"
    retrieves: ClassVar[bool] = True
    settings_model = QASettings
    measure = Measure(("question", "context", "answers"), evaluate_qa)
    result_model = QAResult

    def __init__(self, settings: QASettings, bundle: ModelBundle | None = None) -> None:
        super().__init__(settings, bundle)
        self._windowed = windowing_tokenizer(self.bundle.tokenizer, settings.max_length, settings.stride)

    def _windows(self, question: str, context: str) -> list[Encoding]:
        question = clip_question(self.bundle.tokenizer, question, self.settings.max_question_tokens)
        windows = encode_windows(self._windowed, question, context)
        # Each window after the first repeats `stride` context tokens of the one before it.
        in_context = [sum(1 for s in w.sequence_ids if s == 1) for w in windows]
        tokens = in_context[0] + sum(n - self.settings.stride for n in in_context[1:])
        if tokens > MAX_CONTEXT_TOKENS:
            raise InputTooLarge("context", tokens, MAX_CONTEXT_TOKENS, self.name)
        return windows

    def check(self, tasks: Sequence[SkillTask]) -> None:
        for task in tasks:
            if task.context:
                tokens = len(self.bundle.tokenizer.encode_batch([task.context], add_special_tokens=False)[0].ids)
                if tokens > MAX_CONTEXT_TOKENS:
                    raise InputTooLarge("context", tokens, MAX_CONTEXT_TOKENS, self.name)

    def decode_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Decoded]:
        """Every window of every (question, context) pair, in model calls of at most `CALL_TOKENS` tokens."""
        per_pair = [self._windows(q, c) for q, c in pairs]
        encodings = [e for windows in per_pair for e in windows]
        start_rows: list[np.ndarray] = []
        end_rows: list[np.ndarray] = []
        for part in calls([len(e.ids) for e in encodings]):
            chunk = encodings[part]
            outputs = self.bundle.run(pad_batch([e.ids for e in chunk], [e.type_ids for e in chunk]))
            start_rows += list(outputs["start_logits"])
            end_rows += list(outputs["end_logits"])
        decoded, row = [], 0
        for windows in per_pair:
            found = []
            for encoding in windows:
                n = len(encoding.ids)
                offsets = [
                    off if seq == 1 else None for off, seq in zip(encoding.offsets, encoding.sequence_ids, strict=True)
                ]
                found.append(Window(start_rows[row][:n], end_rows[row][:n], offsets))
                row += 1
            decoded.append(best_span(found, self.settings.max_answer_tokens))
        return decoded

    def _result(self, question: str, context: str, decoded: Decoded, threshold: float | None = None) -> QAResult:
        span = decoded.best
        if span is None:
            return QAResult(answer=None, score=0.0, no_answer_reason="below_threshold")
        probability = round(span.probability, 4)
        evidence = evidence_sentence(context, span.start, span.end)
        margin = span.score - decoded.null_score
        yes_no = is_yes_no(question)
        if margin >= (self.settings.null_threshold if threshold is None else threshold):
            return QAResult(
                answer=context[span.start : span.end],
                score=probability,
                start=span.start,
                end=span.end,
                evidence=evidence,
                yes_no=yes_no,
            )
        if yes_no and margin >= self.settings.yes_no_threshold:
            return QAResult(
                answer=None, score=probability, evidence=evidence, yes_no=True, no_answer_reason="yes_no_question"
            )
        return QAResult(answer=None, score=probability, yes_no=yes_no, no_answer_reason="below_threshold")

    def _from_passages(self, question: str, passages: Sequence[Passage], decoded: Sequence[Decoded]) -> QAResult:
        """The answer of the passage whose best span beats its no-answer score by the most; its offsets are the
        passage's, so they are left out."""
        if not passages:
            return QAResult(answer=None, score=0.0, no_answer_reason="not_in_knowledge_base")
        margins = [d.best.score - d.null_score if d.best is not None else float("-inf") for d in decoded]
        best = int(np.argmax(margins))
        threshold = self.settings.retrieved_null_threshold
        result = self._result(question, passages[best].text, decoded[best], threshold)
        if result.no_answer_reason == "below_threshold":
            return result.model_copy(update={"no_answer_reason": "not_in_knowledge_base"})
        return result.model_copy(update={"start": None, "end": None, "source": passages[best].source})

    def run(self, tasks: Sequence[SkillTask]) -> list[QAResult]:
        """Over the task's context when it has one, else over its retrieved passages, else no answer."""
        pairs: list[tuple[str, str]] = []
        for task in tasks:
            # A yes/no question after a complaint locates its evidence better alone: the span only points at it.
            question = question_focus(task.subject) if is_yes_no(task.subject) else task.subject
            if task.context is not None and task.context.strip():
                pairs.append((question, task.context))
            else:
                pairs += [(question, p.text) for p in task.passages or ()]
        decoded = self.decode_batch(pairs) if pairs else []
        results: list[QAResult] = []
        row = 0
        for task in tasks:
            if task.context is not None and task.context.strip():
                results.append(self._result(task.subject, task.context, decoded[row]))
                row += 1
            elif task.passages is not None:
                found = decoded[row : row + len(task.passages)]
                row += len(task.passages)
                results.append(self._from_passages(task.subject, task.passages, found))
            else:
                results.append(QAResult(answer=None, score=0.0, no_answer_reason="no_context"))
        return results

    def answer_batch(self, pairs: Sequence[tuple[str, str | None]]) -> list[QAResult]:
        """One result per (question, context) pair, as `run` gives them for tasks with that context."""
        return self.run([SkillTask(request_id="-", skill=self.name, subject=q, context=c) for q, c in pairs])

    def answer(self, question: str, context: str | None) -> QAResult:
        return self.answer_batch([(question, context)])[0]

    @classmethod
    def describe(cls, result: QAResult) -> str:
        cited = ""
        if result.source is not None:
            where = result.source.path + (f" › {result.source.heading}" if result.source.heading else "")
            cited = f" (source: {where})"
        if result.yes_no and result.evidence is not None:
            return f"The passage says: \u201c{result.evidence}\u201d{cited}."
        if result.answer is not None:
            return f"Answer: {result.answer} ({result.score:.0%}){cited}."
        if result.no_answer_reason == "no_context":
            return "There is no context to answer from."
        if result.no_answer_reason == "not_in_knowledge_base":
            return "I don't know: the knowledge base does not say."
        return "The context does not contain an answer."
