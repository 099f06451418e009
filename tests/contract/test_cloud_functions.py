"""Every function, invoked over the emulator's HTTP API with each canonical payload in events/."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slmesh.skills.registry import registry

pytestmark = pytest.mark.contract
SKILLS = [spec.name for spec in registry.specs()]


def test_router_routes_the_canonical_request(lambda_function: Any, event: Any, lambda_checks: Any) -> None:
    lambda_checks.routed(lambda_function("router"), event("router-direct.json"), cold_start=True)


def test_router_rejects_a_bad_request_naming_the_field(lambda_function: Any) -> None:
    fn = lambda_function("router")

    error = fn.invoke({"body": {"prompt": "", "tone": "angry"}, "correlation_id": "c-1"})

    assert error["errorType"] == "InvalidRequest"
    details = json.loads(error["errorMessage"])["details"]
    assert {d["field"] for d in details} == {"prompt", "tone"}


@pytest.mark.parametrize("skill", SKILLS)
def test_skill_answers_a_direct_invoke(lambda_function: Any, event: Any, lambda_checks: Any, skill: str) -> None:
    lambda_checks.skill_answered(lambda_function(skill), event(f"{skill}-direct.json"), skill)


def test_skill_rejects_another_skills_task(lambda_function: Any, event: Any) -> None:
    fn = lambda_function("sentiment")

    error = fn.invoke(event("qa-direct.json"))

    assert error["errorType"] == "InvalidEvent"
    assert "tasks.0.skill" in error["errorMessage"]


def test_skill_rejects_a_malformed_payload_naming_the_field(lambda_function: Any) -> None:
    fn = lambda_function("qa")

    error = fn.invoke({"tasks": [{"request_id": "r", "skill": "qa"}]})

    assert error["errorType"] == "InvalidEvent"
    assert "tasks.0.subject" in error["errorMessage"]


def test_aggregator_merges_the_canonical_branches(lambda_function: Any, event: Any, lambda_checks: Any) -> None:
    lambda_checks.aggregated(lambda_function("aggregator"), event("aggregator-direct.json"))


# ---------------------------------------------------------------- SQS batches, answered through task tokens


@pytest.mark.parametrize("skill", SKILLS)
def test_sqs_batch_answers_each_token_and_reports_partial_failures(
    lambda_function: Any, event: Any, lambda_checks: Any, aws: Any, moto_server: str, skill: str
) -> None:
    lambda_checks.batch_answers_tokens(
        lambda service: aws(moto_server, service),
        lambda: lambda_function(skill, AWS_ENDPOINT_URL_SFN=moto_server),
        event(f"{skill}-sqs-batch.json"),
        skill,
    )


@pytest.mark.parametrize("skill", SKILLS)
def test_sqs_batch_survives_tokens_no_execution_waits_for(
    lambda_function: Any, event: Any, lambda_checks: Any, moto_server: str, skill: str
) -> None:
    fn = lambda_function(skill, AWS_ENDPOINT_URL_SFN=moto_server)
    lambda_checks.batch_without_waiters(fn, event(f"{skill}-sqs-batch.json"), skill)
