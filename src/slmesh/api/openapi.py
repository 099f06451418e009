"""The OpenAPI document of the analyze API, generated from the pydantic models it serves."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic.json_schema import models_json_schema

from slmesh import __version__
from slmesh.api.contract import HealthResponse
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse, ErrorResponse

MODELS = (AnalyzeRequest, AnalyzeResponse, ErrorResponse, HealthResponse)


def _json(model: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
        **extra,
    }


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return _json("ErrorResponse", description, **extra)


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}


def _referenced(defs: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    """The definitions reachable from `roots`: the generator also writes the bare result base class, used by none."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(defs[name]))
    return {name: schema for name, schema in defs.items() if name in seen}


def document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "validation" if m is AnalyzeRequest else "serialization") for m in MODELS],
        ref_template="#/components/schemas/{model}",
    )
    schemas = _referenced(defs["$defs"], [m.__name__ for m in MODELS])
    health = {
        "200": _json("HealthResponse", "The router loaded: requests can be answered."),
        "503": _json("HealthResponse", "The router model is unavailable."),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "slmesh",
            "version": __version__,
            "description": "Routes a prompt to small ONNX models.",
        },
        "paths": {
            "/v1/analyze": {
                "post": {
                    "operationId": "analyze",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnalyzeRequest"}}},
                    },
                    "security": [{}, {"bearer": []}],
                    "responses": {
                        "200": _json("AnalyzeResponse", "Every chosen skill's outcome, combined."),
                        "400": _error("The body is not JSON, or the HTTP request is malformed."),
                        "401": _error("`slmesh serve --api-key` is set and the bearer token is missing or wrong."),
                        "408": _error("The body did not arrive within the body timeout."),
                        "413": _error("The body is larger than the limit."),
                        "422": _error("A field is missing or invalid, or over a character or token limit."),
                        "503": _error(
                            "Too busy (in-flight limit), out of time budget, or the router model is unavailable.",
                            headers=RETRY_AFTER,
                        ),
                    },
                }
            },
            "/healthz": {
                "get": {"operationId": "health", "responses": health},
                "head": {
                    "operationId": "healthHead",
                    "responses": {k: {"description": v["description"]} for k, v in health.items()},
                },
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Only when the server was started with an API key (`slmesh serve --api-key`).",
                }
            },
        },
    }
