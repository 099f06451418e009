"""LocalStack community plugins that run this project's functions offline, as AWS would run them.

* images_and_layers: an Image function runs its own image with the image's entrypoint and CMD (the community
  edition answers "Container images are a Pro feature"), and a function's layers are copied to /opt (the community
  edition leaves /opt empty).
* local_runtime_images: a runtime image already in the engine counts as pulled (no registry is reachable; a failed
  pull fails the function).
* bound_environments: at most SLMESH_LAMBDA_ENVIRONMENTS containers per function version; further invokes wait for
  a free one. LocalStack starts a container per concurrent invoke, which on a small machine turns a burst of jobs
  into hundreds of cold starts; AWS would scale out instead.
* cached_json_paths: Step Functions' JSONPath expressions are parsed once each. LocalStack parses every path anew
  and jsonpath-ng builds its parser tables on every parse (ply, tables never written): measured a third of the CPU
  LocalStack spent per job. A parsed path is never changed by finding or updating with it.
* cached_service_clients: Step Functions' service integrations reuse one client per service, region and role; LocalStack
  assumes the role and builds a new boto3 client for every task (a fifth of its CPU per job, measured). Assumed
  credentials outlive any test run here.
* dynamodb_without_agent: DynamoDB Local starts without LocalStack's java agent (a download that lifts DynamoDB
  Local's limit of 20 global secondary indexes per table; the jobs table has none).
"""

from __future__ import annotations

import functools
import os
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from localstack.aws.api.lambda_ import PackageType
from localstack.runtime.hooks import on_infra_start
from localstack.services.dynamodb.server import DynamodbServer
from localstack.services.lambda_.hooks import prepare_docker_executor, start_docker_executor
from localstack.services.lambda_.invocation import docker_runtime_executor
from localstack.services.lambda_.invocation.assignment import AssignmentService
from localstack.utils.container_utils.container_client import NoSuchImage
from localstack.utils.docker_utils import DOCKER_CLIENT

ENVIRONMENTS_VARIABLE = "SLMESH_LAMBDA_ENVIRONMENTS"


@start_docker_executor()
def images_and_layers(container_config: Any, function_version: Any) -> None:
    config = function_version.config
    if config.package_type == PackageType.Image:
        image = config.image.image_uri
        inspected: Any = DOCKER_CLIENT.inspect_image(image, pull=False)["Config"]
        own = config.image_config
        container_config.image_name = image
        # /var/rapid/init (the container's entrypoint) runs this as LocalStack's init runs a custom image's command.
        container_config.command = [*(own.entrypoint or inspected.get("Entrypoint") or []),
                                    *(own.command or inspected.get("Cmd") or [])]  # fmt: skip
        container_config.workdir = own.working_directory or inspected.get("WorkingDir") or None
    for layer in config.layers:
        layer.code.prepare_for_execution()
        container_config.copy_folders.append((f"{layer.code.get_unzipped_code_location()}/.", "/opt"))


@prepare_docker_executor()
def local_runtime_images(function_version: Any) -> None:
    config = function_version.config
    if config.runtime is None:
        return
    image = docker_runtime_executor.resolver.get_image_for_runtime(config.runtime)
    try:
        DOCKER_CLIENT.inspect_image(image, pull=False)
    except NoSuchImage:
        return
    platform = docker_runtime_executor.docker_platform(config.architectures[0])
    docker_runtime_executor.PULLED_IMAGES.add((image, platform))


@on_infra_start()
def bound_environments() -> None:
    limit = int(os.environ.get(ENVIRONMENTS_VARIABLE) or 0)
    if limit <= 0:
        return
    unbounded = AssignmentService.get_environment
    slots: defaultdict[str, threading.BoundedSemaphore] = defaultdict(lambda: threading.BoundedSemaphore(limit))
    guard = threading.Lock()

    @contextmanager
    def get_environment(self: Any, version_manager_id: str, *args: Any) -> Iterator[Any]:
        with guard:
            slot = slots[version_manager_id]
        with slot, unbounded(self, version_manager_id, *args) as environment:
            yield environment

    AssignmentService.get_environment = get_environment


@on_infra_start()
def dynamodb_without_agent() -> None:
    with_agent = DynamodbServer._create_shell_command

    def command(self: Any) -> list[str]:
        return [arg for arg in with_agent(self) if not arg.startswith("-javaagent:")]

    DynamodbServer._create_shell_command = command


@on_infra_start()
def cached_json_paths() -> None:
    from localstack.services.stepfunctions.asl.component.common.path import result_path
    from localstack.services.stepfunctions.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)


@on_infra_start(priority=10)
def cached_service_clients() -> None:
    # Before any integration module is imported: each binds the function by name when it is.
    from localstack.services.stepfunctions.asl.utils import boto_client

    uncached = boto_client.boto_client_for

    @functools.lru_cache(maxsize=256)
    def client_for(service: str, region: str, role_arn: str) -> Any:
        return uncached(service, region, _Credentials(role_arn))

    def boto_client_for(service: str, region: str, state_credentials: Any) -> Any:
        return client_for(service, region, state_credentials.role_arn)

    boto_client.boto_client_for = boto_client_for


class _Credentials:
    def __init__(self, role_arn: str) -> None:
        self.role_arn = role_arn
