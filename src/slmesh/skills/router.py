"""The prompt analyser: which skills a prompt needs, and which part of it they work on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field, model_validator

from slmesh.encoding import head_tail_positions, pad_batch
from slmesh.runtime import ModelBundle
from slmesh.schemas import RouterDecision
from slmesh.skills.base import CardSettings, card_settings

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

QUOTES = "\"'“”‘’«»„` "
TRIM = QUOTES + ":;,-–—\t\n"


class RouterSettings(CardSettings):
    skills: tuple[str, ...] = Field(min_length=1, description="The skill labels in the order of the skill logits.")
    thresholds: dict[str, float]
    max_length: int = Field(gt=2)
    context_marker: str | None = None
    """The text read after the prompt, as its second segment, when the request sends a context: "What's this about?"
    asks for a summary of an attached text and is a question without one. None: a router trained without it, which
    reads the prompt alone."""

    @model_validator(mode="after")
    def _one_threshold_per_skill(self) -> RouterSettings:
        if set(self.thresholds) != set(self.skills):
            raise ValueError("thresholds must name exactly the skills")
        return self


def sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


def seen_positions(length: int, max_length: int) -> list[int]:
    """The tokens the router reads of a `length`-token prompt, at inference and in training: all of them, or the
    first and the last half of `max_length` (an instruction sits at one end of a long text)."""
    return head_tail_positions(length, max_length, max_length // 2)


def encode_prompts(
    tokenizer: Tokenizer, prompts: Sequence[str], attached: Sequence[bool], marker: str | None
) -> list[Encoding]:
    """Each prompt alone, or with `marker` as its second segment when its request sends a context: at inference and
    in training."""
    if marker is None or not any(attached):
        return list(tokenizer.encode_batch(list(prompts)))
    return list(tokenizer.encode_batch([(p, marker) if a else p for p, a in zip(prompts, attached, strict=True)]))


def subject_span(prompt: str, encoding: Encoding, token_probs: np.ndarray, positions: list[int] | None = None) -> str:
    """The characters from the first to the last token tagged as subject, quotes trimmed (`subject_bounds`)."""
    start, end = subject_bounds(prompt, encoding, token_probs, positions)
    return prompt[start:end]


def subject_bounds(
    prompt: str, encoding: Encoding, token_probs: np.ndarray, positions: list[int] | None = None
) -> tuple[int, int]:
    """Where the subject lies in the prompt: the characters from the first to the last token tagged as subject,
    quotes trimmed.

    `positions` says which of the encoding's tokens the router saw (`token_probs` holds one value for each): all of
    them, or the head and tail of a long prompt. Falls back to the whole prompt: a skill given the instruction too
    does better than one given nothing. A subject that runs to the edge of the unseen middle and does not go on
    past it runs across the middle up to the first (or from the last) token seen on the other side.
    """
    seen = list(range(len(token_probs))) if positions is None else positions
    sequence_ids = encoding.sequence_ids
    # The last position holds [SEP] (the real one, or the one put after a cut): never subject.
    tagged = [i for i in range(len(seen) - 1) if sequence_ids[seen[i]] == 0 and token_probs[i] >= 0.5]
    if not tagged:
        return _whole(prompt)
    offsets = encoding.offsets
    gap = next((i for i in range(1, len(seen)) if seen[i] != seen[i - 1] + 1), None)
    first, last = tagged[0], tagged[-1]
    start, end = offsets[seen[first]][0], offsets[seen[last]][1]
    if gap is not None and last == gap - 1:
        end = offsets[seen[gap]][0]
    if gap is not None and first == gap:
        start = offsets[seen[gap - 1]][1]
    piece = prompt[start:end]
    trimmed = start + len(piece) - len(piece.lstrip(TRIM)), start + len(piece.rstrip(TRIM))
    return trimmed if trimmed[1] > trimmed[0] else _whole(prompt)


def _whole(prompt: str) -> tuple[int, int]:
    """The whole prompt, quotes trimmed, or as it is when nothing would be left."""
    start, end = len(prompt) - len(prompt.lstrip(TRIM)), len(prompt.rstrip(TRIM))
    return (start, end) if end > start else (0, len(prompt))


class RouterSkill:
    """Not a skill of the registry: it picks them. A label its card names that no skill has is never chosen."""

    def __init__(self, settings: RouterSettings, bundle: ModelBundle, known: tuple[str, ...]) -> None:
        self.settings = settings
        self._bundle = bundle
        self._thresholds = np.array([settings.thresholds[s] for s in settings.skills])
        self._choosable = np.array([s in known for s in settings.skills])

    @classmethod
    def from_bundle(cls, bundle: ModelBundle, known: tuple[str, ...] | None = None) -> RouterSkill:
        """The router on `bundle`; `known` defaults to every skill of the registry."""
        if known is None:
            from slmesh.skills.registry import registry

            known = registry.names()
        return cls(card_settings(bundle, RouterSettings), bundle, known)

    @property
    def skills(self) -> list[str]:
        return list(self.settings.skills)

    def route_batch(self, prompts: Sequence[str], attached: Sequence[bool] | None = None) -> list[RouterDecision]:
        """`attached` says, per prompt, whether its request sends a context (none do when it is None)."""
        flags = [False] * len(prompts) if attached is None else list(attached)
        encodings = encode_prompts(self._bundle.tokenizer, prompts, flags, self.settings.context_marker)
        limit = self.settings.max_length
        positions = [seen_positions(len(e.ids), limit) for e in encodings]
        rows = [[e.ids[p] for p in seen] for e, seen in zip(encodings, positions, strict=True)]
        types = [[e.type_ids[p] for p in seen] for e, seen in zip(encodings, positions, strict=True)]
        outputs = self._bundle.run(pad_batch(rows, types))
        skill_probs = sigmoid(outputs["skill_logits"])
        token_probs = sigmoid(outputs["subject_logits"])
        # A router trained before the target head existed sends every skill to the subject.
        on_context = outputs["target_logits"] > 0 if "target_logits" in outputs else np.zeros_like(skill_probs, bool)
        chosen = (skill_probs >= self._thresholds) & self._choosable
        labels = self.settings.skills
        decisions = []
        for i, prompt in enumerate(prompts):
            skills = [s for s, c in zip(labels, chosen[i], strict=True) if c]
            start, end = subject_bounds(prompt, encodings[i], token_probs[i, : len(rows[i])], positions[i])
            decisions.append(
                RouterDecision(
                    skills=skills,
                    scores={s: round(float(p), 4) for s, p in zip(labels, skill_probs[i], strict=True)},
                    subject=prompt[start:end],
                    subject_start=start,
                    targets={s: "context" if on_context[i, j] else "subject" for j, s in enumerate(labels)},
                )
            )
        return decisions

    def route(self, prompt: str, attached: bool = False) -> RouterDecision:
        return self.route_batch([prompt], [attached])[0]
