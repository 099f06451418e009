"""The retrieve function under the emulator: its index pushed to a moto S3 server and read at its cold start."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from slmesh.cloud.events import RoutedRequest
from slmesh.cloud.kbstore import IndexLocation, push
from slmesh.kb.index import MANIFEST_FILE

pytestmark = pytest.mark.contract

BUCKET = "slmesh-contract-kb"


@pytest.fixture(scope="module")
def s3(aws: Any, moto_server: str) -> Any:
    client = aws(moto_server, "s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _start(lambda_function: Any, moto_server: str, prefix: str) -> Any:
    return lambda_function(
        "retrieve", AWS_ENDPOINT_URL_S3=moto_server, SLMESH_KB_BUCKET=BUCKET, SLMESH_KB_PREFIX=prefix
    )


def test_retrieve_gives_the_canonical_question_its_passages(
    lambda_function: Any, event: Any, lambda_checks: Any, s3: Any, moto_server: str, demo_kb: Path
) -> None:
    push(s3, demo_kb, IndexLocation(bucket=BUCKET, prefix="demo"))
    fn = _start(lambda_function, moto_server, "demo")

    lambda_checks.retrieved(fn, event("retrieve-direct.json"), "bicycles.md")
    # Warm: the index was downloaded once, at the first invoke.
    lambda_checks.retrieved(fn, event("retrieve-direct.json"), "bicycles.md")


def test_retrieve_without_a_knowledge_base_passes_the_plan_unchanged(lambda_function: Any, event: Any) -> None:
    payload = event("retrieve-direct.json")

    answer = lambda_function("retrieve", SLMESH_KB_BUCKET="").invoke(payload)

    assert RoutedRequest.model_validate(answer) == RoutedRequest.model_validate(payload)


def test_retrieve_refuses_a_stale_index_naming_its_location(
    lambda_function: Any, event: Any, s3: Any, moto_server: str, demo_kb: Path, tmp_path: Path
) -> None:
    stale = shutil.copytree(demo_kb, tmp_path / "stale")
    manifest = json.loads((stale / MANIFEST_FILE).read_text())
    (stale / MANIFEST_FILE).write_text(json.dumps({**manifest, "embed_model_sha256": "f" * 64}))
    push(s3, stale, IndexLocation(bucket=BUCKET, prefix="stale"))

    error = _start(lambda_function, moto_server, "stale").invoke(event("retrieve-direct.json"))

    assert error["errorType"] == "StaleIndexError"
    assert f"s3://{BUCKET}/stale/ is stale" in error["errorMessage"]


def test_retrieve_rejects_a_payload_that_is_not_a_plan(lambda_function: Any) -> None:
    error = lambda_function("retrieve", SLMESH_KB_BUCKET="").invoke({"tasks": []})

    assert error["errorType"] == "InvalidEvent"
    assert "request_id" in error["errorMessage"] and "tasks" in error["errorMessage"]
