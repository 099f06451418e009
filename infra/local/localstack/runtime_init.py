#!/var/lang/bin/python3
"""A stand-in for LocalStack's lambda-runtime-init, which LocalStack downloads and which cannot be fetched here.

LocalStack copies it into each function's container as /var/rapid/init and runs it as the entrypoint. It speaks
LocalStack's executor protocol: LocalStack POSTs {"invoke-id", "invoked-function-arn", "payload", "trace-id"} to
:9563/invoke; this init answers through $LOCALSTACK_RUNTIME_ENDPOINT (`/status/<runtime id>/ready|error`,
`/invocations/<request id>/logs|response|error`). Towards the function it is the Lambda Runtime API on
127.0.0.1:9001, served to the image's own runtime client, started as LocalStack's init starts it: the container's
command when there is one (an image function: its entrypoint and CMD), else the first bootstrap found. Standard
library only: it runs on the image's Python (every function here is built on the Lambda Python base).
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import IO, Any

RUNTIME_API = ("127.0.0.1", 9001)
API_PREFIX = "/2018-06-01/runtime"
BOOTSTRAPS = ("/var/task/bootstrap", "/opt/bootstrap", "/var/runtime/bootstrap")
# LocalStack's own settings, which its init keeps from the function's environment.
PRIVATE_PREFIX = "LOCALSTACK_"


@dataclass
class Invocation:
    request_id: str
    function_arn: str
    payload: bytes
    trace_id: str
    deadline: float


def _post(path: str, body: bytes) -> None:
    url = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"] + path
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class Sandbox:
    """One runtime process and the invocation it is working on (Lambda runs one at a time per environment)."""

    def __init__(self, command: list[str], cwd: str) -> None:
        self.command, self.cwd = command, cwd
        self.timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.current: Invocation | None = None
        self.lock = threading.Lock()
        self.logs: list[str] = []
        self.ready = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None

    def runtime_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(PRIVATE_PREFIX)}
        env["AWS_LAMBDA_RUNTIME_API"] = "{}:{}".format(*RUNTIME_API)
        if len(self.command) > 1:
            env["_HANDLER"] = self.command[-1]
        return env

    def start_runtime(self) -> None:
        self.process = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.runtime_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        threading.Thread(target=self._collect, args=(self.process,), daemon=True).start()

    def _collect(self, process: subprocess.Popen[bytes]) -> None:
        stream: IO[bytes] | None = process.stdout
        assert stream is not None
        for raw in stream:
            line = raw.decode(errors="replace")
            sys.stdout.write(line)
            sys.stdout.flush()
            with self.lock:
                self.logs.append(line)
        code = process.wait()
        if not self.ready.is_set():
            _post(f"/status/{os.environ['LOCALSTACK_RUNTIME_ID']}/error", _error("Runtime.ExitError", f"exit {code}"))
            os._exit(1)
        if process is self.process:
            # A runtime that died mid-invoke fails that invoke; the next one starts a fresh runtime, as Lambda does.
            self.finish(None, _error("Runtime.ExitError", f"RequestId: the runtime exited with status {code}"))
            self.start_runtime()

    def next_invocation(self) -> Invocation:
        if not self.ready.is_set():
            self.ready.set()
            _post(f"/status/{os.environ['LOCALSTACK_RUNTIME_ID']}/ready", b"{}")
        invocation = self.pending.get()
        with self.lock:
            self.current = invocation
            self.logs.append(f"START RequestId: {invocation.request_id} Version: $LATEST\n")
        threading.Thread(target=self._watch_deadline, args=(invocation,), daemon=True).start()
        return invocation

    def _watch_deadline(self, invocation: Invocation) -> None:
        time.sleep(max(0.0, invocation.deadline - time.time()))
        with self.lock:
            overdue = self.current is invocation
        if overdue:
            message = f"{invocation.request_id} Task timed out after {self.timeout_s:.2f} seconds"
            process = self.process
            self.process = None
            self.finish(invocation.request_id, _error("Sandbox.Timedout", message))
            if process is not None:
                process.kill()
            self.start_runtime()

    def finish(self, request_id: str | None, body: bytes, error: bool = True) -> None:
        """Reports the current invocation's logs, then its response or error, once."""
        with self.lock:
            invocation = self.current
            if invocation is None or (request_id is not None and request_id != invocation.request_id):
                return
            self.current = None
            self.logs.append(f"END RequestId: {invocation.request_id}\n")
            logs, self.logs = "".join(self.logs), []
        _post(f"/invocations/{invocation.request_id}/logs", json.dumps({"logs": logs}).encode())
        outcome = "error" if error or b'"errorType"' in body else "response"
        _post(f"/invocations/{invocation.request_id}/{outcome}", body)


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """The Lambda Runtime API the function's runtime client polls."""

    protocol_version = "HTTP/1.1"
    sandbox: Sandbox

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._reply(404)
            return
        invocation = self.sandbox.next_invocation()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(invocation.deadline * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
            "Content-Type": "application/json",
        }
        self._reply(200, invocation.payload, headers)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
        if parts == ["init", "error"]:
            self._reply(202)
            _post(f"/status/{os.environ['LOCALSTACK_RUNTIME_ID']}/error", body)
            os._exit(1)
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            self._reply(202)
            self.sandbox.finish(parts[1], body, error=parts[2] == "error")
            return
        self._reply(404)


class Interop(http.server.BaseHTTPRequestHandler):
    """LocalStack's side: POST /invoke queues the invocation and returns at once."""

    sandbox: Sandbox

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        invocation = Invocation(
            request_id=request["invoke-id"],
            function_arn=request["invoked-function-arn"],
            payload=request["payload"].encode(),
            trace_id=request.get("trace-id", ""),
            deadline=time.time() + self.sandbox.timeout_s,
        )
        self.sandbox.pending.put(invocation)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _command(args: list[str]) -> tuple[list[str], str]:
    if args:
        return args, os.getcwd()
    found = next((b for b in BOOTSTRAPS if os.path.isfile(b)), BOOTSTRAPS[-1])
    return [found], "/var/task"


def _adapt_permissions() -> None:
    for entry in json.loads(os.environ.get("LOCALSTACK_CHMOD_PATHS", "[]")):
        if os.path.exists(entry["path"]):
            os.chmod(entry["path"], int(entry["mode"], 8))


def main() -> None:
    _adapt_permissions()
    command, cwd = _command(sys.argv[1:])
    sandbox = Sandbox(command, cwd)
    RuntimeApi.sandbox = Interop.sandbox = sandbox
    runtime_api = _Server(RUNTIME_API, RuntimeApi)
    threading.Thread(target=runtime_api.serve_forever, daemon=True).start()
    interop = _Server(("0.0.0.0", int(os.environ.get("LOCALSTACK_INTEROP_PORT", "9563"))), Interop)
    sandbox.start_runtime()
    interop.serve_forever()


if __name__ == "__main__":
    main()
