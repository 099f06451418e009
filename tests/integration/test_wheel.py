"""The wheel works on its own: built, installed into a fresh venv outside the checkout, it answers a prompt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WHEEL_BAR = 100_000_000


def test_the_installed_wheel_answers_with_the_models_it_ships(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLMESH_", "VIRTUAL_ENV", "PYTHONPATH"))}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT)], check=True, env=env)
    [wheel] = (tmp_path / "dist").glob("slmesh-*.whl")
    assert wheel.stat().st_size < WHEEL_BAR
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], check=True, env=env
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    done = subprocess.run(
        [python.parent / "slmesh", "ask", REFERENCE_PROMPTS[0], "--context", TRAIN_SERVICE_CONTEXT, "--json"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["skills"] == ["sentiment", "qa"]
    assert {o["status"] for o in response["outcomes"].values()} == {"ok"}
    where = subprocess.run(
        [python, "-c", "import slmesh_models; print(slmesh_models.__file__)"], cwd=outside, env=env,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert str(ROOT) not in where.stdout, "the models came from the checkout, not from the wheel"
