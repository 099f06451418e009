"""Fixtures shared by every tier: the configured models and one pipeline per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from slmesh.config import settings_from_env
from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelStore

# Property tests draw the same examples every run (a failure reproduces, CI is stable) and keep no example database
# in the checkout; model calls have no per-example deadline on a busy machine.
settings.register_profile("slmesh", derandomize=True, database=None, deadline=None)
settings.load_profile("slmesh")

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return settings_from_env().models_dir


@pytest.fixture(scope="session")
def model_store(models_dir: Path) -> ModelStore:
    return ModelStore(models_dir)


@pytest.fixture(scope="session")
def pipeline(model_store: ModelStore) -> Iterator[Pipeline]:
    built = Pipeline(model_store)
    yield built
    built.close()
