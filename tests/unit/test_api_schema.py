"""schemathesis against `slmesh serve` on 127.0.0.1, from the served OpenAPI document: generated requests, valid and
not, get no 5xx, and every answer matches the documented status codes, headers and schemas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from slmesh.api.openapi import document
from slmesh.api.server import AnalyzeServer
from slmesh.config import ServeSettings
from slmesh.pipeline import Pipeline

pytestmark = pytest.mark.unit

schema = schemathesis.openapi.from_dict(document())


@pytest.fixture(scope="module")
def base_url(pipeline: Pipeline) -> Iterator[str]:
    with AnalyzeServer(pipeline, ServeSettings(port=0)).running() as server:
        host, port = server.address
        yield f"http://{host}:{port}"


@schema.parametrize()
@settings(max_examples=60, suppress_health_check=list(HealthCheck))
def test_every_generated_request_gets_a_documented_answer(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, timeout=60)
