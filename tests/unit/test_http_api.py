"""`slmesh serve` over real HTTP on 127.0.0.1: the contract, and clear 4xx errors for bad requests."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from slmesh.api.contract import MAX_BODY_BYTES
from slmesh.api.server import AnalyzeServer
from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT
from slmesh.pipeline import Pipeline
from slmesh.schemas import MAX_PROMPT_CHARS, AnalyzeResponse, ErrorResponse

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def server(pipeline: Pipeline) -> Iterator[AnalyzeServer]:
    running = AnalyzeServer(("127.0.0.1", 0), pipeline)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def call(
    server: AnalyzeServer, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_healthz_lists_loaded_skills(server: AnalyzeServer) -> None:
    status, body = call(server, "GET", "/healthz")
    assert status == 200
    assert body == {"status": "ok", "skills": {"sentiment": "ok", "qa": "ok", "summarize": "unavailable"}}


def test_analyze_returns_the_aggregated_response(server: AnalyzeServer) -> None:
    payload = {"prompt": REFERENCE_PROMPTS[0], "context": TRAIN_SERVICE_CONTEXT}
    status, body = call(server, "POST", "/v1/analyze", json.dumps(payload).encode())
    assert status == 200
    response = AnalyzeResponse.model_validate(body)
    assert response.skills == ["sentiment", "qa"]


def test_correlation_header_becomes_the_request_id(server: AnalyzeServer) -> None:
    body = json.dumps({"prompt": "hi"}).encode()
    status, payload = call(server, "POST", "/v1/analyze", body, {"X-Correlation-Id": "corr-42"})
    assert status == 200
    assert payload["request_id"] == "corr-42"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"", 400, None),
        (b"[1, 2]", 422, None),
        (json.dumps({"context": "x"}).encode(), 422, "prompt"),
        (json.dumps({"prompt": ""}).encode(), 422, "prompt"),
        (json.dumps({"prompt": 7}).encode(), 422, "prompt"),
        (json.dumps({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}).encode(), 422, "prompt"),
        (json.dumps({"prompt": "hi", "extra": 1}).encode(), 422, "extra"),
        (json.dumps({"prompt": "hi", "context": ["a"]}).encode(), 422, "context"),
    ],
)
def test_bad_requests_get_a_clear_error_naming_the_field(
    server: AnalyzeServer, body: bytes, status: int, field: str | None
) -> None:
    got_status, payload = call(server, "POST", "/v1/analyze", body)
    assert got_status == status
    error = ErrorResponse.model_validate(payload)
    if field is not None:
        assert field in {d.field for d in error.details}
        assert field in error.error


def test_oversized_body_is_refused_before_it_is_read(server: AnalyzeServer) -> None:
    status, payload = call(server, "POST", "/v1/analyze", b"x" * (MAX_BODY_BYTES + 1))
    assert status == 413
    assert "larger than" in payload["error"]


def test_unknown_routes_and_methods(server: AnalyzeServer) -> None:
    assert call(server, "GET", "/nope")[0] == 404
    assert call(server, "POST", "/v2/analyze", b"{}")[0] == 404
    assert call(server, "PUT", "/v1/analyze", b"{}")[0] == 405
