"""The router function: validates the request at the edge, routes it, and hands each chosen skill its task."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from slmesh.api.contract import RequestError, parse_analyze_request
from slmesh.cloud.events import DEPLOYED_SKILLS, InvalidEvent, InvalidRequest, RoutedRequest, RouteEvent
from slmesh.cloud.handler_types import Handler
from slmesh.cloud.mesh import LazyMesh, Mesh
from slmesh.cloud.mesh import mesh as default_mesh
from slmesh.cloud.observability import configure, logger, metrics, tracer
from slmesh.schemas import SkillTask


def route_event(event: Any, mesh: Mesh) -> RoutedRequest:
    try:
        parsed = RouteEvent.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent.from_validation("router event", exc) from exc
    body = parsed.body if isinstance(parsed.body, str) else json.dumps(parsed.body)
    try:
        request = parse_analyze_request(body, parsed.correlation_id)
    except RequestError as exc:
        raise InvalidRequest(exc.body.model_dump_json()) from exc
    request_id = request.request_id or str(uuid.uuid4())
    logger.set_correlation_id(request_id)
    started = time.perf_counter()
    decision = mesh.router.route(request.prompt)
    router_ms = round((time.perf_counter() - started) * 1000.0, 3)
    route: dict[str, SkillTask | None] = {
        skill: (
            SkillTask(request_id=request_id, skill=skill, subject=decision.subject, context=request.context)
            if skill in decision.skills
            else None
        )
        for skill in DEPLOYED_SKILLS
    }
    metrics.add_metric(name="RouterLatency", unit=MetricUnit.Milliseconds, value=router_ms)
    logger.info("routed", extra={"skills": decision.skills, "router_ms": router_ms})
    return RoutedRequest(request_id=request_id, decision=decision, route=route, router_ms=router_ms)


def make_router_handler(lazy: LazyMesh = default_mesh) -> Handler:
    configure()

    @logger.inject_lambda_context(correlation_id_path="correlation_id")
    @tracer.capture_lambda_handler
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return route_event(event, lazy.get()).model_dump(mode="json")

    return handler
