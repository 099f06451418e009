"""Builds each function image from its Dockerfile and invokes it through the RIE inside the image."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]


def _docker_running() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


if not _docker_running():
    pytest.skip("no Docker engine is running: the images cannot be built here", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize("name", ["router", "sentiment", "qa"])
def test_image_builds_and_answers_its_canonical_event(name: str) -> None:
    if not (ROOT / "models" / name / "model.onnx").is_file():
        pytest.skip(f"models/{name} is not in this checkout")
    tag = f"slmesh-{name}:test"
    subprocess.run(
        ["docker", "build", "-f", f"functions/{name}/Dockerfile", "-t", tag, "."],
        cwd=ROOT,
        check=True,
        timeout=1200,
    )
    port = _free_port()
    container = subprocess.run(
        [
            "docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080",
            "-e", f"POWERTOOLS_SERVICE_NAME={name}", "-e", "POWERTOOLS_METRICS_NAMESPACE=slmesh-test",
            "-e", "POWERTOOLS_TRACE_DISABLED=true", tag,
        ],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    try:
        payload = (ROOT / "events" / f"{name}-direct.json").read_bytes()
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=payload), timeout=60) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert "errorType" not in body, body
    finally:
        subprocess.run(["docker", "stop", container], capture_output=True, timeout=60)
