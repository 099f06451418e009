"""`slmesh serve` over real HTTP on 127.0.0.1: the contract, the protocol edges, and JSON errors for every mistake."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from slmesh.api.contract import MAX_BODY_BYTES
from slmesh.api.openapi import document
from slmesh.api.server import AnalyzeServer
from slmesh.budget import MAX_CONTEXT_TOKENS
from slmesh.config import ServeSettings
from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT
from slmesh.pipeline import Pipeline
from slmesh.runtime import InvalidModelError, ModelBundle, ModelStore
from slmesh.scheduling import LARGE_CONTEXT_CHARS
from slmesh.schemas import MAX_CONTEXT_CHARS, MAX_PROMPT_CHARS, AnalyzeResponse, ErrorResponse, RouterDecision

pytestmark = pytest.mark.unit

Address = tuple[str, int]


@pytest.fixture(scope="module")
def server(pipeline: Pipeline) -> Iterator[Address]:
    with AnalyzeServer(pipeline, ServeSettings(port=0)).running() as running:
        yield running.address


def call(
    address: Address, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection(*address, timeout=60)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None, response
    finally:
        connection.close()


def exchange(address: Address, data: bytes, wait_s: float = 10.0) -> tuple[bytes, float]:
    """Sends raw bytes, reads until the server closes (or `wait_s`); returns what came back and when it closed."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=wait_s) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received, time.monotonic() - started


