"""System 4: the Express workflow's Lambda functions, each behind the Lambda Runtime Interface Emulator.

One request is what the state machine does: invoke the router, then the chosen skills in parallel, then the
aggregator, every hop an HTTP invoke on 127.0.0.1. Step Functions' own transition time is not included.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import platform
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slmesh.bench.processes import child_env, stop, wait_for
from slmesh.bench.stack import article_latency
from slmesh.bench.stats import ms_since
from slmesh.bench.workload import article_requests
from slmesh.cloud.events import AggregateEvent, BranchResult, DirectSkillResult, RoutedRequest
from slmesh.skills.registry import registry

REPOSITORY = Path(__file__).resolve().parents[3]
FUNCTIONS = ("router", *(spec.name for spec in registry.specs()), "aggregator")
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
_HANDLER = re.compile(r"^(handler|lambda_handler) = |^def (handler|lambda_handler)\(", re.MULTILINE)


class NotAvailableError(RuntimeError):
    """The system cannot be measured here; the message says why."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _emulator() -> Path:
    spec = importlib.util.find_spec("samcli")
    if spec is None or not spec.submodule_search_locations:
        raise NotAvailableError("aws-sam-cli, which ships the emulator, is not installed (slmesh[cloud-test])")
    arch = _ARCHITECTURES.get(platform.machine())
    binary = Path(next(iter(spec.submodule_search_locations))) / "local" / "rapid" / f"aws-lambda-rie-{arch}"
    if not binary.is_file():
        raise NotAvailableError(f"no Lambda runtime interface emulator at {binary}")
    return binary


def _handler(function_dir: Path) -> str:
    app = function_dir / "app.py"
    if not app.is_file():
        raise NotAvailableError(f"no handler at functions/{function_dir.name}/app.py")
    found = _HANDLER.search(app.read_text())
    if found is None:
        raise NotAvailableError(f"functions/{function_dir.name}/app.py defines neither handler nor lambda_handler")
    return f"app.{found.group(1) or found.group(2)}"


class EmulatedFunction:
    """One function's code under its own emulator process, as one warm Lambda execution environment."""

    def __init__(self, emulator: Path, function_dir: Path, models_dir: Path) -> None:
        self.name = function_dir.name
        self.port = _free_port()
        command = [
            str(emulator),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.port}",
            "--runtime-api-address",
            f"127.0.0.1:{_free_port()}",
            sys.executable,
            "-m",
            "awslambdaric",
            _handler(function_dir),
        ]
        env = child_env(
            SLMESH_MODELS_DIR=str(models_dir),
            AWS_LAMBDA_FUNCTION_NAME=self.name,
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            POWERTOOLS_SERVICE_NAME=f"slmesh-{self.name}",
            POWERTOOLS_METRICS_NAMESPACE="slmesh-bench",
            POWERTOOLS_TRACE_DISABLED="1",
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        self._process = subprocess.Popen(
            command, cwd=function_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
        )
        if not wait_for(lambda: _listening(self.port), 10.0):
            self.close()
            raise NotAvailableError(f"the emulator for {self.name} did not start (exit code {self._process.poll()})")

    def invoke(self, event: dict[str, Any]) -> tuple[Any, float]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            started = time.perf_counter()
            connection.request("POST", INVOKE_PATH, json.dumps(event), {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            elapsed = ms_since(started)
        finally:
            connection.close()
        answer = json.loads(payload or b"null")
        if response.status != 200 or (isinstance(answer, dict) and "errorMessage" in answer):
            raise NotAvailableError(f"functions/{self.name} failed under the emulator: {payload[:300]!r}")
        return answer, elapsed

    def close(self) -> None:
        stop(self._process)


class Workflow:
    """Router, then the chosen skills in parallel, then the aggregator: the Express state machine's invokes."""

    def __init__(self, functions: dict[str, EmulatedFunction]) -> None:
        self._functions = functions
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bench-branch")

    def analyze(self, prompt: str, context: str) -> dict[str, float]:
        started_at = datetime.now(UTC)
        answer, router_ms = self._functions["router"].invoke({"body": {"prompt": prompt, "context": context}})
        routed = RoutedRequest.model_validate(answer)
        chosen = {skill: task for skill, task in routed.route.items() if task is not None}
        branches = {
            skill: self._pool.submit(self._functions[skill].invoke, {"tasks": [task.model_dump(mode="json")]})
            for skill, task in chosen.items()
        }
        stages = {"router": router_ms}
        results = [BranchResult(skill=skill) for skill in routed.route if skill not in chosen]
        for skill, branch in branches.items():
            outcome, stages[skill] = branch.result()
            results.append(BranchResult(skill=skill, outcome=DirectSkillResult.model_validate(outcome).outcomes[0]))
        event = AggregateEvent(
            request_id=routed.request_id,
            decision=routed.decision,
            router_ms=routed.router_ms,
            results=results,
            started_at=started_at,
        )
        _, stages["aggregate"] = self._functions["aggregator"].invoke(event.model_dump(mode="json"))
        return stages

    def close(self) -> None:
        self._pool.shutdown()


def measure(models_dir: Path, runs: int, warmup: int, functions_dir: Path = REPOSITORY / "functions") -> dict[str, Any]:
    if importlib.util.find_spec("awslambdaric") is None:
        raise NotAvailableError("awslambdaric is not installed (pip install slmesh[cloud-test])")
    emulator = _emulator()
    for name in FUNCTIONS:
        _handler(functions_dir / name)
    functions: dict[str, EmulatedFunction] = {}
    try:
        for name in FUNCTIONS:
            functions[name] = EmulatedFunction(emulator, functions_dir / name, models_dir)
        workflow = Workflow(functions)
        prompt, context = article_requests()[0]
        started = time.perf_counter()
        workflow.analyze(prompt, context)
        first = ms_since(started)
        latency = article_latency(workflow, runs, warmup)
        workflow.close()
    finally:
        for function in functions.values():
            function.close()
    return {
        "name": "slmesh as Lambda (RIE)",
        "notes": [
            "functions/{router,sentiment,qa,aggregator} each under aws-lambda-rie; the bench invokes them as the "
            "Express workflow does (router, skills in parallel, aggregator) over HTTP on 127.0.0.1; Step "
            "Functions' own transitions are not included",
        ],
        "first_invoke_ms": round(first, 1),
        "latency": latency,
    }
