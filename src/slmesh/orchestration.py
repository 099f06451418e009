"""How one request is served, written once: plan it (id, routing, one task per chosen skill), then complete it.

The embedded pipeline, the Lambda router and aggregator, and the benchmark's Lambda workflow all call these two
functions; only how the tasks are run differs between them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from slmesh.aggregator import compose_answer
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse, RouterDecision, SkillOutcome, SkillTask
from slmesh.skills.registry import Router, registry
from slmesh.timing import elapsed_ms


@dataclass(frozen=True)
class Plan:
    request_id: str
    decision: RouterDecision
    router_ms: float
    tasks: dict[str, SkillTask]
    """One task per chosen skill that has an implementation; a reserved skill has none and is answered later."""


def plan(request: AnalyzeRequest, router: Router) -> Plan:
    request_id = request.request_id or str(uuid.uuid4())
    started = time.perf_counter()
    decision = router.route(request.prompt)
    router_ms = elapsed_ms(started)
    tasks = {
        name: SkillTask(request_id=request_id, skill=name, subject=decision.subject, context=request.context)
        for name in decision.skills
        if registry.spec(name) is not None
    }
    return Plan(request_id, decision, router_ms, tasks)


def missing_outcome(skill: str) -> SkillOutcome:
    """What a chosen skill without an outcome is answered: not deployed, or its outcome never came back."""
    if registry.spec(skill) is None:
        return SkillOutcome(skill=skill, status="unavailable", error=f"skill {skill!r} is not deployed", latency_ms=0)
    return SkillOutcome(skill=skill, status="error", error="no outcome was received", latency_ms=0.0)


def complete(
    request_id: str,
    decision: RouterDecision,
    router_ms: float,
    outcomes: Mapping[str, SkillOutcome],
    started: float | None = None,
) -> AnalyzeResponse:
    """The response: every chosen skill's outcome (missing ones filled in), the answer and the stage timings.

    `started` is the `perf_counter` reading the request began at, when this process saw all of it.
    """
    aggregate_started = time.perf_counter()
    complete_outcomes = {skill: outcomes.get(skill) or missing_outcome(skill) for skill in decision.skills}
    timings = {"router": router_ms, **{skill: o.latency_ms for skill, o in complete_outcomes.items()}}
    response = AnalyzeResponse(
        request_id=request_id,
        skills=decision.skills,
        router=decision,
        outcomes=complete_outcomes,
        answer=compose_answer(decision, complete_outcomes),
        timings_ms=timings,
    )
    response.timings_ms["aggregate"] = elapsed_ms(aggregate_started)
    if started is not None:
        response.timings_ms["total"] = elapsed_ms(started)
    return response
