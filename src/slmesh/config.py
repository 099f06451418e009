"""Runtime settings, read from the environment once and validated."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

SKILLS: tuple[str, ...] = ("sentiment", "qa", "summarize")
"""Every skill the router can ask for; a skill without a model answers 'not available'."""

MODEL_SKILLS: tuple[str, ...] = ("router", "sentiment", "qa")
"""The skills that ship a model in this release."""


def _default_models_dir() -> Path:
    # The source checkout keeps the committed models next to src/; an installed wheel points here via env.
    return Path(__file__).resolve().parents[2] / "models"


class Settings(BaseModel):
    models_dir: Path = Field(default_factory=_default_models_dir)
    threads: int = Field(default=0, ge=0, le=64)
    """ONNX Runtime threads of the process, one pool shared by every model; 0 is one per usable core."""
    skill_workers: int = Field(default=4, ge=1, le=64)

    @field_validator("models_dir")
    @classmethod
    def _must_exist(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"models directory {value} does not exist")
        return value


class ConfigError(RuntimeError):
    """Raised at start-up when an environment variable holds a bad value."""


_ENV = {
    "SLMESH_MODELS_DIR": "models_dir",
    "SLMESH_THREADS": "threads",
    "SLMESH_SKILL_WORKERS": "skill_workers",
}


_RENAMED = {"SLMESH_INTRA_OP_THREADS": "SLMESH_THREADS", "SLMESH_QA_THREADS": "SLMESH_THREADS"}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    renamed = [f"{old} is now {new}" for old, new in _RENAMED.items() if env.get(old)]
    if renamed:
        # Silently ignoring them would change how many threads a deployment runs with.
        raise ConfigError("invalid configuration: " + "; ".join(renamed) + " (one pool shared by all models)")
    values = {field: env[name] for name, field in _ENV.items() if env.get(name)}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        fields = {field: name for name, field in _ENV.items()}
        problems = "; ".join(f"{fields.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
