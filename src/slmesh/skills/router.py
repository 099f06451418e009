"""The prompt analyser: which skills a prompt needs, and which part of it they work on."""

from __future__ import annotations

import numpy as np
from tokenizers import Encoding

from slmesh.encoding import pad_batch
from slmesh.runtime import ModelBundle
from slmesh.schemas import RouterDecision

QUOTES = "\"'“”‘’«»„` "
TRIM = QUOTES + ":;,-–—\t\n"


def sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


def subject_span(prompt: str, encoding: Encoding, token_probs: np.ndarray) -> str:
    """The characters from the first to the last token tagged as subject, quotes trimmed.

    Falls back to the whole prompt: a skill given the instruction too does better than one given nothing.
    When the router saw only the start of a long prompt and the subject runs to that cut, the subject runs on
    to the end of the prompt.
    """
    # The last position holds [SEP] (the real one, or the one put after a cut): never subject.
    kept = len(token_probs) - 1
    sequence_ids = encoding.sequence_ids
    tagged = [i for i in range(kept) if sequence_ids[i] == 0 and token_probs[i] >= 0.5]
    if not tagged:
        return prompt.strip(TRIM) or prompt
    offsets = encoding.offsets
    start = offsets[tagged[0]][0]
    cut = len(encoding.ids) > len(token_probs)
    end = len(prompt) if cut and tagged[-1] == kept - 1 else offsets[tagged[-1]][1]
    return prompt[start:end].strip(TRIM) or prompt.strip(TRIM) or prompt


class RouterSkill:
    def __init__(self, bundle: ModelBundle) -> None:
        self._bundle = bundle
        cfg = bundle.inference
        self._skills: list[str] = list(cfg["skills"])
        self._thresholds = np.array([float(cfg["thresholds"][s]) for s in self._skills])
        self._max_length = int(cfg["max_length"])

    @property
    def skills(self) -> list[str]:
        return list(self._skills)

    def route_batch(self, prompts: list[str]) -> list[RouterDecision]:
        encodings = self._bundle.tokenizer.encode_batch(prompts)
        rows = [
            e.ids[: self._max_length - 1] + e.ids[-1:] if len(e.ids) > self._max_length else e.ids for e in encodings
        ]
        skill_logits, subject_logits = self._bundle.run(pad_batch(rows))[:2]
        skill_probs = sigmoid(skill_logits)
        token_probs = sigmoid(subject_logits)
        decisions = []
        for i, prompt in enumerate(prompts):
            chosen = [s for s, p, t in zip(self._skills, skill_probs[i], self._thresholds, strict=True) if p >= t]
            decisions.append(
                RouterDecision(
                    skills=chosen,  # type: ignore[arg-type]
                    scores={s: round(float(p), 4) for s, p in zip(self._skills, skill_probs[i], strict=True)},
                    subject=subject_span(prompt, encodings[i], token_probs[i, : len(rows[i])]),
                )
            )
        return decisions

    def route(self, prompt: str) -> RouterDecision:
        return self.route_batch([prompt])[0]
