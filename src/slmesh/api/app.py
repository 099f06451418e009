"""The analyze API as an ASGI app (Starlette): the routes, their limits, and one JSON error shape for every failure.

Inference stays synchronous: each admitted request runs the pipeline on a thread of a pool sized to the admission
limits (ONNX Runtime and the tokenizers let go of the GIL while they work), so the event loop only reads, admits and
writes, and answers /healthz while every model thread is busy.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slmesh.api.admission import Admission, Busy
from slmesh.api.contract import (
    MAX_BODY_BYTES,
    HealthResponse,
    RequestError,
    parse_analyze_request,
    too_large,
)
from slmesh.api.docs import docs_page
from slmesh.api.openapi import document
from slmesh.budget import InputTooLarge
from slmesh.config import ServeSettings
from slmesh.pipeline import Pipeline
from slmesh.runtime import InvalidModelError, ModelNotFoundError
from slmesh.scheduling import DeadlineExceeded, RequestBudget, StopRequest, is_large
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse, ErrorDetail, ErrorResponse

log = logging.getLogger("slmesh.serve")
access = logging.getLogger("slmesh.access")


def _json(status: int, body: ErrorResponse | HealthResponse, headers: dict[str, str] | None = None) -> Response:
    return Response(body.model_dump_json(), status, headers, media_type="application/json")


def error(
    status: int, message: str, headers: dict[str, str] | None = None, fields: dict[str, str] | None = None
) -> Response:
    found = [ErrorDetail(field=field, message=text) for field, text in (fields or {}).items()]
    return _json(status, ErrorResponse(error=message, details=found), headers)


class Service:
    """What the routes share: the pipeline, its admission, the threads requests run on and the models' status."""

    def __init__(self, pipeline: Pipeline, settings: ServeSettings) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.admission = Admission(settings.max_in_flight, settings.max_large, settings.large_queue, large_retry_s=5)
        self.threads = ThreadPoolExecutor(
            max_workers=settings.max_in_flight + settings.max_large, thread_name_prefix="slmesh-request"
        )
        self.router_problem: str | None = None
        try:
            pipeline.skills.router  # noqa: B018
        except (ModelNotFoundError, InvalidModelError) as exc:
            self.router_problem = str(exc)
        self.skill_problems = pipeline.skills.problems()

    def health(self) -> HealthResponse:
        load = self.admission.load()
        problems = {name: p for name, p in self.skill_problems.items() if p}
        if self.router_problem:
            problems["router"] = self.router_problem
        return HealthResponse(
            status="unavailable" if self.router_problem else "ok",
            router="unavailable" if self.router_problem else "ok",
            skills={name: "unavailable" if p else "ok" for name, p in self.skill_problems.items()},
            problems=problems,
            in_flight=load.in_flight,
            large_in_flight=load.large_in_flight,
            large_waiting=load.large_waiting,
        )

    def authorize(self, request: Request) -> None:
        key = self.settings.api_key
        if key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), key.get_secret_value().encode()
        ):
            raise HTTPException(401, "send the API key as 'Authorization: Bearer KEY'", {"WWW-Authenticate": "Bearer"})

    async def read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise RequestError(413, too_large())
        body = bytearray()
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise RequestError(413, too_large())
        except TimeoutError as exc:
            message = f"the request body did not arrive within {self.settings.body_timeout_s:g} s"
            raise RequestError(408, ErrorResponse(error=message)) from exc
        return bytes(body)

    async def answer(self, request: AnalyzeRequest, receive: Receive) -> AnalyzeResponse:
        budget = RequestBudget(self.settings.time_budget_s)
        async with self.admission.slot(is_large(request), budget):
            work = asyncio.get_running_loop().run_in_executor(self.threads, self.pipeline.analyze, request, budget)
            watch = asyncio.create_task(_cancel_when_gone(receive, budget))
            try:
                return await work
            finally:
                watch.cancel()


