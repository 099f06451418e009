"""`slmesh serve`: the analyze API over HTTP, in-process, on the standard library's threading server."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slmesh.api.contract import MAX_BODY_BYTES, RequestError, parse_analyze_request
from slmesh.pipeline import Pipeline
from slmesh.schemas import ErrorResponse

log = logging.getLogger("slmesh.serve")
DRAIN_LIMIT_BYTES = 8 * 1024 * 1024


class AnalyzeHandler(BaseHTTPRequestHandler):
    server: AnalyzeServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, ErrorResponse(error=message).model_dump())

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok", "skills": self.server.skill_status})
        else:
            self._error(404, f"no route for GET {self.path}")

    def do_POST(self) -> None:
        if self.path != "/v1/analyze":
            self._discard_body()
            self._error(404, f"no route for POST {self.path}")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._error(400, "Content-Length is not a number")
            return
        if length > MAX_BODY_BYTES:
            # Read a moderately oversized body so the client can take the 413 instead of a broken pipe;
            # anything bigger is cut off by closing the connection.
            self.close_connection = True
            if length <= DRAIN_LIMIT_BYTES:
                self._drain(length)
            self._error(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
            return
        body = self.rfile.read(length)
        try:
            request = parse_analyze_request(body, self.headers.get("X-Correlation-Id"))
        except RequestError as exc:
            self._send(exc.status, exc.body.model_dump())
            return
        try:
            response = self.server.pipeline.analyze(request)
        except Exception:
            log.exception("analyze failed")
            self._error(500, "internal error")
            return
        self._send(200, response.model_dump(mode="json"))

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= MAX_BODY_BYTES:
            self._drain(length)

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 64 * 1024))
            if not chunk:
                return
            length -= len(chunk)

    def do_PUT(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "use POST /v1/analyze or GET /healthz")

    do_DELETE = do_PATCH = do_PUT

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines only, at debug: never the body, which holds user text.
        log.debug(format, *args)


class AnalyzeServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: 16 clients connecting at once while the models hold both cores
    # overflowed it and the kernel reset their connections.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], pipeline: Pipeline) -> None:
        super().__init__(address, AnalyzeHandler)
        self.pipeline = pipeline
        self.skill_status = {
            name: "unavailable" if problem else "ok" for name, problem in pipeline.skills.warm().items()
        }
