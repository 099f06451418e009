"""The skill table is the one place that names skills; the schemas check names and results against it."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from slmesh.schemas import SkillOutcome
from slmesh.skills.qa import QAResult, QASkill
from slmesh.skills.registry import registry
from slmesh.skills.sentiment import SentimentResult

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "slmesh"
RESEARCH = {
    name.split(".")[1]
    for name in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["slmesh"]["runtime"]["exclude"]
}


def _runtime_modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in RESEARCH]


@pytest.mark.parametrize("name", registry.names())
def test_a_skill_name_is_spelled_only_in_its_module_and_the_table(name: str) -> None:
    spec = registry.spec(name)
    own = {PACKAGE / "skills" / "registry.py"}
    if spec is not None:
        own.add(Path(inspect.getfile(spec)))
    quoted = re.compile(rf"[\"']{re.escape(name)}[\"']")
    found = [str(p.relative_to(PACKAGE)) for p in _runtime_modules() if p not in own and quoted.search(p.read_text())]
    assert found == []


def test_an_outcome_names_a_registered_skill() -> None:
    with pytest.raises(ValidationError, match="unknown skill 'poetry'"):
        SkillOutcome(skill="poetry", status="unavailable", latency_ms=0.0)


def test_an_outcome_reads_its_result_with_its_skills_result_model() -> None:
    outcome = SkillOutcome.model_validate(
        {
            "skill": "sentiment",
            "status": "ok",
            "result": {"label": "positive", "score": 0.9, "scores": {"negative": 0.1, "positive": 0.9}},
            "latency_ms": 1.0,
        }
    )
    assert outcome.result == SentimentResult(label="positive", score=0.9, scores={"negative": 0.1, "positive": 0.9})
    with pytest.raises(ValidationError, match="not a result of skill 'sentiment'"):
        SkillOutcome(skill="sentiment", status="ok", result=QAResult(answer="x", score=0.5), latency_ms=1.0)
    with pytest.raises(ValidationError, match="only an ok outcome"):
        SkillOutcome(skill="qa", status="error", result=QAResult(answer="x", score=0.5), latency_ms=1.0)


def test_a_skill_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="already registered"), registry.extended(QASkill):
        pass
    assert registry.names() == ("sentiment", "qa", "summarize")


def test_a_reserved_skill_is_a_name_without_an_implementation() -> None:
    with registry.reserving(translate="translation"):
        assert registry.names() == ("sentiment", "qa", "summarize", "translate")
        assert registry.spec("translate") is None and registry.title("translate") == "translation"
    assert "translate" not in registry.names()
    with pytest.raises(ValueError, match="already registered"), registry.reserving(qa="again"):
        pass
