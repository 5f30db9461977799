"""Start and stop the real local services: ``redis-server`` and Azurite's Table service.

Each service picks a free loopback port (unless one is given), waits until it answers,
and stops cleanly. The pytest fixtures and ``python -m local.stack`` both use these, so
a test run never depends on anything already running on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = REPO_ROOT / "local" / "node" / "node_modules" / ".bin"

# Azurite's fixed development account (documented by Microsoft, not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


AofFsync = Literal["always", "everysec", "no"]
# When redis-server fsyncs its append-only file. What the local stack needs is that a write
# Redis has acknowledged survives a killed or restarted redis-server: a Service Bus send is
# never lost once acknowledged, and the chaos run kills Redis with SIGKILL. That takes a
# write(2) of the AOF before the reply, not an fsync: the kernel keeps a killed process's
# writes. With "no", Redis writes the AOF in the same event-loop turn, before it sends any
# reply, and leaves only the flush to disk to the kernel; "always" adds an fsync per turn.
# "everysec" is not enough: while the background fsync of the last second runs, Redis
# answers without having written at all.
# Measured here (a SIGKILL right after the reply to a burst of writes, restart, read back):
# "no" lost 0 of 150, "everysec" 4 of 80, "always" 0 of 80.
# What "no" gives up is a write's survival when the whole machine goes down (kernel crash,
# power loss) within the kernel's flush interval. The local stack runs on one machine and
# keeps Table storage in memory (Azurite), so such a loss takes its journal and ledger
# history anyway. The cost of "always" was measured on the webhook, which writes twice per
# alert (de-duplication claim, enqueue): p50 1.57 ms instead of 0.86 ms, p99 2.9 instead of
# 1.1 ms; every read waits for the fsync of the turn it lands in, too. Azure Managed Redis,
# which this Redis also stands in for, writes its AOF once a second by default and calls
# "always" deprecated for its cost (learn.microsoft.com/dotnet/api/azure.resourcemanager.
# redisenterprise.models.redispersistencesettings.aoffrequency); the templates in infra/
# turn no persistence on for it.
# https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/
AOF_FSYNC: AofFsync = "no"


class ServiceError(RuntimeError):
    """A local service could not be started or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def terminate(proc: subprocess.Popen[Any], grace_s: float) -> None:
    """Stop a child: SIGTERM, then SIGKILL if it is still running after ``grace_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    """Wait until ``host:port`` accepts connections, failing early if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"process exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise ServiceError(f"nothing answered on {host}:{port} within {timeout_s:.0f} s")


class _Service:
    """Own one child process and stop it on exit."""

    name = "service"

    def __init__(self, host: str, port: int | None, *, log_path: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._proc: subprocess.Popen[bytes] | None = None
        # The log goes to ``log_path`` when given (the stack's log folder), else a temporary file.
        self._log: IO[bytes] = (
            log_path.open("ab")
            if log_path is not None
            else tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the service
                prefix=f"tradebridge-{self.name}-", suffix=".log", delete=False
            )
        )

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> None:
        assert self._proc is not None
        wait_for_port(self.host, self.port, 20.0, self._proc)

    def start(self) -> None:
        """Start the process and wait until it answers."""
        self._proc = subprocess.Popen(
            self._command(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            self._ready()
        except ServiceError as exc:
            self.stop()
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise ServiceError(f"{self.name}: {exc}\n{log}") from None

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, grace_s=5)
        self._log.close()

    @property
    def running(self) -> bool:
        """Tell whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        """Return the file the process's stdout and stderr go to (kept after ``stop``)."""
        return Path(self._log.name)

    def data_files(self) -> list[Path]:
        """Return the files the service keeps its data in (none unless a subclass has some)."""
        return []

    def __enter__(self) -> _Service:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RedisServer(_Service):
    """A ``redis-server`` on loopback that keeps its data in an append-only file.

    The local queue stands in for Service Bus, which never loses a send it acknowledged, so
    the server writes every change to its AOF before it answers (``AOF_FSYNC`` says how,
    and what that does not cover) and replays the file when it starts again. ``restart``
    stops and starts it on the same port and data directory, as a crash (``hard=True``:
    SIGKILL) or a clean shutdown (SIGTERM) would.
    https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/
    """

    name = "redis"

    def __init__(
        self,
        host: str,
        port: int | None,
        *,
        data_dir: Path | None = None,
        appendfsync: AofFsync = AOF_FSYNC,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(host, port, log_path=log_path)
        self.appendfsync = appendfsync
        # A directory we create is ours to delete on stop; one we are given outlives us.
        self._owns_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="tradebridge-redis-"))

    def _command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server is not installed; run scripts/bootstrap")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [
            binary,
            "--bind", self.host,
            "--port", str(self.port),
            # AOF only: no RDB snapshots (a fork per save, and the AOF already has it all).
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--dir", str(self.data_dir),
            "--protected-mode", "yes",
        ]  # fmt: skip

    def _ready(self) -> None:
        super()._ready()
        # The port opens before the AOF is replayed, and until then commands answer -LOADING.
        # (A server with the default user off answers NOAUTH first, loading or not: for it
        # this waits only for the port, as before.)
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1.0) as sock,
            ):
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
                if reply and not reply.startswith(b"-LOADING"):
                    return
            time.sleep(0.05)
        raise ServiceError("redis-server did not finish loading its AOF in time")

    @property
    def url(self) -> str:
        """Return the ``redis://`` URL of database 0."""
        return f"redis://{self.host}:{self.port}/0"

    def restart(self, *, hard: bool = False, down_s: float = 0.0) -> None:
        """Stop the server (SIGKILL if ``hard``, else SIGTERM) and start it on the same port,
        ``down_s`` seconds later (an outage clients must ride out).

        The data directory is kept, so the new process replays the AOF: everything the old
        one acknowledged is there again (``AOF_FSYNC``).
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            if hard:
                proc.kill()
                proc.wait(timeout=5)
            else:
                # Redis fsyncs the AOF on SIGTERM before it exits.
                terminate(proc, grace_s=10)
        time.sleep(down_s)
        self.start()

    def data_files(self) -> list[Path]:
        """Return the files in the data directory (the AOF) while it exists."""
        return sorted(path for path in self.data_dir.rglob("*") if path.is_file())

    def stop(self) -> None:
        """Stop the server and remove its data directory if this object created it."""
        super().stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class AzuriteTables(_Service):
    """Azurite's Table service, in memory, on loopback."""

    name = "azurite"

    def _command(self) -> list[str]:
        binary = NODE_BIN / "azurite-table"
        if not binary.exists():
            raise ServiceError(f"{binary} is missing; run scripts/bootstrap")
        return [
            str(binary),
            "--tableHost", self.host,
            "--tablePort", str(self.port),
            "--inMemoryPersistence",
            "--loose",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ]  # fmt: skip

    def _ready(self) -> None:
        super()._ready()
        # The port opens before the table service routes requests; an HTTP answer (403
        # without a signature) means it is serving.
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/Tables", timeout=1)  # noqa: S310
                return
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise ServiceError("Azurite did not answer HTTP in time")

    @property
    def endpoint(self) -> str:
        """Return the path-style table endpoint of the development account."""
        return f"http://{self.host}:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """Return a connection string for ``azure-data-tables``."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};TableEndpoint={self.endpoint};"
        )


