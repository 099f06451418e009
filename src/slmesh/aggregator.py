"""Merges the router's decision and every skill's outcome into one response."""

from __future__ import annotations

from collections.abc import Mapping

from slmesh.schemas import AnalyzeResponse, QAResult, RouterDecision, SentimentResult, SkillOutcome


def _describe(skill: str, outcome: SkillOutcome) -> str:
    if outcome.status != "ok":
        return f"{skill} failed: {outcome.error}" if outcome.status == "error" else f"{skill} is not available."
    result = outcome.result
    if isinstance(result, SentimentResult):
        return f"The sentiment is {result.label} ({result.score:.0%})."
    if isinstance(result, QAResult):
        if result.answer is not None:
            return f"Answer: {result.answer} ({result.score:.0%})."
        if result.no_answer_reason == "no_context":
            return "There is no context to answer from."
        return "The context does not contain an answer."
    return f"{skill} returned no result."


def compose_answer(decision: RouterDecision, outcomes: Mapping[str, SkillOutcome]) -> str:
    if not decision.skills:
        return "None of the available skills (sentiment analysis, question answering) fits this prompt."
    return " ".join(_describe(skill, outcomes[skill]) for skill in decision.skills if skill in outcomes)


def aggregate(
    request_id: str,
    decision: RouterDecision,
    outcomes: Mapping[str, SkillOutcome],
    timings_ms: Mapping[str, float],
) -> AnalyzeResponse:
    missing = [s for s in decision.skills if s not in outcomes]
    complete = dict(outcomes)
    for skill in missing:
        complete[skill] = SkillOutcome(status="error", error="no outcome was received", latency_ms=0.0)
    return AnalyzeResponse(
        request_id=request_id,
        skills=decision.skills,
        router=decision,
        outcomes=complete,
        answer=compose_answer(decision, complete),
        timings_ms=dict(timings_ms),
    )
