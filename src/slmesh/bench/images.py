"""The function images: the Lambda base, build contexts, builds, containers behind the emulator, and their numbers.

In our own engine (no registry) the base is a stand-in for public.ecr.aws/lambda/python:3.12 built by
infra/local/lambda-base/build.sh, cached under a tag keyed by its inputs, and also tagged with the AWS name so the
committed Dockerfile and `sam build` run unchanged; builds get the locked wheels staged in their context. With the
user's engine (DOCKER_HOST) the base is AWS's own and pip reads PyPI.

    python -m slmesh.bench.images build        builds every model function image and prints its numbers
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmesh.bench.engine import REPOSITORY, Engine, EngineUnavailableError, cache_dir, engine
from slmesh.bench.stats import latency_samples, ms_since, summarize
from slmesh.cloud.images import image_models

AWS_BASE = "public.ecr.aws/lambda/python:3.12"
STAND_IN_REPO = "slmesh/lambda-python"
IMAGE_REPO = "slmesh"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
BASE_DIR = REPOSITORY / "infra" / "local" / "lambda-base"
STAGE = REPOSITORY / "infra" / "local" / "stage.py"
LOCK = REPOSITORY / "functions" / "requirements.lock"
FIRST_ANSWER_TIMEOUT_S = 60.0
INVOKE_TIMEOUT_S = 120.0
_MANYLINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(17, 35)] + ["manylinux2014_x86_64"]


def model_functions() -> list[str]:
    """The functions built as images: those slmesh.cloud.images gives a model (infra/local/stage.py's rule)."""
    apps = (REPOSITORY / "functions").glob("*/app.py")
    return sorted(p.parent.name for p in apps if p.parent.name in image_models())


def python312() -> Path:
    """A self-contained CPython 3.12 installation to copy into the stand-in (SLMESH_PYTHON312 names one)."""
    candidates = [os.environ.get("SLMESH_PYTHON312", "")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.12.*"))
    for candidate in filter(None, candidates):
        prefix = Path(candidate)
        if (prefix / "bin" / "python3.12").is_file() and (prefix / "lib" / "libpython3.12.so.1.0").is_file():
            return prefix
    raise EngineUnavailableError(
        "no self-contained Python 3.12 (a pyenv build with libpython3.12.so) to build the Lambda base from; "
        "set SLMESH_PYTHON312 to its prefix"
    )


def emulator_binary() -> Path:
    import samcli

    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    return Path(samcli.__file__).parent / "local" / "rapid" / f"aws-lambda-rie-{arch}"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:12]


def stand_in_tag() -> str:
    """The stand-in's tag: a digest of everything that goes into it, so any change builds a new one."""
    prefix = python312()
    version = subprocess.run(
        [str(prefix / "bin" / "python3.12"), "-VV"], capture_output=True, text=True, check=True
    ).stdout
    files = sorted(p for p in BASE_DIR.iterdir() if p.is_file())
    key = _digest(
        *(f.name.encode() + f.read_bytes() for f in files),
        version.encode(),
        importlib.metadata.version("awslambdaric").encode(),
        emulator_binary().read_bytes(),
    )
    return f"{STAND_IN_REPO}:3.12-{key}"


def has_image(eng: Engine, image: str) -> bool:
    return eng.run(["docker", "image", "inspect", image], timeout=60).returncode == 0


def lambda_base(eng: Engine) -> str:
    """The base image the functions build on in this engine (built once per set of inputs in our own)."""
    if not eng.own:
        return os.environ.get("SLMESH_LAMBDA_BASE", AWS_BASE)
    tag = stand_in_tag()
    if not has_image(eng, tag):
        prefix = python312()
        done = subprocess.run(
            ["bash", str(BASE_DIR / "build.sh"), tag, str(prefix), str(emulator_binary()),
             importlib.metadata.version("awslambdaric")],
            env=eng.env(), capture_output=True, text=True, timeout=1200, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"building the Lambda base failed: {done.stderr[-2000:]}")
        stale = eng.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", STAND_IN_REPO).split()
        for old in set(stale) - {tag}:
            eng.run(["docker", "image", "rm", old], timeout=120)
    eng.docker("tag", tag, AWS_BASE)
    return tag


def wheelhouse() -> Path:
    """The locked wheels for Python 3.12 manylinux x86_64, downloaded once per lock file (the engine is offline)."""
    folder = cache_dir() / "wheels" / hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    done_marker = folder / ".complete"
    if done_marker.is_file():
        return folder
    platforms = [arg for tag in _MANYLINUX for arg in ("--platform", tag)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", *platforms, "--python-version", "3.12", "--implementation", "cp",
         "--require-hashes", "-r", str(LOCK), "-d", str(folder)],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    done_marker.touch()
    return folder


def context_dir(skill: str) -> Path:
    return REPOSITORY / "build" / "contexts" / skill


def stage(skill: str, wheels: Path | None) -> Path:
    args = [sys.executable, str(STAGE), "image", skill, str(context_dir(skill))]
    subprocess.run([*args, "--wheels", str(wheels)] if wheels else args, check=True, capture_output=True)
    return context_dir(skill)


def image_tag(skill: str) -> str:
    return f"{IMAGE_REPO}/{skill}:local"


@dataclass(frozen=True)
class Built:
    skill: str
    tag: str
    seconds: float


def build(eng: Engine, skill: str, no_cache: bool = False) -> Built:
    """One model function's image from its staged context; the build itself has no network."""
    started = time.perf_counter()
    args = ["build", "--network", "none", "--build-arg", f"MODEL={image_models()[skill]}", "-t", image_tag(skill)]
    eng.docker(*args, *(["--no-cache"] if no_cache else []), str(context_dir(skill)), timeout=1800)
    return Built(skill, image_tag(skill), round(time.perf_counter() - started, 1))


def size_mb(eng: Engine, image: str) -> float:
    return round(int(eng.docker("image", "inspect", "--format", "{{.Size}}", image)) / 1e6, 1)


def _post(port: int, event: Any, timeout: float = INVOKE_TIMEOUT_S) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", INVOKE_PATH, json.dumps(event), {"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"invoke answered {response.status}: {body[:300]!r}")
    return json.loads(body or b"null")


