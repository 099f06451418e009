"""Child processes the bench starts: `slmesh` itself, and the line it prints when ready."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def slmesh_command(models_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "slmesh.cli", "--models-dir", str(models_dir), *args]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    """The child's next stdout line, or '' when it exits or stays silent for `timeout_s`."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            return ""
    return process.stdout.readline()


def stop(process: subprocess.Popen[str], grace_s: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(ready: Callable[[], bool], timeout_s: float, every_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(every_s)
    return False
