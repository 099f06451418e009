"""Runtime settings, read from the environment once and validated."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from slmesh.scheduling import LARGE_CONTEXT_CHARS

M = TypeVar("M", bound=BaseModel)


class ConfigError(RuntimeError):
    """Raised at start-up when an environment variable holds a bad value."""


def default_models_dir() -> Path:
    """The served models: the `slmesh_models` package installed beside slmesh (the checkout's models/ folder)."""
    spec = importlib.util.find_spec("slmesh_models")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("no models: install slmesh with its models or set SLMESH_MODELS_DIR")
    return Path(next(iter(spec.submodule_search_locations)))


class Settings(BaseModel):
    models_dir: Path = Field(default_factory=default_models_dir)
    threads: int = Field(default=0, ge=0, le=64)
    """ONNX Runtime threads of the process, one pool shared by every model; 0 is one per usable core."""
    skill_workers: int = Field(default=4, ge=1, le=64)
    kb: Path | None = None
    """The knowledge-base index folder (`slmesh kb ingest`) that questions sent without a context are answered from;
    None: such questions get no answer."""
    kb_top_k: int = Field(default=4, ge=1, le=20)
    """Passages retrieved per question; QA reads each."""
    kb_min_score: float = Field(default=0.35, ge=-1.0, le=1.0)
    """Cosine similarity the best passage must reach, else the answer is "I don't know" (docs/retrieval.md)."""

    @field_validator("models_dir")
    @classmethod
    def _must_exist(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"models directory {value} does not exist")
        return value

    @field_validator("kb")
    @classmethod
    def _kb_must_exist(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"knowledge base {value} does not exist (build it with `slmesh kb ingest`)")
        return value


_ENV = {
    "SLMESH_MODELS_DIR": "models_dir",
    "SLMESH_THREADS": "threads",
    "SLMESH_SKILL_WORKERS": "skill_workers",
    "SLMESH_KB": "kb",
    "SLMESH_KB_TOP_K": "kb_top_k",
    "SLMESH_KB_MIN_SCORE": "kb_min_score",
}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[name] for name, field in _ENV.items() if env.get(name)}
    return _validated(Settings, values, {field: name for name, field in _ENV.items()})


class ServeSettings(BaseModel):
    """What `slmesh serve` admits and for how long it waits: every limit of the server, each with its variable.

    The CLI turns each field into a flag of the same name (`--max-in-flight`); the README's limits table lists them.
    """

    host: str = Field(default="127.0.0.1", description="address to listen on; anything but loopback is reachable")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port; 0 picks a free one")
    api_key: SecretStr | None = Field(
        default=None,
        description="require 'Authorization: Bearer KEY' on POST /v1/analyze; prefer the variable (flags show in ps)",
    )
    max_connections: int = Field(
        default=4096, ge=1, le=1_000_000, description="open connections; more are answered 503 and closed"
    )
    max_in_flight: int = Field(
        default=32, ge=1, le=1024, description="small requests being answered at once; more get 503 + Retry-After"
    )
    max_large: int = Field(
        default=1,
        ge=1,
        le=16,
        description=f"large requests (context over {LARGE_CONTEXT_CHARS:,} characters) being answered at once",
    )
    large_queue: int = Field(
        default=4, ge=0, le=1024, description="large requests waiting for their turn; more get 503 + Retry-After"
    )
    time_budget_s: float = Field(
        default=60.0, gt=0, le=3600, description="seconds a request may take once admitted, waiting included"
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="seconds for a request's headers to arrive; a slower client is dropped"
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="seconds for a request's body to arrive; a slower client gets 408"
    )
    keep_alive_s: int = Field(default=5, ge=1, le=600, description="seconds an idle connection is kept open")


SERVE_ENV = {f"SLMESH_{name.upper()}": name for name in ServeSettings.model_fields if name not in {"host", "port"}}


def _validated(model: type[M], values: dict[str, Any], names: dict[str, str]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{names.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc


def serve_settings(flags: dict[str, Any], environ: dict[str, str] | None = None) -> ServeSettings:
    """The server's settings: a flag given wins over its variable, which wins over the default."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {field: env[name] for name, field in SERVE_ENV.items() if env.get(name)}
    values.update({field: value for field, value in flags.items() if value is not None})
    env_names = {field: name for name, field in SERVE_ENV.items()}
    names = {
        field: " / ".join([f"--{field.replace('_', '-')}", *([env_names[field]] if field in env_names else [])])
        for field in ServeSettings.model_fields
    }
    return _validated(ServeSettings, values, names)
