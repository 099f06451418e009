"""Parses request bodies into typed requests, and errors into the one error shape both APIs return."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from slmesh.schemas import AnalyzeRequest, ErrorDetail, ErrorResponse

MAX_BODY_BYTES = 512 * 1024


class RequestError(Exception):
    """A client mistake: carries the HTTP status and the error body to send."""

    def __init__(self, status: int, body: ErrorResponse) -> None:
        super().__init__(body.error)
        self.status = status
        self.body = body


def validation_error(exc: ValidationError) -> RequestError:
    details = [
        ErrorDetail(field=".".join(str(p) for p in err["loc"]) or None, message=err["msg"]) for err in exc.errors()
    ]
    fields = ", ".join(d.field or "body" for d in details)
    return RequestError(422, ErrorResponse(error=f"invalid request: check {fields}", details=details))


def parse_analyze_request(body: bytes | str | None, correlation_id: str | None = None) -> AnalyzeRequest:
    if body is None or (isinstance(body, bytes | str) and not body.strip()):
        raise RequestError(400, ErrorResponse(error="request body is empty: send JSON with a 'prompt' field"))
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(413, ErrorResponse(error=f"request body is larger than {MAX_BODY_BYTES} bytes"))
    try:
        payload: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, ErrorResponse(error=f"request body is not valid JSON: {exc}")) from exc
    if not isinstance(payload, dict):
        raise RequestError(422, ErrorResponse(error="request body must be a JSON object"))
    if correlation_id and "request_id" not in payload:
        payload["request_id"] = correlation_id
    try:
        return AnalyzeRequest.model_validate(payload)
    except ValidationError as exc:
        raise validation_error(exc) from exc
