"""Runtime settings, read from the environment once and validated."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator


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

    @field_validator("models_dir")
    @classmethod
    def _must_exist(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"models directory {value} does not exist")
        return value


_ENV = {
    "SLMESH_MODELS_DIR": "models_dir",
    "SLMESH_THREADS": "threads",
    "SLMESH_SKILL_WORKERS": "skill_workers",
}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[name] for name, field in _ENV.items() if env.get(name)}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        fields = {field: name for name, field in _ENV.items()}
        problems = "; ".join(f"{fields.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
