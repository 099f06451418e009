"""uvicorn's HTTP/1.1 protocol with what it lacks here: a deadline for request heads, a cap on open connections, and
JSON (never plain text) for the errors it answers itself."""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from slmesh.schemas import ErrorResponse

log = logging.getLogger("slmesh.serve")


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int
    header_timeout_s: float


def error_bytes(status: int, message: str, headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 error response that closes the connection, for answers given outside h11's state machine."""
    body = ErrorResponse(error=message).model_dump_json().encode()
    lines = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class GuardedProtocol(H11Protocol):
    """One connection. Its request head must arrive within `header_timeout_s` of the connection opening or of the
    previous response (a stalled client is answered 408 and dropped); past `max_connections` it is answered 503."""

    limits = ConnectionLimits(max_connections=4096, header_timeout_s=10.0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_of: object = None

    @classmethod
    def with_limits(cls, limits: ConnectionLimits) -> type[GuardedProtocol]:
        return type("GuardedProtocol", (cls,), {"limits": limits})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.warning("connection refused: %d connections are open", len(self.connections) - 1)
            transport.write(error_bytes(503, "too many open connections", {"retry-after": "1"}))
            transport.close()
            return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._head_arrived()

    def on_response_complete(self) -> None:
        self._await_head()
        super().on_response_complete()
        self._head_arrived()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # h11 refused the request (a bad Content-Length, a malformed or oversized head): JSON, then close.
        message = "invalid HTTP request: a malformed request line, header, Content-Length or chunk"
        body = ErrorResponse(error=message).model_dump_json().encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        response = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        for event in (response, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def _await_head(self) -> None:
        self._stop_timer()
        self._head_of = self.cycle
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def _head_arrived(self) -> None:
        # uvicorn starts a new request cycle for each request head it parses.
        if self._head_timer is not None and self.cycle is not self._head_of:
            self._stop_timer()

    def _stop_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            message = f"the request head did not arrive within {self.limits.header_timeout_s:g} s"
            self.transport.write(error_bytes(408, message))
            self.transport.close()
