"""The OpenAPI document of the analyze API, generated from the pydantic models it serves."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from slmesh import __version__
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse, ErrorResponse


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


def document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (m, "validation" if m is AnalyzeRequest else "serialization")
            for m in (AnalyzeRequest, AnalyzeResponse, ErrorResponse)
        ],
        ref_template="#/components/schemas/{model}",
    )
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
        "components": {"schemas": defs["$defs"]},
    }
