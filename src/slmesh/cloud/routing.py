"""The router function: validates the request at the edge, plans it, and hands each deployed skill its task.

It also marks a plan the retrieve step serves (`needs_passages`: a knowledge base is deployed and a retrieving
skill's task has no context), the flag the state machines' Choice reads, by the embedded pipeline's rule.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from slmesh.api.contract import RequestError, parse_analyze_request
from slmesh.cloud.events import InvalidEvent, InvalidRequest, RoutedRequest, RouteEvent
from slmesh.cloud.handler_types import Handler
from slmesh.cloud.kbstore import IndexLocation
from slmesh.cloud.mesh import LazyMesh, Mesh
from slmesh.cloud.mesh import mesh as default_mesh
from slmesh.cloud.observability import configure, instrumented, logger, metrics
from slmesh.orchestration import needs_passages, plan
from slmesh.skills.registry import registry


def route_event(event: Any, mesh: Mesh, knowledge_base: bool = False) -> RoutedRequest:
    """`knowledge_base`: whether one is deployed, so that retrieval can serve a question without a context."""
    try:
        parsed = RouteEvent.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent.from_validation("router event", exc) from exc
    body = parsed.body if isinstance(parsed.body, str) else json.dumps(parsed.body)
    try:
        request = parse_analyze_request(body, parsed.correlation_id)
    except RequestError as exc:
        raise InvalidRequest(exc.body.model_dump_json()) from exc
    planned = plan(request, mesh.router)
    logger.set_correlation_id(planned.request_id)
    metrics.add_metric(name="RouterLatency", unit=MetricUnit.Milliseconds, value=planned.router_ms)
    retrieving = knowledge_base and bool(needs_passages(planned))
    logger.info(
        "routed",
        extra={"skills": planned.decision.skills, "router_ms": planned.router_ms, "needs_passages": retrieving},
    )
    return RoutedRequest(
        request_id=planned.request_id,
        decision=planned.decision,
        route={spec.name: planned.tasks.get(spec.name) for spec in registry.specs()},
        router_ms=planned.router_ms,
        needs_passages=retrieving,
    )


def make_router_handler(lazy: LazyMesh = default_mesh) -> Handler:
    configure()
    # The router reads no index: only whether the stack has one (template.yaml's KnowledgeBaseBucket).
    knowledge_base = IndexLocation.from_env() is not None

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return route_event(event, lazy.get(), knowledge_base).model_dump(mode="json")

    return instrumented(handler, correlation_id_path="correlation_id")
