"""The aggregator function: turns the Parallel branches' results into the response `slmesh serve` returns.

It loads no model, so it runs as a zip function on the shared layer; nothing here may import onnxruntime.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from slmesh.aggregator import aggregate
from slmesh.cloud.events import DEPLOYED_SKILLS, AggregateEvent, InvalidEvent
from slmesh.cloud.handler_types import Handler
from slmesh.cloud.observability import configure, logger, metrics, tracer
from slmesh.schemas import AnalyzeResponse, SkillOutcome


def aggregate_event(event: Any, now: datetime | None = None) -> AnalyzeResponse:
    try:
        parsed = AggregateEvent.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent.from_validation("aggregate event", exc) from exc
    started = time.perf_counter()
    outcomes: dict[str, SkillOutcome] = {}
    for branch in parsed.results:
        if branch.outcome is not None:
            outcomes[branch.skill] = branch.outcome
        elif branch.failure is not None:
            outcomes[branch.skill] = SkillOutcome(status="error", error=branch.failure.describe(), latency_ms=0.0)
            metrics.add_metric(name="SkillFailures", unit=MetricUnit.Count, value=1)
    for skill in parsed.decision.skills:
        if skill not in outcomes and skill not in DEPLOYED_SKILLS:
            outcomes[skill] = SkillOutcome(
                status="unavailable", error=f"skill {skill!r} is not deployed", latency_ms=0.0
            )
    timings = {"router": parsed.router_ms, **{skill: o.latency_ms for skill, o in outcomes.items()}}
    response = aggregate(parsed.request_id, parsed.decision, outcomes, timings)
    response.timings_ms["aggregate"] = round((time.perf_counter() - started) * 1000.0, 3)
    if parsed.started_at is not None:
        finished = now or datetime.now(UTC)
        response.timings_ms["total"] = round((finished - parsed.started_at).total_seconds() * 1000.0, 3)
    logger.info(
        "aggregated",
        extra={"skills": response.skills, "statuses": {k: o.status for k, o in outcomes.items()}},
    )
    return response


def make_aggregator_handler() -> Handler:
    configure()

    @logger.inject_lambda_context(correlation_id_path="request_id")
    @tracer.capture_lambda_handler
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return aggregate_event(event).model_dump(mode="json")

    return handler
