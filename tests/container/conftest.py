"""The container tier's servers and containers (the engine and the images are tests/conftest.py's, shared with the
LocalStack tier). Ports are published on 127.0.0.1 inside the engine's namespace and reached from a thread that
entered it (`Engine.call`); servers the containers call run there too.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slmesh.bench import images
from slmesh.bench.engine import Engine, stop_process

ROOT = Path(__file__).resolve().parents[2]


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def namespace_moto(container_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto inside the namespace: the Step Functions endpoint the containers call back on the bridge address.

    It listens on all of the namespace's interfaces (its loopback and docker0, nothing else exists there): moto's
    state machines send their own SQS calls to localhost, the containers come in through the bridge.
    """
    if not container_engine.own:
        pytest.skip("the task-token callbacks need a server the containers reach: our own engine's namespace")
    host, port = container_engine.bridge_gateway(), container_engine.free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    # The state machine's own SQS calls go back to this server through MOTO_PORT.
    server = container_engine.popen(
        [sys.executable, "-m", "moto.server", "-H", "0.0.0.0", "-p", str(port)], log, MOTO_PORT=str(port)
    )
    try:
        deadline = time.monotonic() + 30
        while not container_engine.call(_listening, host, port):
            assert server.poll() is None and time.monotonic() < deadline, "moto did not start in the namespace"
            time.sleep(0.1)
        url = f"http://{host}:{port}"
        container_engine.call(_configure, url)
        yield url
    finally:
        stop_process(server)
        log.close()


def _configure(url: str) -> None:
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/config", data=body), timeout=10):
        pass


@pytest.fixture
def aws_in_namespace(namespace_moto: str, aws: Callable[[str, str], Any]) -> Callable[[str], Any]:
    return lambda service: aws(namespace_moto, service)


@pytest.fixture
def function_container(container_engine: Engine) -> Iterator[Callable[..., images.Container]]:
    """Starts containers for one test and removes them after it."""
    started: list[images.Container] = []

    def start(image: str, name: str, **kwargs: Any) -> images.Container:
        env = images.function_env(name, **kwargs.pop("env", {}))
        container = images.Container(container_engine, image, name, env, **kwargs)
        started.append(container)
        return container

    yield start
    for container in started:
        container.stop()
