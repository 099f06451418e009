"""The cloud's knowledge base: its S3 location from the environment, push and pull through moto's S3, the retrieve
function's cold start (a stale index refused) and its handler logic, and the router's `needs_passages` mark."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from slmesh.cloud.events import InvalidEvent, RoutedRequest
from slmesh.cloud.kbstore import UPLOAD_ORDER, IndexLocation, pull, push
from slmesh.cloud.retrieval import make_retrieve_handler, open_retriever, retrieve_event
from slmesh.cloud.routing import route_event
from slmesh.config import ConfigError, settings_from_env
from slmesh.embedding import Embedder
from slmesh.kb.index import MANIFEST_FILE, InvalidIndexError, StaleIndexError, ingest
from slmesh.runtime import ModelStore
from slmesh.schemas import Passage, RouterDecision, Source

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "events"
DOCUMENT = """# Bicycles

Folding bikes travel free on every train. Full-size bikes need a reservation on intercity trains.

# Pets

Dogs travel free on a lead; cats travel in a closed basket.
"""
LOCATION = IndexLocation(bucket="slmesh-unit-kb", prefix="/team/kb/")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=LOCATION.bucket)
        yield client


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, model_store: ModelStore) -> Path:
    docs = tmp_path_factory.mktemp("docs")
    (docs / "travel.md").write_text(DOCUMENT)
    folder = tmp_path_factory.mktemp("kb") / "index"
    ingest([docs], Embedder.load(model_store), folder)
    return folder


def test_the_location_comes_from_the_environment_or_is_none() -> None:
    assert IndexLocation.from_env({}) is None
    assert IndexLocation.from_env({"SLMESH_KB_BUCKET": "", "SLMESH_KB_PREFIX": "x"}) is None
    location = IndexLocation.from_env({"SLMESH_KB_BUCKET": "my-kb", "SLMESH_KB_PREFIX": "/a/b/"})
    assert location == IndexLocation(bucket="my-kb", prefix="a/b")
    assert location is not None and location.key("manifest.json") == "a/b/manifest.json"
    assert str(location) == "s3://my-kb/a/b/"
    assert IndexLocation(bucket="my-kb", prefix="").key("chunks.jsonl") == "chunks.jsonl"


def test_a_bad_location_names_each_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        IndexLocation.from_env({"SLMESH_KB_BUCKET": "Not_A_Bucket", "SLMESH_KB_PREFIX": "p" * 600})
    assert "SLMESH_KB_BUCKET" in str(raised.value) and "SLMESH_KB_PREFIX" in str(raised.value)


def test_the_retrieve_function_validates_its_settings_at_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "retrieve")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "slmesh-unit")
    monkeypatch.setenv("SLMESH_KB_BUCKET", "slmesh-unit-kb")
    monkeypatch.setenv("SLMESH_KB_TOP_K", "0")
    with pytest.raises(ConfigError, match="SLMESH_KB_TOP_K"):
        make_retrieve_handler()
    monkeypatch.setenv("SLMESH_KB_TOP_K", "4")
    monkeypatch.setenv("SLMESH_KB_BUCKET", "s3://slmesh-unit-kb")
    with pytest.raises(ConfigError, match="SLMESH_KB_BUCKET"):
        make_retrieve_handler()


def test_push_then_pull_gives_the_same_index(s3: Any, index: Path, tmp_path: Path) -> None:
    push(s3, index, LOCATION)

    listed = s3.list_objects_v2(Bucket=LOCATION.bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(f"team/kb/{name}" for name in UPLOAD_ORDER)
    pulled = pull(s3, LOCATION, tmp_path / "pulled")
    for name in UPLOAD_ORDER:
        assert (pulled / name).read_bytes() == (index / name).read_bytes(), name


class RecordingS3:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def upload_file(self, path: str, bucket: str, key: str) -> None:
        self.keys.append(key)


def test_push_sends_the_manifest_last_and_refuses_a_folder_that_is_no_index(index: Path, tmp_path: Path) -> None:
    recorded = RecordingS3()
    push(recorded, index, LOCATION)
    assert recorded.keys[-1] == f"team/kb/{MANIFEST_FILE}" and len(recorded.keys) == 3

    with pytest.raises(InvalidIndexError, match="not a knowledge base"):
        push(RecordingS3(), tmp_path, LOCATION)


def test_pulling_a_location_without_an_index_names_it(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidIndexError, match=r"s3://slmesh-unit-kb/team/kb/ holds no knowledge base"):
        pull(s3, LOCATION, tmp_path)


def test_open_retriever_downloads_the_index_and_finds_passages(s3: Any, index: Path, tmp_path: Path) -> None:
    push(s3, index, LOCATION)

    retriever = open_retriever(LOCATION, settings_from_env(), s3, tmp_path)

    [folder] = list(tmp_path.iterdir())
    assert retriever.folder == folder and (folder / MANIFEST_FILE).is_file()
    [found] = retriever.passages(["Can my dog come on the train?"])
    assert found and found[0].source.path == "travel.md" and "Dogs" in found[0].text


def test_a_stale_index_is_refused_at_cold_start_naming_its_location(s3: Any, index: Path, tmp_path: Path) -> None:
    stale = tmp_path / "stale"
    stale.mkdir()
    for name in UPLOAD_ORDER:
        (stale / name).write_bytes((index / name).read_bytes())
    manifest = json.loads((stale / MANIFEST_FILE).read_text())
    manifest["embed_model_sha256"] = "0" * 64
    (stale / MANIFEST_FILE).write_text(json.dumps(manifest))
    push(s3, stale, LOCATION)
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    with pytest.raises(StaleIndexError, match=r"s3://slmesh-unit-kb/team/kb/ is stale.*slmesh kb ingest"):
        open_retriever(LOCATION, settings_from_env(), s3, downloads)
    assert list(downloads.iterdir()) == [], "the refused download is removed"


class FakeSource:
    def __init__(self) -> None:
        self.questions: list[str] = []

    def passages(self, questions: Sequence[str]) -> list[list[Passage]]:
        self.questions += questions
        return [[Passage(text="Dogs travel free.", source=Source(path="pets.md", score=0.8))] for _ in questions]


def test_the_handler_fills_passages_for_questions_without_a_context_only() -> None:
    event = json.loads((EVENTS / "retrieve-direct.json").read_text())
    source = FakeSource()

    routed = retrieve_event(event, source)

    assert source.questions == ["Can I take my bicycle on the train?"]
    qa = routed.route["qa"]
    assert qa is not None and qa.passages is not None and qa.passages[0].source.path == "pets.md"
    assert routed.route["sentiment"] is None and set(routed.route) == set(event["route"])
    assert routed.retrieve_ms is not None and routed.retrieve_ms >= 0

    event["route"]["qa"]["context"] = "Bikes travel free."
    assert retrieve_event(event, source) == RoutedRequest.model_validate(event), "a context needs no passages"
    assert len(source.questions) == 1
    assert retrieve_event(json.loads((EVENTS / "retrieve-direct.json").read_text()), None).retrieve_ms is None


def test_the_handler_names_a_bad_field() -> None:
    with pytest.raises(InvalidEvent, match=r"invalid retrieve event: route"):
        retrieve_event(
            {"request_id": "r", "decision": {"skills": [], "scores": {}, "subject": "s"}, "router_ms": 1}, None
        )


class QARouter:
    def route(self, prompt: str, attached: bool = False) -> RouterDecision:
        return RouterDecision(skills=["qa"], scores={"qa": 0.9}, subject=prompt)


@dataclass
class RouterOnly:
    router: QARouter = field(default_factory=QARouter)

    def run(self, skill: str, tasks: Any) -> Any:
        raise AssertionError("the router runs no skill")


@pytest.mark.parametrize(
    ("knowledge_base", "context", "marked"),
    [(True, None, True), (True, "Bikes travel free.", False), (False, None, False)],
)
def test_the_router_marks_a_plan_retrieval_serves(knowledge_base: bool, context: str | None, marked: bool) -> None:
    body = {"prompt": "Can I take my bike?", **({"context": context} if context else {})}

    routed = route_event({"body": body, "correlation_id": "c-1"}, RouterOnly(), knowledge_base)

    assert routed.needs_passages is marked and routed.retrieve_ms is None


def test_kb_push_uploads_an_index_from_the_command_line(
    s3: Any, index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from slmesh.cli import main

    assert main(["kb", "push", "--kb", str(index), "--bucket", LOCATION.bucket]) == 0

    listed = s3.list_objects_v2(Bucket=LOCATION.bucket, Prefix="kb/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(f"kb/{name}" for name in UPLOAD_ORDER)
    assert f"-> s3://{LOCATION.bucket}/kb/: 1 documents" in capsys.readouterr().out
    assert main(["kb", "push", "--kb", str(index), "--bucket", "Bad_Bucket"]) == 2
    assert "invalid --bucket or --prefix" in capsys.readouterr().err
