"""What the Lambda images and the layer are made of: the lock file and the staged runtime package and contexts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
STAGE = [sys.executable, str(ROOT / "infra" / "local" / "stage.py")]
LOCK = ROOT / "functions" / "requirements.lock"
RESEARCH = ("training", "bench", "research")


def _stage(*args: str) -> str:
    return subprocess.run([*STAGE, *args], capture_output=True, text=True, check=True).stdout


def _locked() -> dict[str, tuple[str, int, bool]]:
    """name -> (pinned version, number of hashes, whether pyproject asked for it directly)."""
    entries = re.split(r"\n(?=[a-z0-9])", LOCK.read_text().split("\n", 2)[2])
    locked = {}
    for entry in entries:
        name, version = entry.split(" ", 1)[0].split("==")
        direct = "-r build/requirements.in" in entry
        locked[name] = (version, entry.count("--hash=sha256:"), direct)
    return locked


def test_lock_file_pins_exactly_the_runtime_requirements_of_pyproject() -> None:
    wanted = [Requirement(line) for line in _stage("requirements").splitlines()]
    locked = _locked()

    assert {name for name, (_, _, direct) in locked.items() if direct} == {r.name for r in wanted}, "make lock"
    for requirement in wanted:
        version = locked[requirement.name][0]
        assert requirement.specifier.contains(version), f"{requirement} vs {version}: make lock"
    assert all(hashes > 0 for _, hashes, _ in locked.values())
    assert not {"torch", "transformers"} & set(locked)


def test_runtime_package_leaves_the_research_subpackages_out(tmp_path: Path) -> None:
    _stage("runtime", str(tmp_path))

    staged = tmp_path / "slmesh"
    assert (staged / "cloud" / "skill_worker.py").is_file()
    assert (staged / "skills").is_dir()
    for name in RESEARCH:
        assert not (staged / name).exists() and not (staged / f"{name}.py").exists(), name
    assert not list(staged.rglob("__pycache__"))


def test_image_context_holds_only_what_its_image_copies(tmp_path: Path) -> None:
    context = tmp_path / "qa"
    _stage("image", "qa", str(context))

    assert sorted(p.name for p in context.iterdir()) == [
        "Dockerfile",
        "app.py",
        "models",
        "requirements.lock",
        "slmesh",
        "wheels",
    ]
    assert [p.name for p in (context / "models").iterdir()] == ["qa"]
    assert sorted(p.name for p in (context / "models" / "qa").iterdir()) == [
        "card.json",
        "model.onnx",
        "tokenizer.json",
    ]
    assert not list((context / "wheels").iterdir()), "no wheelhouse given: the build reads PyPI"
    assert (context / "app.py").read_text() == (ROOT / "functions" / "qa" / "app.py").read_text()


def test_staging_refuses_a_function_without_a_model(tmp_path: Path) -> None:
    done = subprocess.run([*STAGE, "image", "aggregator", str(tmp_path / "x")], capture_output=True, text=True)

    assert done.returncode != 0 and "not a model function" in done.stderr


@pytest.mark.parametrize("function", ["retrieve", "summarize"])
def test_an_image_carries_the_model_its_function_reads_not_one_named_after_it(tmp_path: Path, function: str) -> None:
    context = tmp_path / function
    _stage("image", function, str(context))

    assert [p.name for p in (context / "models").iterdir()] == ["embed"]
    assert (context / "models" / "embed" / "model.onnx").is_file()
    assert (context / "app.py").read_text() == (ROOT / "functions" / function / "app.py").read_text()
