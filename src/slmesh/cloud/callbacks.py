"""Answers Step Functions task tokens; the boto3 client is created once and can be replaced in tests."""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import ClientError

MAX_ERROR_CHARS = 256
MAX_CAUSE_CHARS = 32_768

_GONE = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


class TaskGone(Exception):
    """The execution no longer waits for this token (timed out, stopped, or the token is not one of ours)."""


class TaskCallbacks(Protocol):
    def succeed(self, token: str, output: str) -> None: ...

    def fail(self, token: str, error: str, cause: str) -> None: ...


class StepFunctionsCallbacks:
    """SendTaskSuccess / SendTaskFailure; throttling and other service errors propagate so SQS redelivers."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions")
        return self._client

    def succeed(self, token: str, output: str) -> None:
        self._call("send_task_success", taskToken=token, output=output)

    def fail(self, token: str, error: str, cause: str) -> None:
        self._call("send_task_failure", taskToken=token, error=error[:MAX_ERROR_CHARS], cause=cause[:MAX_CAUSE_CHARS])

    def _call(self, operation: str, **kwargs: str) -> None:
        try:
            getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _GONE:
                raise TaskGone(code) from exc
            raise


callbacks = StepFunctionsCallbacks()
