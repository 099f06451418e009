"""Parses request bodies into typed requests, and errors into the one error shape both APIs return."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slmesh.schemas import (
    MAX_CONTEXT_CHARS,
    MAX_PROMPT_CHARS,
    MAX_REQUEST_ID_CHARS,
    AnalyzeRequest,
    ErrorDetail,
    ErrorResponse,
)

ESCAPED_CHAR_BYTES = 12
"""The most one character takes in JSON: one outside the BMP escaped as two UTF-16 halves (\\ud83d\\ude00)."""
MAX_BODY_BYTES = ESCAPED_CHAR_BYTES * (MAX_PROMPT_CHARS + MAX_CONTEXT_CHARS + MAX_REQUEST_ID_CHARS) + 4096
"""Room for the longest valid request however its JSON encoder escapes it, plus the keys and the spaces between them:
the body cap never refuses what the character limits accept."""


Status = Literal["ok", "unavailable"]


class HealthResponse(BaseModel):
    """GET /healthz: whether the models loaded, and how busy the server is."""

    model_config = ConfigDict(extra="forbid")

    status: Status = Field(description="ok when the router loaded: requests can be answered.")
    router: Status
    skills: dict[str, Status] = Field(description="Each skill the router may choose; reserved ones are unavailable.")
    problems: dict[str, str] = Field(description="Why each unavailable model is unavailable (no file paths).")
    in_flight: int = Field(ge=0, description="Small requests being answered.")
    large_in_flight: int = Field(ge=0, description="Large requests being answered.")
    large_waiting: int = Field(ge=0, description="Large requests waiting for their turn.")


class RequestError(Exception):
    """A client mistake: carries the HTTP status and the error body to send."""

    def __init__(self, status: int, body: ErrorResponse) -> None:
        super().__init__(body.error)
        self.status = status
        self.body = body


def too_large() -> ErrorResponse:
    return ErrorResponse(error=f"request body is larger than the limit of {MAX_BODY_BYTES:,} bytes")


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
        raise RequestError(413, too_large())
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
