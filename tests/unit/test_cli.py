"""The `slmesh` command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from slmesh import __version__
from slmesh.api.server import is_loopback
from slmesh.budget import MAX_CONTEXT_TOKENS
from slmesh.cli import exposure_warning
from slmesh.config import ServeSettings
from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT
from slmesh.schemas import MAX_CONTEXT_CHARS, AnalyzeResponse

pytestmark = pytest.mark.unit


def slmesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slmesh.cli", *args], capture_output=True, text=True, timeout=120)


def test_ask_prints_skills_sentiment_answer_and_latency() -> None:
    done = slmesh("ask", REFERENCE_PROMPTS[0], "--context", TRAIN_SERVICE_CONTEXT)
    assert done.returncode == 0, done.stderr
    for part in (
        "skills:    sentiment, qa",
        "sentiment: The sentiment is negative",
        "qa:        The passage says: “The train is still coming",
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


def test_version_is_printed() -> None:
    done = slmesh("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"slmesh {__version__}"


def test_ask_reads_the_context_from_a_file_or_standard_input(tmp_path: Path) -> None:
    passage = tmp_path / "passage.txt"
    passage.write_text(TRAIN_SERVICE_CONTEXT, encoding="utf-8")
    from_file = slmesh("ask", REFERENCE_PROMPTS[1], "--context-file", str(passage), "--json")
    assert from_file.returncode == 0, from_file.stderr
    from_stdin = subprocess.run(
        [sys.executable, "-m", "slmesh.cli", "ask", REFERENCE_PROMPTS[1], "--context-file", "-", "--json"],
        input=TRAIN_SERVICE_CONTEXT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert from_stdin.returncode == 0, from_stdin.stderr
    for done in (from_file, from_stdin):
        qa = AnalyzeResponse.model_validate_json(done.stdout).outcomes["qa"].result
        assert qa is not None and qa.answer is not None


def test_ask_refuses_a_missing_context_file_and_a_context_over_the_token_limit(tmp_path: Path) -> None:
    missing = slmesh("ask", REFERENCE_PROMPTS[1], "--context-file", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    huge = tmp_path / "huge.txt"
    huge.write_text("a " * (MAX_CONTEXT_CHARS // 2))
    refused = slmesh("ask", REFERENCE_PROMPTS[1], "--context-file", str(huge))
    assert refused.returncode == 2, refused.stderr
    assert f"at most {MAX_CONTEXT_TOKENS:,}" in refused.stderr and "Traceback" not in refused.stderr


def _models_with_broken_qa(models_dir: Path, root: Path, how: str) -> Path:
    """A models folder whose router and sentiment are the real ones and whose qa is broken `how`."""
    root.mkdir()
    for name in ("router", "sentiment"):
        (root / name).symlink_to(models_dir / name)
    qa = root / "qa"
    qa.mkdir()
    for name in ("card.json", "tokenizer.json", "model.onnx"):
        (qa / name).write_bytes((models_dir / "qa" / name).read_bytes())
    model = qa / "model.onnx"
    if how == "truncated":
        model.write_bytes(model.read_bytes()[:4096])
    elif how == "random":
        model.write_bytes(os.urandom(100))
    else:
        (qa / "card.json").write_text('{"inference": ')
    return root


@pytest.mark.parametrize("how", ["truncated", "random", "card"])
def test_ask_with_a_broken_model_answers_the_rest_and_exits_1(models_dir: Path, tmp_path: Path, how: str) -> None:
    broken = _models_with_broken_qa(models_dir, tmp_path / "models", how)
    done = slmesh("--models-dir", str(broken), "ask", REFERENCE_PROMPTS[0], "--context", TRAIN_SERVICE_CONTEXT)
    assert done.returncode == 1, done.stderr
    assert "sentiment: The sentiment is" in done.stdout and "qa is not available" in done.stdout
    assert "qa failed" in done.stderr
    for text in (done.stdout, done.stderr):
        assert str(tmp_path) not in text and "Traceback" not in text
    if how == "card":
        response = slmesh("--models-dir", str(broken), "ask", REFERENCE_PROMPTS[0], "--json")
        assert "qa/card.json" in AnalyzeResponse.model_validate_json(response.stdout).outcomes["qa"].error


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 or lines[0].startswith("usage:"), done.stderr
    return lines[-1]


def test_serve_start_up_errors_are_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert "already in use" in _one_line(slmesh("serve", "--host", "127.0.0.1", "--port", port))
    assert "0 to 65535" in _one_line(slmesh("serve", "--port", "99999"))
    assert "0 to 65535" in _one_line(slmesh("serve", "--port", "eighty"))
    assert "cannot listen on 'no-such-host.invalid'" in _one_line(slmesh("serve", "--host", "no-such-host.invalid"))
    assert "--max-in-flight" in _one_line(slmesh("serve", "--max-in-flight", "0"))


def test_serve_help_documents_every_setting() -> None:
    done = slmesh("serve", "--help")
    assert done.returncode == 0
    for field, info in ServeSettings.model_fields.items():
        assert f"--{field.replace('_', '-')}" in done.stdout
        assert info.description and info.description.split()[0] in done.stdout


def test_a_server_reachable_from_elsewhere_without_a_key_is_warned_about() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0")
    assert exposure_warning(ServeSettings(host="0.0.0.0"), loopback=False)
    assert exposure_warning(ServeSettings(host="0.0.0.0", api_key="k"), loopback=False) is None
    assert exposure_warning(ServeSettings(), loopback=True) is None


def test_eval_refuses_an_empty_file_with_a_message_not_nan(tmp_path: Path) -> None:
    data = tmp_path / "empty.jsonl"
    data.write_text("\n")
    done = slmesh("eval", "sentiment", "--data", str(data))
    assert done.returncode == 2 and "no records" in done.stderr and done.stdout == ""


@pytest.mark.parametrize(
    "answers",
    [["14:35"], [{"text": "14:35"}], {"text": ["14:35"], "answer_start": [0]}],
    ids=["strings", "objects", "squad"],
)
def test_eval_qa_reads_each_documented_answers_shape(tmp_path: Path, answers: object) -> None:
    data = tmp_path / "qa.jsonl"
    row = {"question": "When will the next train arrive?", "context": TRAIN_SERVICE_CONTEXT, "answers": answers}
    data.write_text(json.dumps(row) + "\n")
    done = slmesh("eval", "qa", "--data", str(data))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["exact_match"] == 100.0


@pytest.mark.parametrize(
    ("row", "named"),
    [
        ({"text": "Fine.", "label": [1]}, "'label' must be"),
        ({"text": None, "label": 1}, "'text' must be a string"),
        ({"question": "q", "context": "c", "answers": 3}, "'answers' must be"),
    ],
    ids=["label", "text", "answers"],
)
def test_eval_names_the_record_and_field_of_a_bad_value(tmp_path: Path, row: dict[str, object], named: str) -> None:
    skill = "qa" if "question" in row else "sentiment"
    good = {"question": "q", "context": "c", "answers": ["c"]} if skill == "qa" else {"text": "Good.", "label": 1}
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    line = _one_line(slmesh("eval", skill, "--data", str(data)))
    assert "record 2" in line and named in line
