"""The request-body schema API Gateway validates with, derived from the OpenAPI document `slmesh serve` uses.

API Gateway models are JSON Schema draft 4 inside an OpenAPI 3.0 document: no `type: null`, no 2020-12
keywords. A nullable field keeps its constraints but loses `type`, so an explicit null still passes the
gateway and the router's pydantic model (the same one `slmesh serve` uses) gives it its final check.
Run `python -m slmesh.cloud.apischema` to print the schema for template.yaml.
"""

from __future__ import annotations

import json
from typing import Any

from slmesh.api.openapi import document

_KEEP = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "minimum",
    "maximum",
    "items",
    "minItems",
    "maxItems",
}


def _draft4(schema: dict[str, Any]) -> dict[str, Any]:
    any_of = schema.get("anyOf")
    if any_of is not None:
        non_null = [s for s in any_of if s.get("type") != "null"]
        if len(non_null) != 1:
            raise ValueError(f"cannot express {any_of} for API Gateway")
        converted = _draft4(non_null[0])
        if len(non_null) < len(any_of):
            converted.pop("type", None)
        return converted
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _KEEP:
            continue
        if key == "properties":
            out[key] = {name: _draft4(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = _draft4(value)
        else:
            out[key] = value
    return out


def gateway_request_schema() -> dict[str, Any]:
    """The AnalyzeRequest body schema as template.yaml must declare it (POST /v1/analyze and /v1/jobs)."""
    return _draft4(document()["components"]["schemas"]["AnalyzeRequest"])


if __name__ == "__main__":
    print(json.dumps(gateway_request_schema(), indent=2))