async def _cancel_when_gone(receive: Receive, budget: RequestBudget) -> None:
    """Once the body is read, the next ASGI message is the client's disconnect: its request stops at the next call."""
    while (await receive())["type"] != "http.disconnect":
        pass
    budget.cancel()


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def analyze(request: Request) -> Response:
    service = _service(request)
    service.authorize(request)
    body = await service.read_body(request)
    parsed = parse_analyze_request(body, request.headers.get("x-correlation-id"))
    if service.router_problem:
        return error(503, f"the router model is unavailable: {service.router_problem}", {"Retry-After": "60"})
    response = await service.answer(parsed, request.receive)
    return Response(response.model_dump_json(), media_type="application/json")


async def health(request: Request) -> Response:
    report = _service(request).health()
    return _json(200 if report.status == "ok" else 503, report)


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


async def docs(request: Request) -> Response:
    return HTMLResponse(docs_page("/openapi.json"))


ROUTES: dict[str, tuple[Any, list[str]]] = {
    "/v1/analyze": (analyze, ["POST"]),
    "/healthz": (health, ["GET", "HEAD"]),
    "/openapi.json": (openapi, ["GET", "HEAD"]),
    "/docs": (docs, ["GET", "HEAD"]),
}


def _options(methods: list[str]) -> Any:
    allow = ", ".join([*methods, "OPTIONS"])

    async def options(request: Request) -> Response:
        return Response(status_code=204, headers={"Allow": allow})

    return options


def _routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for path, (endpoint, methods) in ROUTES.items():
        routes.append(Route(path, endpoint, methods=methods))
        routes.append(Route(path, _options(methods), methods=["OPTIONS"]))
    return routes


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    # The rest of an unread body would be taken for the next request: close instead.
    headers = {"Connection": "close"} if exc.status in (408, 413) else None
    return _json(exc.status, exc.body, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}: " + "; ".join(
            f"{' '.join(methods)} {path}" for path, (_, methods) in ROUTES.items()
        )
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
    return error(exc.status_code, message, dict(exc.headers or {}))


async def _busy(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Busy)
    return error(503, str(exc), {"Retry-After": str(exc.retry_after_s)})


async def _too_large(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InputTooLarge)
    return error(422, f"invalid request: {exc}", fields={exc.field: str(exc)})


async def _stopped(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StopRequest)
    retry = {"Retry-After": "5"} if isinstance(exc, DeadlineExceeded) else None
    return error(503, str(exc), retry)


async def _disconnected(request: Request, exc: Exception) -> Response:
    return error(400, "the client closed the connection before its body arrived")


INTERNAL = "internal error (the server log has the details)"


async def _internal(request: Request, exc: Exception) -> Response:
    # Starlette raises the exception on after this answer: `Edge` logs it.
    return error(500, INTERNAL)


async def _send_error(send: Send, status: int, message: str) -> None:
    payload = ErrorResponse(error=message).model_dump_json().encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class Edge:
    """Outermost layer: one access-log line per request (no body, no query string) and headers every answer gets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, sent, logged = 0, 0, False

        def log_line() -> None:
            nonlocal logged
            logged = True
            client = scope.get("client") or ("-", 0)
            milliseconds = (time.perf_counter() - started) * 1000
            access.info(
                '%s "%s %s" %d %dB %.1fms', client[0], scope["method"], scope["path"][:200], status, sent, milliseconds
            )

        async def sending(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                if not message.get("more_body", False):
                    # Before the last write: once the client has its answer, the line is already written.
                    log_line()
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            # By type and frames only: a message may quote the request. Caught here, or uvicorn would print it.
            log.error(
                "internal error on %s %s: %s\n%s",
                scope["method"],
                scope["path"][:200],
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            if not status:
                await _send_error(sending, 500, INTERNAL)
        finally:
            if not logged:
                log_line()


def create_app(service: Service) -> ASGIApp:
    app = Starlette(
        routes=_routes(),
        exception_handlers={
            RequestError: _request_error,
            HTTPException: _http_error,
            Busy: _busy,
            InputTooLarge: _too_large,
            StopRequest: _stopped,
            ClientDisconnect: _disconnected,
            Exception: _internal,
        },
    )
    app.state.service = service
    app.state.openapi = document()
    return Edge(app)
