"""Least privilege, read from the IAM that SAM generates from template.yaml (its translator, offline).

Each function reaches only its own queue and the jobs machine's task tokens; each state machine only the functions,
queues, table and bus it names; the API only its three integrations; throttling sits on the usage plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

from slmesh.skills.registry import registry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANAGED = {"service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
"""Logs and traces: the only managed policies any role may hold (neither has resource-level permissions)."""
LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
"""The one documented `Resource: "*"` statement: CloudWatch log delivery of the Express machine."""


class NoManagedPolicyNames:
    """The translator asks IAM for managed policies named without an ARN; the template names none."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def resources(region: None) -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())
    # What `sam package` writes in place of local paths.
    for name, resource in template["Resources"].items():
        props = resource["Properties"]
        if resource["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name.lower()}:v1"
            else:
                props["CodeUri"] = f"s3://bucket/{name}.zip"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            props["DefinitionUri"] = f"s3://bucket/{name}.json"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://bucket/{name}.zip"
    translated: dict[str, Any] = transform(template, {}, NoManagedPolicyNames())["Resources"]
    return translated


@pytest.fixture(scope="module")
def region() -> Iterator[None]:
    """The translator fills AWS::Region from the environment's boto session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_of(resources: dict[str, Any], owner: str) -> dict[str, Any]:
    props = resources[owner]["Properties"]
    role_ref = (props.get("Role") or props["RoleArn"])["Fn::GetAtt"][0]
    role: dict[str, Any] = resources[role_ref]
    return role


def grants(role: dict[str, Any], ids: set[str], broad: bool = False) -> set[tuple[str, str]]:
    """(action, logical id) for every resource a role's statements name by Ref, GetAtt or inside a Sub."""
    return {
        (action, target)
        for statement in _statements(role)
        if broad or statement["Resource"] != "*"
        for action in _list(statement["Action"])
        for target in set(json.dumps(statement["Resource"]).replace('"', " ").split()) & ids
    }


def test_no_role_holds_a_wildcard_action_or_a_broad_managed_policy(resources: dict[str, Any]) -> None:
    roles = {name: r for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert roles
    for name, role in roles.items():
        managed = {
            json.dumps(a).split(":policy/")[-1].rstrip('"}') for a in role["Properties"].get("ManagedPolicyArns", [])
        }
        assert managed <= MANAGED, name
        for statement in _statements(role):
            actions = set(_list(statement["Action"]))
            assert not any(a == "*" or a.endswith(":*") for a in actions), (name, actions)
            if statement["Resource"] == "*":
                assert actions <= LOG_DELIVERY, (name, actions)


def test_each_skill_function_reaches_its_own_queue_and_the_task_tokens_only(resources: dict[str, Any]) -> None:
    for spec in registry.specs():
        granted = grants(_role_of(resources, f"{spec.resource}Function"), set(resources))
        queue = f"{spec.resource}Queue"
        assert granted == {
            *((a, queue) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")),
            ("sqs:ChangeMessageVisibility", queue),
            *((a, "AnalyzeJobsStateMachine") for a in ("states:SendTaskSuccess", "states:SendTaskFailure")),
            ("states:SendTaskHeartbeat", "AnalyzeJobsStateMachine"),
        }, spec.name


def test_router_and_aggregator_functions_reach_nothing(resources: dict[str, Any]) -> None:
    for function in ("RouterFunction", "AggregatorFunction"):
        assert _statements(_role_of(resources, function)) == [], function


def test_each_state_machine_reaches_only_what_its_definition_uses(resources: dict[str, Any]) -> None:
    skills = {f"{spec.resource}Function" for spec in registry.specs()}
    queues = {f"{spec.resource}Queue" for spec in registry.specs()}
    expected = {
        "AnalyzeExpressStateMachine": {
            ("lambda:InvokeFunction", f) for f in {"RouterFunction", "RetrieveFunction", "AggregatorFunction", *skills}
        },
        "AnalyzeJobsStateMachine": {
            *(("lambda:InvokeFunction", f) for f in ("RouterFunction", "RetrieveFunction", "AggregatorFunction")),
            *(("sqs:SendMessage*", q) for q in queues),
            ("dynamodb:PutItem", "JobsTable"),
            ("dynamodb:UpdateItem", "JobsTable"),
            ("events:PutEvents", "EventBus"),
        },
    }
    for machine, expected_grants in expected.items():
        assert grants(_role_of(resources, machine), set(resources)) == expected_grants, machine


def test_the_api_calls_its_three_integrations_and_is_throttled(resources: dict[str, Any]) -> None:
    assert grants(resources["ApiRole"], set(resources)) == {
        ("states:StartSyncExecution", "AnalyzeExpressStateMachine"),
        ("events:PutEvents", "EventBus"),
        ("dynamodb:GetItem", "JobsTable"),
    }
    plan = resources["ApiUsagePlan"]["Properties"]
    assert 0 < plan["Throttle"]["RateLimit"] <= plan["Throttle"]["BurstLimit"]
    assert plan["Quota"]["Period"] == "DAY"
    [stage] = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    [settings] = stage["Properties"]["MethodSettings"]
    assert settings["ThrottlingRateLimit"] <= plan["Throttle"]["RateLimit"]
    assert settings["ThrottlingBurstLimit"] <= plan["Throttle"]["BurstLimit"]


def test_the_retrieve_function_reads_the_index_prefix_only_and_only_with_a_knowledge_base(
    resources: dict[str, Any],
) -> None:
    role = _role_of(resources, "RetrieveFunction")
    assert _statements(role) == [], "no inline access: without a knowledge base it reaches nothing"
    attached = [r for r in resources.values() if r["Type"] == "AWS::IAM::Policy"]
    [policy] = [p for p in attached if p["Properties"]["Roles"] == [{"Ref": "RetrieveFunctionRole"}]]
    assert policy["Condition"] == "HasKnowledgeBase"
    statements = {s["Action"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {"s3:GetObject", "s3:ListBucket"}
    bucket = "arn:${AWS::Partition}:s3:::${KnowledgeBaseBucket}"
    assert statements["s3:GetObject"]["Resource"] == {"Fn::Sub": f"{bucket}/${{KnowledgeBasePrefix}}/*"}
    assert statements["s3:ListBucket"]["Resource"] == {"Fn::Sub": bucket}
    assert statements["s3:ListBucket"]["Condition"] == {
        "StringLike": {"s3:prefix": {"Fn::Sub": "${KnowledgeBasePrefix}/*"}}
    }
    assert all(s["Effect"] == "Allow" for s in statements.values())
