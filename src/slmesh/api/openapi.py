"""The OpenAPI document of the analyze API, generated from the pydantic models it serves."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic.json_schema import models_json_schema

from slmesh import __version__
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse, ErrorResponse


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


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
        [
            (m, "validation" if m is AnalyzeRequest else "serialization")
            for m in (AnalyzeRequest, AnalyzeResponse, ErrorResponse)
        ],
        ref_template="#/components/schemas/{model}",
    )
    schemas = _referenced(defs["$defs"], ["AnalyzeRequest", "AnalyzeResponse", "ErrorResponse"])
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
                    "responses": {
                        "200": {
                            "description": "Every chosen skill's outcome, combined.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/AnalyzeResponse"}}
                            },
                        },
                        "400": _error("The body is not JSON."),
                        "413": _error("The body is too large."),
                        "422": _error("A field is missing or invalid."),
                    },
                }
            },
            "/healthz": {"get": {"operationId": "health", "responses": {"200": {"description": "Models are loaded."}}}},
        },
        "components": {"schemas": schemas},
    }
