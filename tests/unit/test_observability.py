"""User text never leaves a function: no handler records its return value (or anything else) in a trace."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Tracer

from slmesh.cloud.aggregation import make_aggregator_handler
from slmesh.cloud.retrieval import make_retrieve_handler
from slmesh.cloud.routing import make_router_handler
from slmesh.cloud.skill_worker import make_skill_handler
from slmesh.lazy import Once
from slmesh.schemas import Passage, RouterDecision, SkillOutcome, SkillTask, Source
from slmesh.skills.sentiment import SentimentResult

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "events"
SECRET = "my account number is 12345678"


@dataclass
class EchoMesh:
    """Routes every prompt to sentiment with the prompt as subject, and answers positive."""

    @property
    def router(self) -> Any:
        return self

    def route(self, prompt: str, attached: bool = False) -> RouterDecision:
        return RouterDecision(skills=["sentiment"], scores={"sentiment": 1.0}, subject=prompt)

    def run(self, skill: str, tasks: Sequence[SkillTask]) -> list[SkillOutcome]:
        result = SentimentResult(label="positive", score=0.9, scores={"negative": 0.1, "positive": 0.9})
        return [SkillOutcome(skill=skill, status="ok", result=result, latency_ms=1.0) for _ in tasks]


class EchoKnowledgeBase:
    """Finds one passage for each question: the question itself."""

    def passages(self, questions: Sequence[str]) -> list[list[Passage]]:
        return [[Passage(text=q, source=Source(path="q.md", score=0.9))] for q in questions]


@dataclass
class Context:
    function_name: str = "f"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:f"
    aws_request_id: str = "r"


def test_no_handler_puts_its_response_into_a_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"POWERTOOLS_SERVICE_NAME": "t", "POWERTOOLS_METRICS_NAMESPACE": "t"}.items():
        monkeypatch.setenv(name, value)
    captured: list[Any] = []

    def record(self: Tracer, method_name: Any = None, data: Any = None, subsegment: Any = None, **kw: Any) -> None:
        if kw.get("capture_response"):
            captured.append(data)

    monkeypatch.setattr(Tracer, "_add_response_as_metadata", record)
    lazy: Once[Any] = Once(EchoMesh)
    task = {"request_id": "r-1", "skill": "sentiment", "subject": SECRET, "context": SECRET}
    aggregate = json.loads((EVENTS / "aggregator-direct.json").read_text())
    plan = json.loads((EVENTS / "retrieve-direct.json").read_text())
    plan["route"]["qa"]["subject"] = SECRET
    calls = [
        (make_router_handler(lazy), {"body": {"prompt": SECRET, "context": SECRET}}),
        (make_retrieve_handler(Once(EchoKnowledgeBase)), plan),
        (make_skill_handler("sentiment", lazy), {"tasks": [task]}),
        (make_aggregator_handler(), {**aggregate, "decision": {**aggregate["decision"], "subject": SECRET}}),
    ]
    answers = [handler(event, Context()) for handler, event in calls]  # type: ignore[arg-type]
    assert all(answers) and SECRET in json.dumps(answers[0]), "the router's response holds the prompt's text"
    assert captured == [], "a handler recorded its return value in X-Ray"
