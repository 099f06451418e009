"""The one Logger, Tracer and Metrics of a function process, configured from the validated settings."""

from __future__ import annotations

from typing import cast

from aws_lambda_powertools import Logger, Metrics, Tracer

from slmesh.cloud.config import CloudSettings, cloud_settings_from_env
from slmesh.cloud.handler_types import Handler

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def configure(settings: CloudSettings | None = None) -> CloudSettings:
    """Validates the environment and applies it; the singletons above may predate the final environment."""
    settings = settings or cloud_settings_from_env()
    logger.service = settings.service
    logger.append_keys(service=settings.service)
    logger.setLevel(settings.log_level)
    metrics.namespace = settings.metrics_namespace
    metrics.service = settings.service
    return settings


def instrumented(handler: Handler, correlation_id_path: str) -> Handler:
    """The handler with its log context, X-Ray subsegment and metrics flush, as every function has them.

    Tracing never records the return value: the router's holds the prompt's subject and the whole context, and user
    text must not leave the function (docs/serverless.md).
    """
    traced = tracer.capture_lambda_handler(
        metrics.log_metrics(handler, capture_cold_start_metric=True), capture_response=False
    )
    return cast(Handler, logger.inject_lambda_context(traced, correlation_id_path=correlation_id_path))
