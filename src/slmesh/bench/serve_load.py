"""Latency and throughput of `slmesh serve` on 127.0.0.1 against the number of concurrent clients."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from slmesh.bench.processes import read_line, slmesh_command, stop
from slmesh.bench.stats import ms_since, summarize
from slmesh.bench.workload import article_requests

_ADDRESS = re.compile(r"http://([\d.]+):(\d+)")


def _bodies() -> list[bytes]:
    return [json.dumps({"prompt": p, "context": c}).encode() for p, c in article_requests()]


def _client(
    port: int, bodies: list[bytes], count: int, start: threading.Barrier, out: list[float], errors: list[str]
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start.wait()
    try:
        for i in range(count):
            started = time.perf_counter()
            connection.request("POST", "/v1/analyze", bodies[i % len(bodies)], {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"POST /v1/analyze answered {response.status}: {payload[:200]!r}")
            out.append(ms_since(started))
    except (OSError, RuntimeError, http.client.HTTPException) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def _level(port: int, clients: int, per_client: int) -> dict[str, Any]:
    bodies = _bodies()
    start = threading.Barrier(clients + 1)
    samples: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    threads = [
        threading.Thread(target=_client, args=(port, bodies, per_client, start, samples[i], errors), daemon=True)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies = [x for s in samples for x in s]
    if len(latencies) != clients * per_client:
        failed = clients * per_client - len(latencies)
        raise RuntimeError(f"{failed} of {clients * per_client} requests failed with {clients} clients: {errors[:1]}")
    return {
        "clients": clients,
        "requests": len(latencies),
        "latency_ms": summarize(latencies),
        "requests_per_s": round(len(latencies) / seconds, 1),
    }


def measure(models_dir: Path, levels: list[int], requests_per_level: int, timeout_s: float = 60.0) -> dict[str, Any]:
    """Starts a server on a free port, warms it, then runs each level for a bounded number of requests."""
    process = subprocess.Popen(
        slmesh_command(models_dir, "serve", "--host", "127.0.0.1", "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        found = _ADDRESS.search(read_line(process, timeout_s))
        if found is None:
            raise RuntimeError(f"slmesh serve did not report its address (exit code {process.poll()})")
        port = int(found.group(2))
        _level(port, 1, 3)
        rows = [_level(port, c, max(2, requests_per_level // c)) for c in levels]
    finally:
        stop(process)
    return {
        "server": "slmesh serve (ThreadingHTTPServer), clients in the bench process over keep-alive HTTP/1.1",
        "levels": rows,
    }