def _first_answer(port: int, event: Any, timeout_s: float) -> Any:
    """Retries until the emulator answers: docker-proxy accepts before the emulator inside listens."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return _post(port, event)
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _timed_invoke(port: int, event: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    answer = _post(port, event)
    return answer, ms_since(started)


def json_lines(text: str) -> list[dict[str, Any]]:
    """A function's structured output lines (logs and EMF), skipping the emulator's and sam's own text lines."""
    lines = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


class Container:
    """One function image under the emulator inside its container, its port published on 127.0.0.1 only."""

    def __init__(
        self,
        eng: Engine,
        image: str,
        name: str,
        env: dict[str, str],
        volumes: dict[Path, str] | None = None,
        handler: str | None = None,
    ) -> None:
        self.eng, self.name = eng, name
        self.port = eng.free_port()
        flags = [flag for key, value in env.items() for flag in ("-e", f"{key}={value}")]
        mounts = [flag for host, inside in (volumes or {}).items() for flag in ("-v", f"{host}:{inside}:ro")]
        self.started = time.perf_counter()
        self.id = eng.docker(
            "run",
            "-d",
            "-p",
            f"127.0.0.1:{self.port}:8080",
            *flags,
            *mounts,
            image,
            *([handler] if handler else []),
            timeout=120,
        ).strip()
        self.cold_start_ms: float | None = None

    def invoke(self, event: Any) -> Any:
        """The Lambda Invoke API's HTTP call; the first one waits for the container and records the cold start."""
        if self.cold_start_ms is None:
            answer = self.eng.call(_first_answer, self.port, event, FIRST_ANSWER_TIMEOUT_S)
            self.cold_start_ms = round(ms_since(self.started), 1)
            return answer
        return self.eng.call(_post, self.port, event)

    def timed_invoke(self, event: Any) -> tuple[Any, float]:
        return self.eng.call(_timed_invoke, self.port, event)

    def log_text(self) -> str:
        done = self.eng.run(["docker", "logs", self.id], timeout=60)
        return done.stdout + done.stderr

    def logs(self) -> list[dict[str, Any]]:
        return json_lines(self.log_text())

    def stop(self) -> None:
        self.eng.run(["docker", "rm", "-f", self.id], timeout=60)


def function_env(name: str, **extra: str) -> dict[str, str]:
    """What Lambda and the template give each function; tracing off, as no X-Ray daemon runs here."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "POWERTOOLS_SERVICE_NAME": name,
        "POWERTOOLS_METRICS_NAMESPACE": "slmesh-container",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "SLMESH_THREADS": "1",
        **extra,
    }


def stage_layer(dest: Path) -> Path:
    """The slmesh layer as `sam build` makes it (layers/slmesh/Makefile), for mounting at /opt."""
    from slmesh.bench import deployment

    layer = deployment.load_template()["Resources"]["SlmeshLayer"]
    return deployment.build_with_makefile("SlmeshLayer", layer, layer["Properties"]["ContentUri"], dest)


@contextmanager
def running(eng: Engine, image: str, name: str, env: dict[str, str], **kwargs: Any) -> Iterator[Container]:
    container = Container(eng, image, name, env, **kwargs)
    try:
        yield container
    finally:
        container.stop()


def _event(name: str) -> Any:
    return json.loads((REPOSITORY / "events" / name).read_text())


def measure_image(eng: Engine, base: str, skill: str, runs: int, warmup: int, cold: bool) -> dict[str, Any]:
    """Added size, build time (cold: no layer cache, and cached), cold start and warm p50/p95 of one image."""
    row: dict[str, Any] = {}
    if cold:
        row["build_cold_s"] = build(eng, skill, no_cache=True).seconds
    row["build_cached_s"] = build(eng, skill).seconds
    row["added_mb"] = round(size_mb(eng, image_tag(skill)) - size_mb(eng, base), 1)
    event = _event(f"{skill}-direct.json")
    with running(eng, image_tag(skill), skill, function_env(skill)) as container:
        container.invoke(event)
        row["cold_start_ms"] = container.cold_start_ms
        samples = latency_samples(lambda: container.timed_invoke(event), runs, warmup)
    warm = summarize(samples)
    row["warm_p50_ms"], row["warm_p95_ms"], row["warm_runs"] = warm["p50"], warm["p95"], warm["n"]
    return row


def measure(runs: int = 40, warmup: int = 5, cold: bool = False, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every model function image in this machine's engine, with its numbers (the bench's container row)."""
    with engine() as eng:
        base = lambda_base(eng)
        wheels = wheelhouse() if eng.own else None
        images: dict[str, Any] = {}
        for skill in model_functions():
            stage(skill, wheels)
            say(f"image {skill}: building and timing")
            images[skill] = measure_image(eng, base, skill, runs, warmup, cold)
        return {
            "engine": "own dockerd in a network namespace" if eng.own else f"DOCKER_HOST={eng.docker_host}",
            "base": base,
            "base_mb": size_mb(eng, base),
            "images": images,
        }


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] != ["build"]:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(measure(cold="--cold" in args, say=_say), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
