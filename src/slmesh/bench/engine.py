"""A Docker engine for the container tier and the bench: the user's (DOCKER_HOST), or one of our own.

Our own is Debian's dockerd, started inside a network namespace this process creates, on a private socket,
with its data root in the checkout's cache (so images and build layers survive between runs). Everything it
starts, docker0 and its iptables rules included, lives in that namespace; `stop` ends it by PID, kills whatever
is left in the namespace and deletes it, so the host's network ends as it began. Servers that containers or
tests must reach run inside the namespace too (`popen`, `call`), never on the host's interfaces.
"""

from __future__ import annotations

import ctypes
import fcntl
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

REPOSITORY = Path(__file__).resolve().parents[3]
PACKAGES = ("docker.io", "iptables", "debootstrap")
NETNS_DIR = Path("/var/run/netns")
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 20.0
_CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class EngineUnavailableError(RuntimeError):
    """No engine can be had here; the message says why (the container tier skips with it)."""


def cache_dir() -> Path:
    """Where built images, wheels and the engine's data root are kept between runs (ignored by git)."""
    return Path(os.environ.get("SLMESH_CACHE_DIR", REPOSITORY / ".cache")).resolve()


def _install_packages() -> None:
    missing = [tool for tool in ("dockerd", "iptables", "debootstrap") if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise EngineUnavailableError(
            f"{', '.join(missing)} missing and cannot be installed here (needs root and apt-get); "
            "set DOCKER_HOST to use an engine of your own"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EngineUnavailableError(f"apt-get install {' '.join(PACKAGES)} failed: {done.stderr[-400:]}")


def _ping(socket_path: Path) -> bool:
    class _UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(2.0)
            self.sock.connect(str(socket_path))

    connection = _UnixConnection("localhost", timeout=2.0)
    try:
        connection.request("GET", "/_ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _enter_netns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespace_pids(netns: str) -> list[int]:
    listed = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False)
    return [int(p) for p in listed.stdout.split()]


def _unmount_under(*roots: Path) -> None:
    """Mounts dockerd leaves behind when it is killed (overlay layers, its own tmpfs), deepest first."""
    prefixes = tuple(f"{r}/" for r in roots)
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    ours = [p for p in points if p.startswith(prefixes) or p in {str(r) for r in roots}]
    for point in sorted(ours, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@dataclass
class Engine:
    """A running engine: `docker_host` for clients, `netns` where its ports live (None: the user's own)."""

    docker_host: str
    netns: str | None = None
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    @property
    def own(self) -> bool:
        return self.netns is not None

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for docker and sam: our socket, the classic builder (no buildx here)."""
        return {**os.environ, "DOCKER_HOST": self.docker_host, "DOCKER_BUILDKIT": "0", **extra}

    def command(self, args: Sequence[str]) -> list[str]:
        """`args` run inside the engine's network namespace (as is, for the user's engine)."""
        if self.netns is None:
            return list(args)
        return ["nsenter", f"--net={NETNS_DIR / self.netns}", *args]

    def run(self, args: Sequence[str], timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """A command inside the namespace with the engine's environment; output captured, never raises on rc."""
        kwargs.setdefault("env", self.env())
        return subprocess.run(
            self.command(args), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )

    def popen(self, args: Sequence[str], log: IO[bytes], **env: str) -> subprocess.Popen[bytes]:
        """A server inside the namespace (stop it with `stop_process`)."""
        return subprocess.Popen(
            self.command(args), stdout=log, stderr=subprocess.STDOUT, env=self.env(**env), start_new_session=True
        )

    def docker(self, *args: str, timeout: float = 600) -> str:
        done = self.run(["docker", *args], timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])} failed ({done.returncode}): {done.stderr[-1500:]}")
        return done.stdout

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on a thread inside the namespace: its sockets reach ports published there."""
        if self.netns is None:
            return fn(*args, **kwargs)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=4, initializer=_enter_netns, initargs=(str(NETNS_DIR / self.netns),)
            )
        return self._pool.submit(fn, *args, **kwargs).result()

    def free_port(self) -> int:
        return self.call(_free_port)

    def relay(self, port: int) -> Relay:
        """127.0.0.1:<new port> on this host, relayed to `port` on the namespace's loopback."""
        if self.netns is None:
            raise EngineUnavailableError("the user's engine has no namespace to relay into")
        return Relay(self, port)

    def bridge_gateway(self) -> str:
        """The address containers on the default bridge reach the namespace at (inside it only)."""
        config = json.loads(self.docker("network", "inspect", "bridge"))[0]["IPAM"]["Config"][0]
        if "Gateway" in config:
            return str(config["Gateway"])
        # A new data root lists the default bridge's subnet only; its gateway is the subnet's first address.
        return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class Relay:
    """A TCP relay from the host's loopback into the engine's namespace, for clients that cannot enter it.

    Each accepted connection gets a socket opened from inside the namespace (a socket keeps the namespace it was
    made in), then two threads copy bytes both ways until either side closes.
    """

    def __init__(self, eng: Engine, target_port: int) -> None:
        self._eng, self._target = eng, target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._guard = threading.Lock()
        threading.Thread(target=self._accept, name=f"relay-{target_port}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = self._eng.call(socket.create_connection, ("127.0.0.1", self._target), 10.0)
            except OSError:
                client.close()
                continue
            # The connect timeout must not become a read timeout: a Lambda cold start can keep a response waiting.
            upstream.settimeout(None)
            with self._guard:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with self._guard:
            done = source in self._open and sink not in self._open
            self._open.discard(source)
        if done:
            source.close()
            sink.close()

    def close(self) -> None:
        self._listener.close()
        with self._guard:
            left, self._open = list(self._open), set()
        for sock in left:
            with suppress(OSError):
                sock.close()


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace_s`, to the process group the server was started in."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace_s)


class OwnEngine:
    """dockerd in a namespace of its own; one per checkout at a time (a lock file guards the data root)."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.data_root = state / "data"
        self.record = state / "running.json"
        # Socket and exec-root paths must stay short (unix socket names are limited to 108 bytes).
        self.runtime = Path(f"/tmp/slmesh-engine-{os.getpid()}")
        self.netns = f"slmesh-{os.getpid()}"
        self._lock: IO[str] | None = None
        self._dockerd: subprocess.Popen[bytes] | None = None

    def start(self) -> Engine:
        _install_packages()
        self.state.mkdir(parents=True, exist_ok=True)
        self._lock = (self.state / "engine.lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise EngineUnavailableError(f"another test run holds the engine in {self.state}") from exc
        self._clean_up_after_a_crash()
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.record.write_text(json.dumps({"netns": self.netns, "runtime": str(self.runtime)}))
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, capture_output=True)
        socket_path = self.runtime / "docker.sock"
        log = (self.state / "dockerd.log").open("wb")
        # `ip netns exec` remounts /sys, and dockerd then finds no devices cgroup; nsenter enters only the network.
        self._dockerd = dockerd = subprocess.Popen(
            [
                "nsenter", f"--net={NETNS_DIR / self.netns}", "dockerd",
                "-H", f"unix://{socket_path}", "--data-root", str(self.data_root),
                "--exec-root", str(self.runtime / "exec"), "--pidfile", str(self.runtime / "dockerd.pid"),
                "--ip=127.0.0.1",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ping(socket_path):
            if dockerd.poll() is not None or time.monotonic() > deadline:
                tail = (self.state / "dockerd.log").read_text(errors="replace")[-1500:]
                self.stop()
                raise EngineUnavailableError(f"dockerd did not start: {tail}")
            time.sleep(0.2)
        return Engine(docker_host=f"unix://{socket_path}", netns=self.netns)

    def _clean_up_after_a_crash(self) -> None:
        if not self.record.is_file():
            return
        left = json.loads(self.record.read_text())
        self._stop(left["netns"], Path(left["runtime"]))

    def stop(self) -> None:
        self._stop(self.netns, self.runtime)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _stop(self, netns: str, runtime: Path) -> None:
        pidfile = runtime / "dockerd.pid"
        pid = int(pidfile.read_text()) if pidfile.is_file() else None
        if self._dockerd is not None and self._dockerd.poll() is None:
            self._dockerd.terminate()
            try:
                self._dockerd.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._dockerd.kill()
                self._dockerd.wait()
        elif pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        if (NETNS_DIR / netns).exists():
            # Container shims, docker-proxy and our servers: whatever still runs in the namespace is ours.
            for left in _namespace_pids(netns):
                with suppress(ProcessLookupError):
                    os.kill(left, signal.SIGKILL)
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)
        _unmount_under(self.data_root, runtime)
        shutil.rmtree(runtime, ignore_errors=True)
        self.record.unlink(missing_ok=True)


@contextmanager
def engine(state: Path | None = None) -> Iterator[Engine]:
    """The user's engine when DOCKER_HOST is set (nothing is started), else our own for the block's duration."""
    if os.environ.get("DOCKER_HOST"):
        external = Engine(docker_host=os.environ["DOCKER_HOST"])
        try:
            yield external
        finally:
            external.close()
        return
    if os.geteuid() != 0:
        raise EngineUnavailableError("starting an engine needs root (network namespaces); set DOCKER_HOST instead")
    owner = OwnEngine(state or cache_dir() / "engine")
    started = owner.start()
    try:
        yield started
    finally:
        started.close()
        owner.stop()
