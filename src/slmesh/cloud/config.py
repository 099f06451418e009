"""Function settings read from environment variables once, at cold start, and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from slmesh.config import ConfigError


class CloudSettings(BaseModel):
    """What every function needs; model functions also read the core's SLMESH_* settings."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    service: str = Field(alias="POWERTOOLS_SERVICE_NAME", min_length=1, max_length=64)
    metrics_namespace: str = Field(alias="POWERTOOLS_METRICS_NAMESPACE", min_length=1, max_length=255)
    log_level: str = Field(default="INFO", alias="POWERTOOLS_LOG_LEVEL")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level


def cloud_settings_from_env(environ: Mapping[str, str] | None = None) -> CloudSettings:
    """Raises ConfigError naming every bad variable, so a misconfigured stack fails at cold start."""
    env = os.environ if environ is None else environ
    try:
        return CloudSettings.model_validate(dict(env))
    except ValidationError as exc:
        problems = "; ".join(f"{err['loc'][0]}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid function configuration: {problems}") from exc