def responses(raw: bytes) -> list[tuple[int, dict[str, str], Any]]:
    """Every HTTP/1.1 response in `raw` (with Content-Length bodies), in order."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", len(rest)))
        out.append((int(lines[0].split()[1]), headers, json.loads(rest[:length]) if length else None))
        raw = rest[length:]
    return out


def body(prompt: str, context: str | None = None, ascii_only: bool = False) -> bytes:
    payload: dict[str, str] = {"prompt": prompt}
    if context is not None:
        payload["context"] = context
    return json.dumps(payload, ensure_ascii=ascii_only).encode()


def test_healthz_lists_loaded_skills_for_get_head_and_any_query(server: Address) -> None:
    status, health, _ = call(server, "GET", "/healthz?probe=1")
    assert status == 200
    assert health["status"] == "ok" and health["router"] == "ok"
    assert health["skills"] == {"sentiment": "ok", "qa": "ok", "summarize": "ok"}
    status, nothing, reply = call(server, "HEAD", "/healthz")
    assert status == 200 and nothing is None and reply.getheader("content-type") == "application/json"


def test_analyze_returns_the_aggregated_response(server: Address) -> None:
    status, payload, _ = call(server, "POST", "/v1/analyze", body(REFERENCE_PROMPTS[0], TRAIN_SERVICE_CONTEXT))
    assert status == 200
    assert AnalyzeResponse.model_validate(payload).skills == ["sentiment", "qa"]


def test_correlation_header_becomes_the_request_id(server: Address) -> None:
    status, payload, _ = call(server, "POST", "/v1/analyze", body("hi"), {"X-Correlation-Id": "corr-42"})
    assert status == 200
    assert payload["request_id"] == "corr-42"


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"", 400, None),
        (b"[1, 2]", 422, None),
        (json.dumps({"context": "x"}).encode(), 422, "prompt"),
        (json.dumps({"prompt": ""}).encode(), 422, "prompt"),
        (json.dumps({"prompt": " \t\n "}).encode(), 422, "prompt"),
        (json.dumps({"prompt": 7}).encode(), 422, "prompt"),
        (json.dumps({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}).encode(), 422, "prompt"),
        (json.dumps({"prompt": "hi", "extra": 1}).encode(), 422, "extra"),
        (json.dumps({"prompt": "hi", "context": ["a"]}).encode(), 422, "context"),
    ],
    ids=["not-json", "empty", "array", "no-prompt", "empty-prompt", "blank-prompt", "number", "long", "extra", "list"],
)
def test_bad_requests_get_a_clear_error_naming_the_field(
    server: Address, payload: bytes, status: int, field: str | None
) -> None:
    got_status, answer, _ = call(server, "POST", "/v1/analyze", payload)
    assert got_status == status
    error = ErrorResponse.model_validate(answer)
    if field is not None:
        assert field in {d.field for d in error.details}
        assert field in error.error


def test_an_oversized_body_is_refused_from_its_length_alone(server: Address) -> None:
    head = f"POST /v1/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
    raw, _ = exchange(server, head + b'{"prompt": ')
    [(status, headers, answer)] = responses(raw)
    assert status == 413 and headers["connection"] == "close"
    assert f"{MAX_BODY_BYTES:,} bytes" in answer["error"]


def test_the_longest_context_fits_the_body_cap_however_it_is_escaped(server: Address) -> None:
    # Every character escaped (\\u00fc) is six bytes: the old 512 KB cap refused the documented 100,000 characters.
    escaped = body(REFERENCE_PROMPTS[1], "ü" * MAX_CONTEXT_CHARS, ascii_only=True)
    assert len(escaped) > 6 * MAX_CONTEXT_CHARS
    status, payload, _ = call(server, "POST", "/v1/analyze", escaped)
    assert status == 200, payload


def test_a_context_over_the_token_limit_is_refused_naming_it(server: Address) -> None:
    started = time.monotonic()
    status, payload, _ = call(
        server, "POST", "/v1/analyze", body(REFERENCE_PROMPTS[1], "a " * (MAX_CONTEXT_CHARS // 2))
    )
    assert status == 422
    assert f"{MAX_CONTEXT_TOKENS:,}" in payload["error"] and "tokens" in payload["error"]
    assert payload["details"][0]["field"] == "context"
    assert time.monotonic() - started < 10, "refused after tokenising, before any model call"


def test_a_chunked_body_is_read_and_the_next_request_on_the_connection_answered(server: Address) -> None:
    payload = body("Analyse the sentiment: what a lovely station")
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(payload[i : i + 7]), payload[i : i + 7]) for i in range(0, len(payload), 7)
    )
    request = b"POST /v1/analyze HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    health = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    raw, _ = exchange(server, request + health)
    [(first, _, answer), (second, _, report)] = responses(raw)
    assert first == 200 and answer["skills"] == ["sentiment"]
    assert second == 200 and report["status"] == "ok"


@pytest.mark.parametrize("length", ["-1", "abc", "1, 2"])
def test_a_bad_content_length_is_a_json_400(server: Address, length: str) -> None:
    raw, _ = exchange(server, f"POST /v1/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n{{}}".encode())
    [(status, headers, answer)] = responses(raw)
    assert status == 400 and headers["content-type"] == "application/json"
    assert "invalid HTTP request" in answer["error"]


def test_unknown_routes_wrong_methods_and_options(server: Address) -> None:
    status, answer, _ = call(server, "GET", "/nope")
    assert status == 404 and "POST /v1/analyze" in answer["error"]
    assert call(server, "POST", "/v2/analyze", b"{}")[0] == 404
    status, answer, reply = call(server, "PUT", "/v1/analyze", b"{}")
    assert status == 405 and reply.getheader("allow") == "POST"
    status, nothing, reply = call(server, "OPTIONS", "/v1/analyze")
    assert status == 204 and nothing is None and reply.getheader("allow") == "POST, OPTIONS"


def test_the_served_openapi_document_is_the_committed_contract_and_docs_render_it(server: Address) -> None:
    status, served, _ = call(server, "GET", "/openapi.json")
    assert status == 200 and served == document()
    connection = http.client.HTTPConnection(*server, timeout=30)
    connection.request("GET", "/docs")
    page = connection.getresponse()
    assert page.status == 200 and page.getheader("content-type", "").startswith("text/html")
    assert "/openapi.json" in page.read().decode()
    connection.close()


def test_the_access_log_names_requests_but_never_their_text(server: Address, caplog: pytest.LogCaptureFixture) -> None:
    marker = "zebra-crossing-7f3a"
    with caplog.at_level(logging.DEBUG):
        assert call(server, "POST", "/v1/analyze?q=" + marker, body(f"Is {marker} positive?", marker))[0] == 200
        assert call(server, "POST", "/v1/analyze", body(" ", marker))[0] == 422
    access = [r.getMessage() for r in caplog.records if r.name == "slmesh.access"]
    assert any('"POST /v1/analyze" 200' in line for line in access)
    assert all(marker not in r.getMessage() for r in caplog.records)


class GatedRouter:
    """Routes every prompt to sentiment once `release` is set: requests stay in flight as long as a test needs."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def route(self, prompt: str, attached: bool = False) -> RouterDecision:
        self.entered.release()
        self.release.wait(30)
        return RouterDecision(skills=["sentiment"], scores={"sentiment": 1.0}, subject=prompt)


