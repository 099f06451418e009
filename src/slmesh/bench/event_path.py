"""System 5: the event path in LocalStack, from PutEvents to AnalysisCompleted."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4566")


def unavailable_reason(endpoint: str = ENDPOINT) -> str:
    """Why the event path cannot be timed here; the bench reports it rather than estimating it."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=1.0):
            pass
    except (urllib.error.URLError, OSError):
        return f"no LocalStack at {endpoint} (LocalStack's host mode does not start offline on this machine)"
    return (
        f"LocalStack answers at {endpoint}, but timing PutEvents to AnalysisCompleted needs the deployed "
        "stack (bus and completion queue), which the bench does not deploy"
    )
