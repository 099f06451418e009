"""Every function image built from functions/Dockerfile, run under its own emulator, answering each events/ payload.

The answers are checked with the contract tier's assertions (tests/conftest.py: LambdaChecks); the aggregator, a
zip function, runs in the Lambda base image with the built layer mounted at /opt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slmesh.bench import images
from slmesh.bench.engine import Engine
from slmesh.cloud.images import image_models
from slmesh.cloud.kbstore import IndexLocation, push
from slmesh.skills.registry import registry

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
SKILLS = images.model_functions()
SKILL_FUNCTIONS = [spec.name for spec in registry.specs()]
FUNCTION_EVENTS = {
    "router": ["router-direct.json", "express-input.json"],
    "retrieve": ["retrieve-direct.json"],
    **{skill: [f"{skill}-direct.json", f"{skill}-sqs-batch.json"] for skill in SKILL_FUNCTIONS},
    "aggregator": ["aggregator-direct.json"],
}
# What the bus delivers to the Standard state machine's rule, not to a function.
NOT_A_FUNCTION_PAYLOAD = {"eventbridge-analysis-requested.json"}
ADDED_MB_BUDGET = 300.0
# Printed by a Python inside the image: where each module would be imported from (None: absent).
_INSTALL_PROBE = """
import importlib.util, json, os
names = ["slmesh", "slmesh.cloud", "slmesh.training", "slmesh.bench", "slmesh.research", "torch", "transformers"]
found = {}
for name in names:
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    found[name] = spec.origin if spec else None
task = os.environ["LAMBDA_TASK_ROOT"]
print(json.dumps({"found": found, "task_root": sorted(os.listdir(task)), "models": os.listdir(task + "/models")}))
"""


def test_every_canonical_payload_is_a_case_here() -> None:
    listed = {name for names in FUNCTION_EVENTS.values() for name in names}
    assert {p.name for p in (ROOT / "events").glob("*.json")} == listed | NOT_A_FUNCTION_PAYLOAD
    assert set(SKILLS) | {"aggregator"} == set(FUNCTION_EVENTS)


@pytest.mark.parametrize("skill", SKILLS)
def test_image_adds_less_than_the_budget_to_its_base(
    container_engine: Engine, lambda_base: str, built: dict[str, images.Built], skill: str
) -> None:
    added = images.size_mb(container_engine, built[skill].tag) - images.size_mb(container_engine, lambda_base)

    assert 0 < added < ADDED_MB_BUDGET


@pytest.mark.parametrize("skill", SKILLS)
def test_image_installs_the_runtime_package_and_its_own_model_only(
    container_engine: Engine, built: dict[str, images.Built], skill: str
) -> None:
    probe = container_engine.docker("run", "--rm", "--entrypoint", "python3", built[skill].tag, "-c", _INSTALL_PROBE)

    seen = json.loads(probe)
    assert seen["found"]["slmesh"] == "/var/task/slmesh/__init__.py"
    assert seen["found"]["slmesh.cloud"] is not None
    for absent in ("slmesh.training", "slmesh.bench", "slmesh.research", "torch", "transformers"):
        assert seen["found"][absent] is None, absent
    assert not [name for name in seen["task_root"] if name.startswith(("torch", "transformers"))]
    assert seen["models"] == [image_models()[skill]], "the model the function reads, and no other"


def test_router_image_answers_its_payloads(
    built: dict[str, images.Built], function_container: Any, event: Any, lambda_checks: Any
) -> None:
    fn = function_container(built["router"].tag, "router")

    lambda_checks.routed(fn, event("router-direct.json"), cold_start=True)
    lambda_checks.routed(fn, event("express-input.json"), cold_start=False)


@pytest.mark.parametrize("skill", SKILL_FUNCTIONS)
def test_skill_image_answers_a_direct_invoke_and_a_batch_nobody_waits_for(
    built: dict[str, images.Built],
    function_container: Any,
    namespace_moto: str,
    event: Any,
    lambda_checks: Any,
    skill: str,
) -> None:
    fn = function_container(built[skill].tag, skill, env={"AWS_ENDPOINT_URL_SFN": namespace_moto})

    lambda_checks.skill_answered(fn, event(f"{skill}-direct.json"), skill)
    lambda_checks.batch_without_waiters(fn, event(f"{skill}-sqs-batch.json"), skill)


@pytest.mark.parametrize("skill", SKILL_FUNCTIONS)
def test_skill_image_answers_the_tokens_of_waiting_executions(
    container_engine: Engine,
    built: dict[str, images.Built],
    function_container: Any,
    aws_in_namespace: Any,
    namespace_moto: str,
    event: Any,
    lambda_checks: Any,
    skill: str,
) -> None:
    def start() -> images.Container:
        return function_container(built[skill].tag, skill, env={"AWS_ENDPOINT_URL_SFN": namespace_moto})

    container_engine.call(
        lambda_checks.batch_answers_tokens, aws_in_namespace, start, event(f"{skill}-sqs-batch.json"), skill
    )


def test_retrieve_image_reads_its_index_from_s3(
    container_engine: Engine,
    built: dict[str, images.Built],
    function_container: Any,
    aws_in_namespace: Any,
    namespace_moto: str,
    demo_kb: Path,
    event: Any,
    lambda_checks: Any,
) -> None:
    location = IndexLocation(bucket="slmesh-container-kb", prefix="kb")
    s3 = aws_in_namespace("s3")
    container_engine.call(s3.create_bucket, Bucket=location.bucket)
    container_engine.call(push, s3, demo_kb, location)
    env = {"AWS_ENDPOINT_URL_S3": namespace_moto, "SLMESH_KB_BUCKET": location.bucket, "SLMESH_KB_PREFIX": "kb"}
    fn = function_container(built["retrieve"].tag, "retrieve", env=env)

    lambda_checks.retrieved(fn, event("retrieve-direct.json"), "bicycles.md")


def test_aggregator_runs_in_the_base_image_on_the_layer(
    lambda_base: str, layer: Path, function_container: Any, event: Any, lambda_checks: Any
) -> None:
    code = ROOT / "functions" / "aggregator"
    fn = function_container(
        lambda_base, "aggregator", volumes={layer: "/opt", code: "/var/task"}, handler="app.handler"
    )

    lambda_checks.aggregated(fn, event("aggregator-direct.json"))