def _in_background(address: Address, payload: bytes) -> threading.Thread:
    thread = threading.Thread(target=call, args=(address, "POST", "/v1/analyze", payload), daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("lane", ["small", "large"])
def test_past_the_in_flight_limit_the_answer_is_503_with_retry_after_at_once(
    model_store: ModelStore, lane: str
) -> None:
    router = GatedRouter()
    pipeline = Pipeline(model_store, router=router)
    settings = ServeSettings(port=0, max_in_flight=1, max_large=1, large_queue=0)
    context = "word " * (LARGE_CONTEXT_CHARS // 4) if lane == "large" else None
    try:
        with AnalyzeServer(pipeline, settings).running() as server:
            held = _in_background(server.address, body("Analyse the sentiment: fine", context))
            assert router.entered.acquire(timeout=30)
            started = time.monotonic()
            status, answer, reply = call(server.address, "POST", "/v1/analyze", body("Analyse: good", context))
            assert status == 503 and int(reply.getheader("retry-after", "0")) >= 1
            assert "limit" in answer["error"]
            assert time.monotonic() - started < 5, "refused at once, not queued"
            assert call(server.address, "GET", "/healthz")[0] == 200
            router.release.set()
            held.join(30)
    finally:
        router.release.set()
        pipeline.close()


def test_an_api_key_requires_its_bearer_token(pipeline: Pipeline) -> None:
    with AnalyzeServer(pipeline, ServeSettings(port=0, api_key="s3cret")).running() as server:
        status, _, reply = call(server.address, "POST", "/v1/analyze", body("hi"))
        assert status == 401 and reply.getheader("www-authenticate") == "Bearer"
        assert call(server.address, "POST", "/v1/analyze", body("hi"), {"Authorization": "Bearer wrong"})[0] == 401
        assert call(server.address, "POST", "/v1/analyze", body("hi"), {"Authorization": "Bearer s3cret"})[0] == 200
        assert call(server.address, "GET", "/healthz")[0] == 200


def test_slow_clients_are_dropped_by_the_header_and_body_timeouts(pipeline: Pipeline) -> None:
    settings = ServeSettings(port=0, header_timeout_s=1, body_timeout_s=1)
    with AnalyzeServer(pipeline, settings).running() as server:
        raw, closed_after = exchange(server.address, b"POST /v1/analyze HTTP/1.1\r\nHost: t\r\nContent-Le", 20)
        assert responses(raw)[0][0] == 408 and closed_after < 10
        stalled_body = b"POST /v1/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b'{"prompt":'
        raw, closed_after = exchange(server.address, stalled_body, 20)
        [(status, headers, answer)] = responses(raw)
        assert status == 408 and headers["connection"] == "close" and "body" in answer["error"]
        assert closed_after < 10


class Broken:
    """The real models, with `name` refusing to load the way a corrupted file does."""

    def __init__(self, store: ModelStore, name: str) -> None:
        self._store = store
        self._name = name

    def get(self, name: str) -> ModelBundle:
        if name == self._name:
            raise InvalidModelError(f"{name}/model.onnx does not match the sha256 in its card")
        return self._store.get(name)


def test_a_broken_skill_is_reported_unavailable_while_the_rest_answer(model_store: ModelStore) -> None:
    pipeline = Pipeline(Broken(model_store, "qa"))
    try:
        with AnalyzeServer(pipeline, ServeSettings(port=0)).running() as server:
            status, health, _ = call(server.address, "GET", "/healthz")
            assert status == 200 and health["skills"]["qa"] == "unavailable"
            assert "sha256" in health["problems"]["qa"]
            status, payload, _ = call(server.address, "POST", "/v1/analyze", body(REFERENCE_PROMPTS[0], "x"))
            assert status == 200
            assert payload["outcomes"]["qa"]["status"] == "unavailable"
            assert payload["outcomes"]["sentiment"]["status"] == "ok"
    finally:
        pipeline.close()


def test_a_broken_router_keeps_the_server_up_and_answers_503(model_store: ModelStore) -> None:
    pipeline = Pipeline(Broken(model_store, "router"))
    try:
        with AnalyzeServer(pipeline, ServeSettings(port=0)).running() as server:
            status, health, _ = call(server.address, "GET", "/healthz")
            assert status == 503 and health["status"] == "unavailable" and "router" in health["problems"]
            status, answer, _ = call(server.address, "POST", "/v1/analyze", body("hi"))
            assert status == 503 and "router model is unavailable" in answer["error"]
    finally:
        pipeline.close()


class Exploding:
    def route(self, prompt: str, attached: bool = False) -> RouterDecision:
        raise RuntimeError(f"/opt/secret/path: cannot read {prompt}")


def test_an_internal_error_is_a_json_500_without_its_message(model_store: ModelStore) -> None:
    pipeline = Pipeline(model_store, router=Exploding())
    try:
        with AnalyzeServer(pipeline, ServeSettings(port=0)).running() as server:
            status, answer, _ = call(server.address, "POST", "/v1/analyze", body("private words"))
            assert status == 500 and answer["error"].startswith("internal error")
            assert "/opt" not in json.dumps(answer) and "private" not in json.dumps(answer)
    finally:
        pipeline.close()


def test_a_client_that_leaves_early_stops_its_request_without_an_error(
    model_store: ModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    router = GatedRouter()
    pipeline = Pipeline(model_store, router=router)
    try:
        with AnalyzeServer(pipeline, ServeSettings(port=0)).running() as server, caplog.at_level(logging.INFO):
            payload = body("Analyse the sentiment: fine")
            head = f"POST /v1/analyze HTTP/1.1\r\nHost: t\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            with socket.create_connection(server.address) as sock:
                sock.sendall(head + payload)
                assert router.entered.acquire(timeout=30)
            router.release.set()
            deadline = time.monotonic() + 30
            while call(server.address, "GET", "/healthz")[1]["in_flight"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert call(server.address, "GET", "/healthz")[1]["in_flight"] == 0
    finally:
        router.release.set()
        pipeline.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not any("Traceback" in r.getMessage() for r in caplog.records)