class ReadyLineProcess:
    """Run a command that prints one JSON line once it is ready, and stop it on exit.

    The dev host, the Tradovate simulator and the stack all announce themselves this way;
    stderr goes to a log file so a chatty child can never block on a full pipe.
    """

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        timeout_s: float = 30.0,
        cwd: Path = REPO_ROOT,
        log_path: Path | None = None,
    ) -> None:
        self.command = command
        self.env = env
        self.timeout_s = timeout_s
        self.cwd = cwd
        self.ready: dict[str, object] = {}
        self.returncode: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="tradebridge-proc-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        self.log_path = log_path
        self._log = log_path.open("ab")  # lives as long as the process

    @property
    def alive(self) -> bool:
        """Tell whether the process is still running."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """Return the running process's id (None when it is not running)."""
        return self._proc.pid if self.alive and self._proc is not None else None

    @property
    def log_text(self) -> str:
        """Return what the process wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    def start(self) -> dict[str, object]:
        """Start the process in its working directory and return its parsed ready line."""
        import json
        import threading

        self._proc = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
            stderr=self._log, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        stdout = self._proc.stdout
        assert stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.timeout_s)
        if not line or not line[0].strip():
            self.stop()
            raise ServiceError(f"{self.command[:4]} did not become ready:\n{self.log_text[-3000:]}")
        self.ready = json.loads(line[0])
        return self.ready

    def stop(self) -> int | None:
        """Send SIGTERM, wait up to 15 s (then SIGKILL), close pipes, return the exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return self.returncode
        terminate(proc, grace_s=15)
        if proc.stdout is not None:
            proc.stdout.close()
        self._log.close()
        self.returncode = proc.returncode
        return self.returncode

    def kill(self) -> int | None:
        """SIGKILL the process, as a crash would (no shutdown code runs), and reap it.

        The log stays open, so ``start`` can run the same command again into the same file.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return self.returncode
        proc.kill()
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        self.returncode = proc.returncode
        return self.returncode

    def __enter__(self) -> dict[str, object]:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_S = TypeVar("_S", bound=_Service)


class ProcessGroup:
    """Own a stack's services and processes, stop them last-started first, name a dead one."""

    def __init__(self) -> None:
        self._exit = contextlib.ExitStack()
        self.processes: dict[str, ReadyLineProcess] = {}
        self._services: list[_Service] = []

    def service(self, service: _S) -> _S:
        """Start ``service`` and keep it until ``stop``."""
        self._exit.enter_context(service)
        self._services.append(service)
        return service

    def spawn(
        self,
        name: str,
        command: list[str],
        env: dict[str, str] | None,
        *,
        cwd: Path = REPO_ROOT,
        log_path: Path | None = None,
    ) -> dict[str, object]:
        """Start ``command`` as the part ``name`` and return its ready line."""
        proc = ReadyLineProcess(command, env=env, timeout_s=60, cwd=cwd, log_path=log_path)
        self._exit.callback(proc.stop)
        self.processes[name] = proc
        return proc.start()

    def service_of(self, kind: type[_S]) -> _S:
        """Return the running service of this type (the stack's Redis, say), or raise."""
        for service in self._services:
            if isinstance(service, kind):
                return service
        raise LookupError(f"no {kind.__name__} in this group")

    def log_files(self) -> list[Path]:
        """Return the log file of every process and service here, and each service's data files."""
        paths = [proc.log_path for proc in self.processes.values()]
        for service in self._services:
            paths += [service.log_path, *service.data_files()]
        return paths

    def dead_part(self) -> str | None:
        """Name a part that has exited on its own, if any."""
        for name, proc in self.processes.items():
            if not proc.alive:
                return name
        for service in self._services:
            if not service.running:
                return service.name
        return None

    def stop(self) -> None:
        """Stop everything, last started first."""
        self._exit.close()


def wait_for_signal() -> threading.Event:
    """Return an event that SIGINT or SIGTERM sets (for a foreground ``main``)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
