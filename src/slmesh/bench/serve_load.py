"""`slmesh serve` under load on 127.0.0.1: latency and throughput against clients, a soak, fairness, huge inputs.

Every run starts its own server in a child process on a free loopback port, is bounded in requests and seconds, and
stops the server when it ends. Memory is the server's resident set, read from /proc.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slmesh.bench.processes import read_line, slmesh_command, stop
from slmesh.bench.stats import ms_since, summarize
from slmesh.bench.workload import QUESTIONS, article_requests, sentences
from slmesh.demo import TRAIN_SERVICE_CONTEXT

_ADDRESS = re.compile(r"http://([\d.]+):(\d+)")
SMALL_TALK = ("hello there, thanks a lot", "good morning", "what can you do?")


def request_body(prompt: str, context: str | None = None) -> bytes:
    return json.dumps({"prompt": prompt, **({"context": context} if context else {})}).encode()


def article_bodies() -> list[bytes]:
    return [request_body(p, c) for p, c in article_requests()]


def prompt_mix() -> list[bytes]:
    """What users send, in proportion: 4 in 10 the article's prompts (sentiment + QA over the service update), 3 a
    sentiment request about one review sentence, 2 a question on the update, 1 small talk (no skill)."""
    article = article_bodies()
    reviews = [request_body(f'Analyse the sentiment of this review: "{s}"') for s in sentences(32)]
    questions = [request_body(f'Answer the following question: "{q}"', TRAIN_SERVICE_CONTEXT) for q in QUESTIONS]
    talk = [request_body(t) for t in SMALL_TALK]
    mix: list[bytes] = []
    for i in range(40):
        mix += [article[i % len(article)]] * 4 + [reviews[i % len(reviews)]] * 3
        mix += [questions[i % len(questions)]] * 2 + [talk[i % len(talk)]]
    return mix


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """The process's resident set (VmRSS) or its peak (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"/proc/{pid}/status has no {key}")


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    def rss(self) -> float:
        return rss_mb(self.process.pid)

    def peak(self) -> float:
        return rss_mb(self.process.pid, "VmHWM")


