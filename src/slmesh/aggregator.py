"""The one sentence an answer gives: each chosen skill's outcome, in the words of that skill's own module."""

from __future__ import annotations

from collections.abc import Mapping

from slmesh.schemas import RouterDecision, SkillOutcome
from slmesh.skills.registry import registry


def describe(outcome: SkillOutcome) -> str:
    spec = registry.spec(outcome.skill)
    if outcome.status == "ok" and outcome.result is not None and spec is not None:
        return spec.describe(outcome.result)
    if outcome.status == "error":
        return f"{outcome.skill} failed: {outcome.error}"
    return f"{outcome.skill} is not available."


def compose_answer(decision: RouterDecision, outcomes: Mapping[str, SkillOutcome]) -> str:
    if not decision.skills:
        titles = ", ".join(spec.title for spec in registry.specs())
        return f"None of the available skills ({titles}) fits this prompt."
    return " ".join(describe(outcomes[skill]) for skill in decision.skills if skill in outcomes)
