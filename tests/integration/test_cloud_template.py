"""template.yaml: SAM and cfn-lint validation offline, and the invariants the issue asks of the stack."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern
from samcli.yamlhelper import yaml_parse

from slmesh.cloud.apischema import gateway_request_schema
from slmesh.cloud.events import AnalysisRequested
from slmesh.cloud.images import image_models
from slmesh.cloud.kbstore import DEFAULT_PREFIX
from slmesh.cloud.statemachines import DEFINITIONS, placeholder, render
from slmesh.schemas import MAX_CONTEXT_CHARS, MAX_PROMPT_CHARS
from slmesh.skills.registry import registry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OFFLINE_ENV = {
    **os.environ,
    "AWS_DEFAULT_REGION": "us-east-1",
    "SAM_CLI_TELEMETRY": "0",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())
    return parsed


@pytest.fixture(scope="module")
def api_body(template: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI body the template includes (AWS::Include), read from its file as CloudFormation inserts it."""
    include = template["Resources"]["Api"]["Properties"]["DefinitionBody"]["Fn::Transform"]
    assert include["Name"] == "AWS::Include"
    parsed: dict[str, Any] = yaml_parse((ROOT / include["Parameters"]["Location"]).read_text())
    return parsed


def _nulls(value: Any, path: str = "") -> list[str]:
    if value is None:
        return [path or "/"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}/{i}")]
    return []


def test_no_value_in_the_template_or_its_api_body_is_null(template: dict[str, Any], api_body: dict[str, Any]) -> None:
    # A YAML flow mapping with an unquoted comma splits into two keys, one of them null; CloudFormation
    # engines reject nulls (LocalStack: "Unsupported type NoneType") and API Gateway keeps the junk key.
    assert _nulls(template) == [] and _nulls(api_body) == []


def test_every_condition_is_used(template: dict[str, Any], api_body: dict[str, Any]) -> None:
    used = json.dumps([template["Resources"], template.get("Outputs"), api_body])
    for condition in template.get("Conditions", {}):
        assert f'"{condition}"' in used, condition


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[cloud-test]'"
    return found


@pytest.mark.parametrize(
    "command",
    [
        ["sam", "validate", "-t", "template.yaml"],
        ["sam", "validate", "--lint", "-t", "template.yaml"],
        ["cfn-lint", "template.yaml"],
    ],
    ids=["sam-validate", "sam-validate-lint", "cfn-lint"],
)
def test_template_validates_offline(command: list[str]) -> None:
    result = subprocess.run(
        [_tool(command[0]), *command[1:]],
        cwd=ROOT,
        env=OFFLINE_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_every_queue_has_a_dlq_and_six_times_its_consumers_timeout(template: dict[str, Any]) -> None:
    queues = _resources(template, "AWS::SQS::Queue")
    functions = _resources(template, "AWS::Serverless::Function")
    consumers = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0]: fn
        for fn in functions.values()
        for event in fn["Properties"].get("Events", {}).values()
        if event["Type"] == "SQS"
    }
    assert set(consumers) == {f"{spec.resource}Queue" for spec in registry.specs()}
    for name, fn in consumers.items():
        props = queues[name]["Properties"]
        assert props["VisibilityTimeout"] == 6 * fn["Properties"]["Timeout"], name
        dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dlq in queues and "RedrivePolicy" not in queues[dlq]["Properties"]
        assert 1 <= props["RedrivePolicy"]["maxReceiveCount"] <= 5
    for fn in consumers.values():
        [event] = [e for e in fn["Properties"]["Events"].values() if e["Type"] == "SQS"]
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_model_functions_are_images_with_a_substitutable_base(template: dict[str, Any]) -> None:
    functions = _resources(template, "AWS::Serverless::Function")
    dockerfile = (ROOT / "functions" / "Dockerfile").read_text()
    assert "\nARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12\n" in dockerfile
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert len(re.findall(r"pip install .*--require-hashes", dockerfile)) == 1
    assert re.findall(r"^COPY models/(\S+)", dockerfile, re.MULTILINE) == ["${MODEL}"], "one image, one model"
    images = {name: fn for name, fn in functions.items() if fn["Properties"].get("PackageType") == "Image"}
    by_function = {Path(fn["Metadata"]["DockerContext"]).name: fn for fn in images.values()}
    assert set(by_function) == set(image_models()), "every model function has an image, and only those"
    for function, fn in by_function.items():
        # The context infra/local/stage.py stages for this function, which holds functions/Dockerfile and its app.py.
        assert fn["Metadata"]["DockerContext"] == f"build/contexts/{function}"
        assert (ROOT / "functions" / function / "app.py").is_file()
        assert fn["Metadata"]["Dockerfile"] == "Dockerfile"
        # The folder the function reads (a skill's `model`), not one named after the function.
        assert fn["Metadata"]["DockerBuildArgs"] == {"MODEL": image_models()[function]}, function
    aggregator = functions["AggregatorFunction"]["Properties"]
    assert aggregator["Layers"] == [{"Ref": "SlmeshLayer"}]
    assert (ROOT / "layers/slmesh/Makefile").read_text().count("build-SlmeshLayer:") == 1