@contextmanager
def server(models_dir: Path, *flags: str, timeout_s: float = 60.0) -> Iterator[Server]:
    """`slmesh serve` on a free 127.0.0.1 port, warmed by three requests; stopped when the block ends."""
    process = subprocess.Popen(
        slmesh_command(models_dir, "serve", "--host", "127.0.0.1", "--port", "0", *flags),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        found = _ADDRESS.search(read_line(process, timeout_s))
        if found is None:
            raise RuntimeError(f"slmesh serve did not report its address (exit code {process.poll()})")
        running = Server(process, int(found.group(2)))
        for payload in article_bodies():
            post(running.port, payload)
        yield running
    finally:
        stop(process)


def post(port: int, payload: bytes, timeout_s: float = 120.0) -> tuple[int, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        started = time.perf_counter()
        connection.request("POST", "/v1/analyze", payload, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status, ms_since(started)
    finally:
        connection.close()


@dataclass
class Tally:
    """What a group of clients saw: latency of each 200, every status, every failure to get an answer."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    last_answer: float = 0.0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, ms: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.last_answer = time.monotonic()
            if status == 200:
                self.latencies.append(ms)

    def report(self, seconds: float) -> dict[str, Any]:
        answered = sum(self.statuses.values())
        latency = summarize(self.latencies)
        latency["p99"] = round(float(np.percentile(self.latencies, 99)), 3) if self.latencies else None
        return {
            "requests": answered,
            "requests_per_s": round(answered / seconds, 1) if seconds else None,
            "latency_ms": latency,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "rejected_503": self.statuses.get(503, 0),
            "server_errors": sum(v for k, v in self.statuses.items() if k >= 500 and k != 503),
            "errors": len(self.errors),
            "error_examples": self.errors[:3],
        }


def _client(port: int, bodies: Sequence[bytes], offset: int, more: Callable[[], bool], tally: Tally) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    i = offset
    try:
        while more():
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/analyze", bodies[i % len(bodies)], {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                continue
            tally.add(response.status, ms_since(started))
            if response.getheader("connection", "").lower() == "close":
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            i += 1
    finally:
        connection.close()


def drive(
    running: Server,
    clients: int,
    bodies: Sequence[bytes],
    seconds: float,
    requests: int | None = None,
    sample_every_s: float = 1.0,
) -> dict[str, Any]:
    """`clients` keep-alive clients, each sending the next body as soon as it has an answer, for `seconds` (or until
    `requests` answers); the server's RSS is sampled every `sample_every_s`."""
    tally = Tally()
    deadline = time.monotonic() + seconds

    def more() -> bool:
        return time.monotonic() < deadline and (requests is None or sum(tally.statuses.values()) < requests)

    threads = [
        threading.Thread(target=_client, args=(running.port, bodies, c * 7, more, tally), daemon=True)
        for c in range(clients)
    ]
    started = time.monotonic()
    samples = [(0.0, 0, running.rss())]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        time.sleep(sample_every_s)
        samples.append((round(time.monotonic() - started, 1), sum(tally.statuses.values()), running.rss()))
    for thread in threads:
        thread.join()
    return {
        "clients": clients,
        **tally.report((tally.last_answer or time.monotonic()) - started),
        "rss_mb": {"start": samples[0][2], "max": max(s[2] for s in samples), "end": running.rss()},
        "rss_samples": [{"s": s, "requests": n, "rss_mb": mb} for s, n, mb in samples],
    }


def load(models_dir: Path, levels: Sequence[int], seconds: float) -> dict[str, Any]:
    with server(models_dir) as running:
        rows = [drive(running, clients, prompt_mix(), seconds) for clients in levels]
        return {"rss_mb_idle": running.rss(), "levels": rows}


def soak(models_dir: Path, requests: int, clients: int, max_seconds: float) -> dict[str, Any]:
    """`requests` answers (or `max_seconds`), RSS every 5 s: flat memory is a slope near zero past the warm-up."""
    with server(models_dir) as running:
        result = drive(running, clients, prompt_mix(), max_seconds, requests, sample_every_s=5.0)
    samples = result["rss_samples"]
    warm = [s for s in samples if s["requests"] >= 0.1 * max(result["requests"], 1)]
    if len(warm) >= 2:
        first, last = warm[0], warm[-1]
        per_10k = (last["rss_mb"] - first["rss_mb"]) / max(last["requests"] - first["requests"], 1) * 10_000
        result["rss_mb_per_10k_requests_after_warmup"] = round(per_10k, 2)
    return result


def _prose(chars: int) -> str:
    return ((TRAIN_SERVICE_CONTEXT + " ") * (chars // len(TRAIN_SERVICE_CONTEXT) + 1))[:chars]


def fairness(models_dir: Path, huge_chars: int, huge_requests: int, small_runs: int) -> dict[str, Any]:
    """A small request's latency idle, then while `huge_requests` large ones (prose contexts of `huge_chars`) are
    being answered or waiting their turn."""
    small = article_bodies()[0]
    huge = request_body(article_requests()[1][0], _prose(huge_chars))
    with server(models_dir) as running:
        idle = [post(running.port, small)[1] for _ in range(small_runs)]
        results: list[tuple[int, float]] = []
        threads = [
            threading.Thread(target=lambda: results.append(post(running.port, huge))) for _ in range(huge_requests)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        busy: list[float] = []
        statuses: Counter[int] = Counter()
        while any(t.is_alive() for t in threads):
            status, ms = post(running.port, small)
            statuses[status] += 1
            if status == 200:
                busy.append(ms)
            time.sleep(0.1)
        for thread in threads:
            thread.join()
        peak = running.peak()
    idle_p50 = float(np.median(idle))
    return {
        "huge_context_chars": huge_chars,
        "huge_statuses": dict(Counter(str(s) for s, _ in results)),
        "huge_latency_s": sorted(round(ms / 1000, 2) for _, ms in results),
        "small_idle_ms": summarize(idle),
        "small_behind_huge_ms": summarize(busy),
        "small_behind_huge_statuses": {str(k): v for k, v in statuses.items()},
        "ratio_p50": round(float(np.median(busy)) / idle_p50, 2) if busy else None,
        "ratio_p95": round(float(np.percentile(busy, 95)) / idle_p50, 2) if busy else None,
        "server_peak_rss_mb": peak,
    }


def huge_inputs(models_dir: Path) -> dict[str, Any]:
    """The two largest documented inputs, one at a time: 100,000 characters of "a " (50,000 tokens, over the token
    limit) and of prose (about 20,000 tokens, answered); the server's RSS before, after and at its peak."""
    question = article_requests()[1][0]
    rows = []
    with server(models_dir) as running:
        before = running.rss()
        for name, context in (("a-50k-tokens", "a " * 50_000), ("prose-100k-chars", _prose(100_000))):
            status, ms = post(running.port, request_body(question, context))
            time.sleep(1.0)
            rows.append(
                {"input": name, "status": status, "seconds": round(ms / 1000, 2), "rss_mb_after": running.rss()}
            )
        return {"rss_mb_before": before, "inputs": rows, "server_peak_rss_mb": running.peak()}


def measure(models_dir: Path, levels: list[int], requests_per_level: int, timeout_s: float = 60.0) -> dict[str, Any]:
    """The full bench's table: each level of clients for a bounded number of requests of the article's prompts."""
    with server(models_dir, timeout_s=timeout_s) as running:
        rows = []
        for clients in levels:
            level = drive(running, clients, article_bodies(), 600.0, max(2, requests_per_level // clients) * clients)
            if level["requests"] != level["latency_ms"]["n"] or level["errors"]:
                raise RuntimeError(
                    f"requests failed with {clients} clients: {level['statuses']} {level['error_examples']}"
                )
            rows.append({k: level[k] for k in ("clients", "requests", "latency_ms", "requests_per_s")})
    return {
        "server": "slmesh serve (Starlette on uvicorn), clients in the bench process over keep-alive HTTP/1.1",
        "levels": rows,
    }
