"""Runs each function under the real Lambda runtime interface: awslambdaric behind the Lambda RIE.

The emulator binary ships in the aws-sam-cli wheel and runs on the host without Docker; both of its ports
are free ports on 127.0.0.1, every start is bounded, and every process is stopped after its test.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import samcli

from slmesh.bench.images import json_lines

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 15.0
INVOKE_TIMEOUT_S = 120.0


def rie_binary() -> Path:
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    return Path(samcli.__file__).parent / "local" / "rapid" / f"aws-lambda-rie-{arch}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RieFunction:
    """One function directory served by the emulator; `invoke` is the Lambda Invoke API's HTTP call."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        code_dir = ROOT / "functions" / name
        self.log_path = log_path
        port, api_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(rie_binary()),
                "--log-level",
                "error",
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{port}",
                "--runtime-api-address",
                f"127.0.0.1:{api_port}",
                sys.executable,
                "-m",
                "awslambdaric",
                "app.handler",
            ],
            cwd=code_dir,
            env={
                **os.environ,
                "LAMBDA_TASK_ROOT": str(code_dir),
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_TIMEOUT": "60",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": "slmesh-contract",
                # No X-Ray daemon here; in Lambda, Tracing: Active provides one.
                "POWERTOOLS_TRACE_DISABLED": "true",
                **env,
            },
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_listening(port)

    def _wait_until_listening(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited {self.proc.returncode}: {self.log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"emulator not listening after {START_TIMEOUT_S}s")

    def invoke(self, event: Any) -> Any:
        request = urllib.request.Request(self.url, data=json.dumps(event).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as response:
            return json.loads(response.read() or b"null")

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def logs(self) -> list[dict[str, Any]]:
        return json_lines(self.log_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def lambda_function(tmp_path: Path) -> Iterator[Callable[..., RieFunction]]:
    started: list[RieFunction] = []

    def start(name: str, **env: str) -> RieFunction:
        fn = RieFunction(name, env, tmp_path / f"{name}-{len(started)}.log")
        started.append(fn)
        return fn

    yield start
    for fn in started:
        fn.stop()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto as an HTTP endpoint the function processes call for their task-token callbacks."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as patch:
        # The state machine's own SQS calls go back to this server through MOTO_PORT.
        patch.setenv("MOTO_PORT", str(port))
        server.start()
        _post(f"{url}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        try:
            yield url
        finally:
            _post(f"{url}/moto-api/config", {"stepfunctions": {"execute_state_machine": False}})
            _post(f"{url}/moto-api/reset", {})
            server.stop()


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
