"""The aggregator function: turns the Parallel branches' results into the response `slmesh serve` returns.

It loads no model, so it runs as a zip function on the shared layer; nothing here may import onnxruntime.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from slmesh.cloud.events import AggregateEvent, InvalidEvent
from slmesh.cloud.handler_types import Handler
from slmesh.cloud.observability import configure, instrumented, logger, metrics
from slmesh.orchestration import complete
from slmesh.schemas import AnalyzeResponse, SkillOutcome


def aggregate_event(event: Any, now: datetime | None = None) -> AnalyzeResponse:
    try:
        parsed = AggregateEvent.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent.from_validation("aggregate event", exc) from exc
    outcomes: dict[str, SkillOutcome] = {}
    for branch in parsed.results:
        if branch.outcome is not None:
            outcomes[branch.skill] = branch.outcome
        elif branch.failure is not None:
            outcomes[branch.skill] = SkillOutcome(
                skill=branch.skill, status="error", error=branch.failure.describe(), latency_ms=0.0
            )
            metrics.add_metric(name="SkillFailures", unit=MetricUnit.Count, value=1)
    response = complete(parsed.request_id, parsed.decision, parsed.router_ms, outcomes, retrieve_ms=parsed.retrieve_ms)
    if parsed.started_at is not None:
        finished = now or datetime.now(UTC)
        response.timings_ms["total"] = round((finished - parsed.started_at).total_seconds() * 1000.0, 3)
    logger.info(
        "aggregated",
        extra={"skills": response.skills, "statuses": {k: o.status for k, o in response.outcomes.items()}},
    )
    return response


def make_aggregator_handler() -> Handler:
    configure()

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return aggregate_event(event).model_dump(mode="json")

    return instrumented(handler, correlation_id_path="request_id")
