from __future__ import annotations

import json
from pathlib import Path

import pytest

from slmesh.api.contract import RequestError, parse_analyze_request
from slmesh.api.openapi import document
from slmesh.config import ConfigError, settings_from_env

pytestmark = pytest.mark.unit

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "infra" / "openapi.json"


def test_bad_environment_is_refused_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SLMESH_THREADS"):
        settings_from_env({"SLMESH_MODELS_DIR": str(tmp_path), "SLMESH_THREADS": "many"})
    with pytest.raises(ConfigError, match="SLMESH_MODELS_DIR"):
        settings_from_env({"SLMESH_MODELS_DIR": str(tmp_path / "missing")})


def test_environment_values_are_read(tmp_path: Path) -> None:
    settings = settings_from_env({"SLMESH_MODELS_DIR": str(tmp_path), "SLMESH_THREADS": "2"})
    assert settings.models_dir == tmp_path
    assert settings.threads == 2


def test_correlation_id_fills_a_missing_request_id_only() -> None:
    assert parse_analyze_request(b'{"prompt": "hi"}', "c-1").request_id == "c-1"
    assert parse_analyze_request(b'{"prompt": "hi", "request_id": "r-1"}', "c-1").request_id == "r-1"


def test_non_utf8_body_is_a_400() -> None:
    with pytest.raises(RequestError) as caught:
        parse_analyze_request(b"\xff\xfe{")
    assert caught.value.status == 400


def test_committed_openapi_document_matches_the_models() -> None:
    # The document is generated from the pydantic models; regenerate with `slmesh openapi > infra/openapi.json`.
    assert json.loads(OPENAPI_FILE.read_text()) == document()
