"""Packages template.yaml as `sam package` does and deploys it with CloudFormation (LocalStack or AWS).

`sam deploy` pushes images to ECR, which LocalStack's community edition lacks, so the project packages its own
template: every local artefact is uploaded to an S3 bucket and its reference rewritten — zip function code and layer
content (built by their Makefiles, `BuildMethod: makefile`, as `sam build` builds them) become `s3://` URIs, state
machine definitions `{Bucket, Key}`, an `AWS::Include` location an `s3://` URI — and each image function gets the
`ImageUri` of an image already in the engine. Keys are content digests (a changed body gives a new key, and so a new
API deployment, as with `sam package`). Nothing in the template is copied by hand: the deployed stack is the file's.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmesh.bench.engine import REPOSITORY

TEMPLATE = REPOSITORY / "template.yaml"
STACK_NAME = "slmesh"
BUCKET = "slmesh-artifacts"
DEPLOY_TIMEOUT_S = 600.0
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
ImageFor = Callable[[str, dict[str, Any]], str]


class DeploymentError(RuntimeError):
    """The stack did not deploy; the message holds CloudFormation's reasons."""


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template with intrinsic functions in their long form (JSON-ready), as SAM parses it."""
    from samcli.yamlhelper import yaml_parse

    parsed: dict[str, Any] = yaml_parse(path.read_text())
    return parsed


def _zip(folder: Path) -> bytes:
    """A deterministic zip of a folder (sorted entries, fixed times), so unchanged code keeps its key."""
    with tempfile.SpooledTemporaryFile() as buffer:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
        buffer.seek(0)
        return buffer.read()


def build_with_makefile(logical_id: str, resource: dict[str, Any], code_path: str, dest: Path) -> Path:
    """`sam build` for `BuildMethod: makefile`: `make build-<LogicalId>` with ARTIFACTS_DIR, from the project root
    when the resource names one (ProjectRootDirectory, Makefile in ContextPath), else from the code folder."""
    metadata = resource.get("Metadata", {})
    if metadata.get("BuildMethod") != "makefile":
        return REPOSITORY / code_path
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if "ProjectRootDirectory" in metadata:
        cwd = REPOSITORY / metadata["ProjectRootDirectory"]
        makefile = Path(metadata.get("ContextPath", code_path)) / "Makefile"
    else:
        cwd, makefile = REPOSITORY / code_path, Path("Makefile")
    done = subprocess.run(
        ["make", "-s", "-f", str(makefile), f"build-{logical_id}", f"ARTIFACTS_DIR={dest}", f"PYTHON={sys.executable}"],
        cwd=cwd, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise DeploymentError(f"building {logical_id} failed: {done.stderr[-1500:]}")
    return dest


@dataclass
class Packager:
    """Uploads each local artefact once to `bucket` through the boto3 S3 client `s3`."""

    s3: Any
    bucket: str
    image_for: ImageFor
    built: dict[str, Path]
    work: Path

    def upload(self, body: bytes, suffix: str) -> str:
        key = f"{hashlib.md5(body, usedforsecurity=False).hexdigest()}{suffix}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return key

    def code_uri(self, logical_id: str, resource: dict[str, Any], code_path: str) -> str:
        folder = self.built.get(logical_id) or build_with_makefile(
            logical_id, resource, code_path, self.work / logical_id
        )
        return f"s3://{self.bucket}/{self.upload(_zip(folder), '.zip')}"

    def resource(self, logical_id: str, resource: dict[str, Any]) -> None:
        kind, props = resource["Type"], resource.setdefault("Properties", {})
        if kind == "AWS::Serverless::Function" and props.get("PackageType") == "Image":
            props["ImageUri"] = self.image_for(logical_id, resource)
        elif kind == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = self.code_uri(logical_id, resource, props["CodeUri"])
        elif kind == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            props["ContentUri"] = self.code_uri(logical_id, resource, props["ContentUri"])
        elif kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            key = self.upload((REPOSITORY / props["DefinitionUri"]).read_bytes(), ".json")
            props["DefinitionUri"] = {"Bucket": self.bucket, "Key": key}

    def includes(self, node: Any) -> None:
        """Every `Fn::Transform: AWS::Include` with a local Location, wherever it sits."""
        if isinstance(node, list):
            for item in node:
                self.includes(item)
        elif isinstance(node, dict):
            transform = node.get("Fn::Transform")
            if isinstance(transform, dict) and transform.get("Name") == "AWS::Include":
                parameters = transform["Parameters"]
                location = parameters["Location"]
                if not location.startswith("s3://"):
                    key = self.upload((REPOSITORY / location).read_bytes(), Path(location).suffix)
                    parameters["Location"] = f"s3://{self.bucket}/{key}"
            for value in node.values():
                self.includes(value)


def package(
    template: dict[str, Any], s3: Any, image_for: ImageFor, built: dict[str, Path] | None = None, bucket: str = BUCKET
) -> dict[str, Any]:
    """A copy of `template` whose local references point at uploads in `bucket` (created when missing)."""
    packaged = copy.deepcopy(template)
    buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in buckets:
        s3.create_bucket(Bucket=bucket)
    with tempfile.TemporaryDirectory(prefix="slmesh-package-") as work:
        packager = Packager(s3, bucket, image_for, built or {}, Path(work))
        for logical_id, resource in packaged["Resources"].items():
            packager.resource(logical_id, resource)
        packager.includes(packaged["Resources"])
    return packaged


@dataclass(frozen=True)
class Stack:
    name: str
    outputs: dict[str, str]
    resources: dict[str, str]
    """Logical id -> physical id."""
    seconds: float


def _failures(cfn: Any, name: str) -> str:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if "FAILED" in e["ResourceStatus"]
    ]
    return "; ".join(failed[:8]) or "no reason given"


def _stack_events(cfn: Any, name: str, timeout_s: float) -> Iterator[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status: str = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        yield status
        time.sleep(0.5)
    raise DeploymentError(f"stack {name} still not deployed after {timeout_s:.0f} s")


def deploy(cfn: Any, packaged: dict[str, Any], name: str = STACK_NAME, timeout_s: float = DEPLOY_TIMEOUT_S) -> Stack:
    """Creates the stack (or updates it when it exists) and waits until CloudFormation is done."""
    started = time.perf_counter()
    existing = {s["StackName"] for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"}
    body = json.dumps(packaged)
    if name in existing:
        try:
            cfn.update_stack(StackName=name, TemplateBody=body, Capabilities=CAPABILITIES)
        except cfn.exceptions.ClientError as exc:
            if "No updates" not in str(exc):
                raise
    else:
        cfn.create_stack(StackName=name, TemplateBody=body, Capabilities=CAPABILITIES)
    for status in _stack_events(cfn, name, timeout_s):
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
            break
        if status.endswith(("_FAILED", "ROLLBACK_COMPLETE")):
            raise DeploymentError(f"stack {name} {status}: {_failures(cfn, name)}")
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    listed = cfn.describe_stack_resources(StackName=name)["StackResources"]
    return Stack(
        name=name,
        outputs={o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        resources={r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in listed},
        seconds=round(time.perf_counter() - started, 1),
    )
