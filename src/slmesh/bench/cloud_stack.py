"""The project's stack deployed in a LocalStack: images built, template packaged and deployed, and its API called.

Used by the integration tier (tests/integration/localstack) and by `slmesh bench` (system 5), so both run the same
stack from the same template.yaml.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmesh.bench import deployment, images
from slmesh.bench.engine import REPOSITORY, Engine
from slmesh.bench.localstack import ENVIRONMENTS, LocalStack

HTTP_TIMEOUT_S = 60.0
EVENTS = REPOSITORY / "events"


def image_for(logical_id: str, resource: dict[str, Any]) -> str:
    """The engine's tag of an image function: the one built from its context, build/contexts/<function>."""
    return images.image_tag(Path(resource["Metadata"]["DockerContext"]).name)


def build_images(eng: Engine) -> dict[str, images.Built]:
    """The Lambda base and every model function's image in the engine (layers cached in its data root)."""
    images.lambda_base(eng)
    wheels = images.wheelhouse() if eng.own else None
    built = {}
    for skill in images.model_functions():
        images.stage(skill, wheels)
        built[skill] = images.build(eng, skill)
    return built


@dataclass(frozen=True)
class Response:
    status: int
    body: Any


@dataclass
class Deployed:
    """The deployed stack and a client for its REST API (LocalStack's `/_aws/execute-api/{id}/{stage}` paths)."""

    ls: LocalStack
    stack: deployment.Stack
    api_id: str
    stage: str
    api_key: str

    @property
    def base_url(self) -> str:
        return f"{self.ls.endpoint}/_aws/execute-api/{self.api_id}/{self.stage}"

    def request(
        self, method: str, path: str, body: Any = None, key: str | None = None, raw: bytes | None = None
    ) -> Response:
        """One API call with the stack's key (or `key`; "" sends none); JSON bodies in and out."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"}
        api_key = self.api_key if key is None else key
        if api_key:
            headers["x-api-key"] = api_key
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
                status, payload = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        try:
            parsed = json.loads(payload) if payload else None
        except json.JSONDecodeError:
            parsed = payload.decode(errors="replace")
        return Response(status, parsed)

    def analyze(self, body: dict[str, Any]) -> Response:
        return self.request("POST", "/v1/analyze", body)

    def submit(self, body: dict[str, Any]) -> Response:
        return self.request("POST", "/v1/jobs", body)

    def job(self, job_id: str) -> Response:
        return self.request("GET", f"/v1/jobs/{job_id}")

    def physical(self, logical_id: str) -> str:
        return self.stack.resources[logical_id]

    def function_name(self, logical_id: str) -> str:
        return self.physical(logical_id)


def deploy_stack(ls: LocalStack, layer: Path | None = None, name: str = deployment.STACK_NAME) -> Deployed:
    """Packages template.yaml (images already built in the engine; the layer built unless given) and deploys it."""
    template = deployment.load_template()
    built = {"SlmeshLayer": layer} if layer is not None else {}
    packaged = deployment.package(template, ls.client("s3"), image_for, built)
    stack = deployment.deploy(ls.client("cloudformation"), packaged, name)
    api_key = ls.client("apigateway").get_api_key(apiKey=stack.outputs["ApiKeyId"], includeValue=True)["value"]
    stage = str(template["Parameters"]["StageName"]["Default"])
    deployed = Deployed(ls=ls, stack=stack, api_id=stack.resources["Api"], stage=stage, api_key=api_key)
    functions = [r for r, kind in _types(template).items() if kind == "AWS::Serverless::Function"]
    _wait_until_active(ls, functions, stack)
    warm_up(deployed, functions)
    return deployed


def warm_up(deployed: Deployed, functions: list[str], environments: int = ENVIRONMENTS) -> None:
    """Starts every function's containers with its canonical direct payload (events/<name>-direct.json).

    A cold start on a busy two-core machine can outlast a state's TimeoutSeconds (the aggregator's is 10 s), which
    on AWS a cold start never nears; the tests and the bench time warm functions.
    """
    client = deployed.ls.client("lambda")

    def invoke(logical_id: str) -> None:
        event = (EVENTS / f"{logical_id.removesuffix('Function').lower()}-direct.json").read_text()
        answer = client.invoke(FunctionName=deployed.physical(logical_id), Payload=event.encode())
        if "FunctionError" in answer:
            raise deployment.DeploymentError(f"{logical_id} failed its warm-up: {answer['Payload'].read()[:500]!r}")

    with ThreadPoolExecutor(len(functions) * environments) as pool:
        list(pool.map(invoke, [f for f in functions for _ in range(environments)]))


def _types(template: dict[str, Any]) -> dict[str, str]:
    return {logical_id: r["Type"] for logical_id, r in template["Resources"].items()}


def _wait_until_active(ls: LocalStack, functions: list[str], stack: deployment.Stack, timeout_s: float = 120) -> None:
    """Lambda functions are created Pending; invokes before Active fail."""
    client = ls.client("lambda")
    deadline = time.monotonic() + timeout_s
    for logical_id in functions:
        while True:
            state = client.get_function(FunctionName=stack.resources[logical_id])["Configuration"].get("State")
            if state == "Active":
                break
            if state == "Failed" or time.monotonic() > deadline:
                raise deployment.DeploymentError(f"{logical_id} is {state}")
            time.sleep(0.2)