@pytest.mark.parametrize("machine", ["AnalyzeExpressStateMachine", "AnalyzeJobsStateMachine"])
def test_definition_substitutions_match_the_asl_placeholders(template: dict[str, Any], machine: str) -> None:
    props = template["Resources"][machine]["Properties"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", (ROOT / props["DefinitionUri"]).read_text()))
    assert placeholders == set(props["DefinitionSubstitutions"])


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_committed_state_machines_are_the_generated_ones(name: str) -> None:
    committed = (ROOT / "infra" / name).read_text()
    assert committed == render(DEFINITIONS[name]()), "run: python -m slmesh.cloud.statemachines"


def test_every_deployed_skill_has_its_function_queue_and_substitutions(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    express = resources["AnalyzeExpressStateMachine"]["Properties"]
    jobs = resources["AnalyzeJobsStateMachine"]["Properties"]
    for spec in registry.specs():
        function = resources[f"{spec.resource}Function"]
        assert function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == spec.name
        assert f"{spec.resource}DeadLetterQueue" in resources
        assert express["DefinitionSubstitutions"][placeholder(spec, "FunctionArn")] == {
            "Fn::GetAtt": [f"{spec.resource}Function", "Arn"]
        }
        assert jobs["DefinitionSubstitutions"][placeholder(spec, "QueueUrl")] == {"Ref": f"{spec.resource}Queue"}
        assert {"LambdaInvokePolicy": {"FunctionName": {"Ref": f"{spec.resource}Function"}}} in express["Policies"]
        assert {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": [f"{spec.resource}Queue", "QueueName"]}}} in (
            jobs["Policies"]
        )


def test_gateway_body_schema_is_the_one_derived_from_the_api_contract(api_body: dict[str, Any]) -> None:
    schema = api_body["components"]["schemas"]["AnalyzeRequest"]
    assert schema == gateway_request_schema()
    assert schema["required"] == ["prompt"]
    assert schema["properties"]["prompt"]["maxLength"] == MAX_PROMPT_CHARS
    assert schema["properties"]["context"]["maxLength"] == MAX_CONTEXT_CHARS
    for path in ("/v1/analyze", "/v1/jobs"):
        post = api_body["paths"][path]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/AnalyzeRequest"
        }
        assert post["x-amazon-apigateway-request-validator"] == "body"


def test_api_requires_a_key_on_every_method_and_calls_services_directly(
    template: dict[str, Any], api_body: dict[str, Any]
) -> None:
    assert api_body["x-amazon-apigateway-api-key-source"] == "HEADER"
    assert api_body["components"]["securitySchemes"]["api_key"] == {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    methods = [method for methods in api_body["paths"].values() for method in methods.values()]
    assert all(method["security"] == [{"api_key": []}] for method in methods)
    resources = template["Resources"]
    plan = resources["ApiUsagePlan"]["Properties"]
    # The stage by name, after SAM's generated stage (LocalStack rejects `!Ref Api.Stage`).
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "Api"}, "Stage": {"Ref": "StageName"}}]
    assert resources["ApiUsagePlan"]["DependsOn"] == "ApiStage"
    assert plan["Quota"]["Limit"] == {"Ref": "ApiQuotaPerDay"} and plan["Throttle"]["RateLimit"] > 0
    assert resources["ApiUsagePlanKey"]["Properties"]["KeyId"] == {"Ref": "ApiKey"}
    uris = {
        path: method["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for path, methods in api_body["paths"].items()
        for method in methods.values()
    }
    assert uris == {
        "/v1/analyze": "arn:${AWS::Partition}:apigateway:${AWS::Region}:states:action/StartSyncExecution",
        "/v1/jobs": "arn:${AWS::Partition}:apigateway:${AWS::Region}:events:action/PutEvents",
        "/v1/jobs/{id}": "arn:${AWS::Partition}:apigateway:${AWS::Region}:dynamodb:action/GetItem",
    }


def test_state_machines_cover_every_deployed_skill() -> None:
    for asl in DEFINITIONS:
        definition = json.loads((ROOT / "infra" / asl).read_text())
        [parallel] = [s for s in definition["States"].values() if s["Type"] == "Parallel"]
        branch_skills = [
            b["States"][b["StartAt"]]["Choices"][0]["Variable"].split(".")[-1] for b in parallel["Branches"]
        ]
        assert branch_skills == [spec.name for spec in registry.specs()]
        for branch in parallel["Branches"]:
            tasks = [s for s in branch["States"].values() if s["Type"] == "Task"]
            assert all(t["Retry"] and t["Catch"] for t in tasks), asl


def test_bus_rule_matches_the_canonical_request_event(template: dict[str, Any]) -> None:
    rule = template["Resources"]["AnalyzeJobsStateMachine"]["Properties"]["Events"]["AnalysisRequested"]
    event = json.loads((ROOT / "events/eventbridge-analysis-requested.json").read_text())
    AnalysisRequested.model_validate(event["detail"])
    # moto's TestEventPattern API returns no Result, so its bus matcher is called directly.
    pattern = EventPattern.load(json.dumps(rule["Properties"]["Pattern"]))
    assert pattern.matches_event(event)
    assert not pattern.matches_event({**event, "detail-type": "AnalysisCompleted"})


@pytest.mark.parametrize("machine", ["AnalyzeExpressStateMachine", "AnalyzeJobsStateMachine"])
def test_both_machines_retrieve_between_routing_and_the_skills(template: dict[str, Any], machine: str) -> None:
    props = template["Resources"][machine]["Properties"]
    states = json.loads((ROOT / props["DefinitionUri"]).read_text())["States"]
    assert states["Route"]["Next"] == "PassagesNeeded"
    choice = states["PassagesNeeded"]
    [rule] = choice["Choices"]
    assert rule["Variable"].endswith(".needs_passages") and rule["BooleanEquals"] is True
    assert rule["Next"] == "Retrieve" and choice["Default"] == "RunSkills"
    task = states["Retrieve"]
    assert task["Parameters"]["FunctionName"] == "${RetrieveFunctionArn}"
    [retry] = task["Retry"]
    assert all(error.startswith("Lambda.") for error in retry["ErrorEquals"])
    # Any failure left continues with the plan as routed: the question is answered without passages, not lost.
    assert task["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "RunSkills"}]
    assert task["Next"] == "RunSkills"
    assert props["DefinitionSubstitutions"]["RetrieveFunctionArn"] == {"Fn::GetAtt": ["RetrieveFunction", "Arn"]}
    assert {"LambdaInvokePolicy": {"FunctionName": {"Ref": "RetrieveFunction"}}} in props["Policies"]


def test_the_knowledge_base_is_a_parameter_and_none_by_default(template: dict[str, Any]) -> None:
    parameters, resources = template["Parameters"], template["Resources"]
    assert parameters["KnowledgeBaseBucket"]["Default"] == ""
    assert parameters["KnowledgeBasePrefix"]["Default"] == DEFAULT_PREFIX
    assert template["Conditions"]["HasKnowledgeBase"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KnowledgeBaseBucket"}, ""]}]
    }
    for function in ("RouterFunction", "RetrieveFunction"):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert variables["SLMESH_KB_BUCKET"] == {"Ref": "KnowledgeBaseBucket"}, function
        assert variables["SLMESH_KB_PREFIX"] == {"Ref": "KnowledgeBasePrefix"}, function
    assert resources["RetrieveFunctionKnowledgeBasePolicy"]["Condition"] == "HasKnowledgeBase"
