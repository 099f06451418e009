"""The `slmesh` command line, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT
from slmesh.schemas import AnalyzeResponse

pytestmark = pytest.mark.unit


def slmesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slmesh.cli", *args], capture_output=True, text=True, timeout=120)


def test_ask_prints_skills_sentiment_answer_and_latency() -> None:
    done = slmesh("ask", REFERENCE_PROMPTS[0], "--context", TRAIN_SERVICE_CONTEXT)
    assert done.returncode == 0, done.stderr
    for part in (
        "skills:    sentiment, qa",
        "sentiment: The sentiment is negative",
        "qa:        Answer:",
        "answer:",
        "latency:",
        "total",
    ):
        assert part in done.stdout


def test_ask_json_is_a_valid_response() -> None:
    done = slmesh("ask", REFERENCE_PROMPTS[2], "--json")
    assert done.returncode == 0, done.stderr
    response = AnalyzeResponse.model_validate_json(done.stdout)
    assert response.outcomes["sentiment"].result is not None


def test_ask_rejects_an_empty_prompt_with_a_message() -> None:
    done = slmesh("ask", "")
    assert done.returncode == 2
    assert "prompt" in done.stderr


def test_demo_answers_the_three_reference_prompts() -> None:
    done = slmesh("demo")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Prompt: ") == 3
    assert done.stdout.count("skills:    sentiment, qa") == 3


def test_eval_sentiment_prints_one_json_object(tmp_path: Path) -> None:
    data = tmp_path / "sentiment.jsonl"
    rows = [{"text": "A wonderful, moving film.", "label": 1}, {"text": "Dull and far too long.", "label": 0}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    done = slmesh("eval", "sentiment", "--data", str(data))
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["examples"] == 2
    assert 0.0 <= metrics["accuracy"] <= 100.0


@pytest.mark.parametrize(("given", "used"), [((), None), (("--batch-size", "1"), 1)])
def test_eval_passes_the_batch_size_on(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    given: tuple[str, ...],
    used: int | None,
) -> None:
    from slmesh import cli
    from slmesh.evaluation.measure import Measure
    from slmesh.skills.sentiment import SentimentSkill

    seen: list[int | None] = []

    def evaluate(skill: object, rows: list[dict[str, object]], batch_size: int | None = None) -> dict[str, object]:
        seen.append(batch_size)
        return {"accuracy": 100.0}

    monkeypatch.setattr(SentimentSkill, "measure", Measure(("text", "label"), evaluate))
    data = tmp_path / "sentiment.jsonl"
    data.write_text(json.dumps({"text": "Fine.", "label": 1}) + "\n")
    assert cli.main(["eval", "sentiment", "--data", str(data), *given]) == 0
    assert seen == [used]
    assert json.loads(capsys.readouterr().out)["accuracy"] == 100.0


def test_eval_refuses_a_negative_batch_size(tmp_path: Path) -> None:
    done = slmesh("eval", "sentiment", "--data", str(tmp_path / "x.jsonl"), "--batch-size", "-1")
    assert done.returncode == 2
    assert "--batch-size: must be 0 or more" in done.stderr


def test_eval_qa_reads_squad_json(tmp_path: Path) -> None:
    squad = {
        "data": [
            {
                "title": "Trains",
                "paragraphs": [
                    {
                        "context": TRAIN_SERVICE_CONTEXT,
                        "qas": [
                            {
                                "id": "1",
                                "question": "When will the next train arrive?",
                                "answers": [{"text": "14:35", "answer_start": TRAIN_SERVICE_CONTEXT.index("14:35")}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    data = tmp_path / "dev.json"
    data.write_text(json.dumps(squad))
    done = slmesh("eval", "qa", "--data", str(data))
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["examples"] == 1
    assert {"exact_match", "f1"} <= set(metrics)


def test_eval_router_reports_task_set_accuracy_and_f1(tmp_path: Path) -> None:
    data = tmp_path / "router.jsonl"
    rows = [{"prompt": REFERENCE_PROMPTS[0], "tasks": ["sentiment", "qa"]}, {"prompt": "hi there", "tasks": []}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    done = slmesh("eval", "router", "--data", str(data))
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert {"exact_task_set_accuracy", "f1_sentiment", "f1_qa"} <= set(metrics)


def test_eval_names_a_missing_field(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"text": "no label here"}) + "\n")
    done = slmesh("eval", "sentiment", "--data", str(data))
    assert done.returncode == 2
    assert "label" in done.stderr
