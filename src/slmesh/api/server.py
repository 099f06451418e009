"""`slmesh serve`: the ASGI app on uvicorn. slmesh binds the socket itself, so a start-up error is one sentence."""

from __future__ import annotations

import errno
import ipaddress
import logging
import resource
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from slmesh.api.app import Service, create_app
from slmesh.api.protocol import ConnectionLimits, GuardedProtocol
from slmesh.config import ServeSettings
from slmesh.pipeline import Pipeline

log = logging.getLogger("slmesh.serve")

BACKLOG = 2048
"""Connections the kernel queues before the server accepts them."""
MAX_HEAD_BYTES = 16 * 1024
"""Request line and headers together; a longer head is answered 400."""
RESERVED_FDS = 64
"""File descriptors kept for everything but connections: models, logs, the event loop."""


class StartupError(Exception):
    """The server cannot start; the message says why in one sentence."""


def bind(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise StartupError(f"cannot listen on {host!r}: it is not an address or a name this machine resolves") from exc
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reasons = {
            errno.EADDRINUSE: f"port {port} on {host} is already in use",
            errno.EADDRNOTAVAIL: f"{host} is not an address of this machine",
            errno.EACCES: f"port {port} needs privileges: use one above 1023",
        }
        raise StartupError(reasons.get(exc.errno or 0, f"cannot listen on {host}:{port}: {exc.strerror}")) from exc
    return sock


def is_loopback(host: str) -> bool:
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return False
    return all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def connection_cap(wanted: int) -> int:
    """`wanted`, or fewer when the process may not open that many files: raises the soft limit to the hard one first.

    Without it, a server out of descriptors stops accepting anyone, /healthz included.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_FDS
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    allowed = max(soft - RESERVED_FDS, 1)
    log.warning("open files are limited to %d: at most %d connections (not %d)", soft, allowed, wanted)
    return allowed


class AnalyzeServer:
    """The app on uvicorn. `run` blocks until SIGINT/SIGTERM or `stop` (from another thread)."""

    def __init__(self, pipeline: Pipeline, settings: ServeSettings) -> None:
        self.socket = bind(settings.host, settings.port)
        limits = ConnectionLimits(connection_cap(settings.max_connections), settings.header_timeout_s)
        self.service = Service(pipeline, settings)
        self.app = create_app(self.service)
        config = uvicorn.Config(
            self.app,
            http=GuardedProtocol.with_limits(limits),
            lifespan="off",
            access_log=False,
            log_config=None,
            timeout_keep_alive=settings.keep_alive_s,
            timeout_graceful_shutdown=5,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        # Its request lines carry query strings; slmesh.access (`Edge`) is the access log.
        logging.getLogger("uvicorn.access").disabled = True

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def started(self) -> bool:
        return self._server.started

    def run(self) -> None:
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self.socket.close()

    def stop(self) -> None:
        self._server.should_exit = True

    def close(self) -> None:
        """Ends the request threads; the pipeline is its owner's to close."""
        self.service.threads.shutdown(wait=True)

    @contextmanager
    def running(self, timeout_s: float = 30.0) -> Iterator[AnalyzeServer]:
        """Serves on a thread of this process for the duration of the block (tests, embedding); then closes."""
        thread = threading.Thread(target=self.run, name="slmesh-serve", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            if not self.started:
                raise StartupError("the server did not start")
            yield self
        finally:
            self.stop()
            thread.join(timeout_s)
            self.close()
