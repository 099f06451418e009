"""How one request is served, written once: plan it (id, routing, one task per chosen skill), then complete it.

The embedded pipeline, the Lambda router and aggregator, and the benchmark's Lambda workflow all call these two
functions; only how the tasks are run differs between them.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from slmesh.aggregator import compose_answer
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse, Passage, RouterDecision, SkillOutcome, SkillTask, Target
from slmesh.skills.registry import Router, registry
from slmesh.timing import elapsed_ms


@dataclass(frozen=True)
class Plan:
    request_id: str
    decision: RouterDecision
    router_ms: float
    tasks: dict[str, SkillTask]
    """One task per chosen skill that has an implementation; a reserved skill has none and is answered later."""


INLINE_PASSAGE_WORDS = 20
"""Fewest words a prompt must hold besides a question's subject for them to be the passage it asks about: fewer are
the request's own words ("answer the following question:")."""


def inline_passage(prompt: str, subject: str, start: int | None = None) -> tuple[str, str] | None:
    """The passage a question is asked about when it is pasted in the prompt itself: the prompt with the subject (the
    question) blanked out, so that offsets in it are offsets in the prompt, and the longer side of the prompt around
    the question, for the skills beside QA (the asks sit on the other side). None when the rest is too short to be a
    passage, or when the subject holds more of the prompt than the rest does: then the subject is the text itself (an
    opinion with a question after it), which the skills read as before. `start` is where the router found the
    subject; without it (or where it does not hold the subject) the subject's first occurrence is blanked."""
    if not subject.strip():
        return None
    at = start if start is not None and prompt.startswith(subject, start) else prompt.find(subject)
    if at < 0:
        return None
    before, after = prompt[:at], prompt[at + len(subject) :]
    words = len(before.split()) + len(after.split())
    if words < INLINE_PASSAGE_WORDS or len(subject.split()) >= words:
        return None
    side = max(before, after, key=lambda text: len(text.split()))
    return before + " " * len(subject) + after, re.sub(r"[ \t]+", " ", side).strip(" :-\n\t")


def plan(request: AnalyzeRequest, router: Router) -> Plan:
    """A question about a text pasted in the prompt (no context sent) is answered from that text, and the skills
    beside it read that text rather than the question, which is the router's subject then."""
    request_id = request.request_id or str(uuid.uuid4())
    started = time.perf_counter()
    routed = router.route(request.prompt, attached=has_context(request))
    router_ms = elapsed_ms(started)
    decision = routed.model_copy(update={"targets": targets(routed, request)})
    asks = any((spec := registry.spec(name)) is not None and spec.fixed_target == "both" for name in decision.skills)
    pasted = asks and not has_context(request)
    passage = inline_passage(request.prompt, decision.subject, decision.subject_start) if pasted else None
    tasks = {}
    for name in decision.skills:
        spec = registry.spec(name)
        if spec is None:
            continue
        task = SkillTask(
            request_id=request_id,
            skill=name,
            subject=decision.subject,
            context=request.context,
            target=decision.targets[name],
        )
        if passage is not None:
            blanked, side = passage
            task = task.model_copy(update={"context": blanked} if spec.fixed_target == "both" else {"subject": side})
        tasks[name] = task
    return Plan(request_id, decision, router_ms, tasks)


class PassageSource(Protocol):
    def passages(self, questions: Sequence[str]) -> list[list[Passage]]: ...


def needs_passages(planned: Plan) -> list[str]:
    """The skills of the plan whose task retrieval would serve: a retrieving skill (QA) sent no context.

    The one rule of both paths: the embedded pipeline retrieves for these, and the cloud router marks a plan that has
    any so that the state machines run their retrieve step."""
    return [
        name
        for name, task in planned.tasks.items()
        if (spec := registry.spec(name)) is not None
        and spec.retrieves
        and not (task.context is not None and task.context.strip())
    ]


def retrieve(planned: Plan, retriever: PassageSource | None) -> tuple[Plan, float | None]:
    """Gives each task of a retrieving skill (QA) that has no context the knowledge base's passages for its subject;
    the plan as it was, and no time, when there is no knowledge base or no such task."""
    asking = needs_passages(planned)
    if retriever is None or not asking:
        return planned, None
    started = time.perf_counter()
    found = retriever.passages([planned.tasks[name].subject for name in asking])
    tasks = dict(planned.tasks)
    for name, passages in zip(asking, found, strict=True):
        tasks[name] = tasks[name].model_copy(update={"passages": passages})
    return replace(planned, tasks=tasks), elapsed_ms(started)


def has_context(request: AnalyzeRequest) -> bool:
    return request.context is not None and bool(request.context.strip())


def targets(decision: RouterDecision, request: AnalyzeRequest) -> dict[str, Target]:
    """Per chosen skill, the text it works on: a skill's fixed target, else the context when the router sends the
    skill there and the request has one, else the subject (a prompt about "the attached text" sent without one)."""
    attached = has_context(request)
    chosen: dict[str, Target] = {}
    for name in decision.skills:
        spec = registry.spec(name)
        if spec is not None and spec.fixed_target is not None:
            chosen[name] = spec.fixed_target
        elif attached and decision.targets.get(name) == "context":
            chosen[name] = "context"
        else:
            chosen[name] = "subject"
    return chosen


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
    retrieve_ms: float | None = None,
) -> AnalyzeResponse:
    """The response: every chosen skill's outcome (missing ones filled in), the answer and the stage timings.

    `started` is the `perf_counter` reading the request began at, when this process saw all of it.
    """
    aggregate_started = time.perf_counter()
    complete_outcomes = {skill: outcomes.get(skill) or missing_outcome(skill) for skill in decision.skills}
    stages = {"retrieve": retrieve_ms} if retrieve_ms is not None else {}
    timings = {"router": router_ms, **stages, **{skill: o.latency_ms for skill, o in complete_outcomes.items()}}
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
