"""The one Logger, Tracer and Metrics of a function process, configured from the validated settings."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

from slmesh.cloud.config import CloudSettings, cloud_settings_from_env

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
