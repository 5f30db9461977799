"""Run an app the way its platform would: a chosen working directory, a clean environment,
and its log kept in the run's folder (so a test can read it while the stack runs)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

from local.services import ReadyLineProcess, ServiceError

# What a platform worker inherits besides the app settings: a PATH, a home, a locale, a temp dir.
_PLATFORM_NAMES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def platform_environment(settings: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """Return a process environment of only the platform basics, the app settings and
    ``extra`` (identity endpoint, trust store, ...): nothing else of this shell leaks in."""
    base = {name: os.environ[name] for name in _PLATFORM_NAMES if name in os.environ}
    return {**base, **settings, **extra}


class AppProcess(ReadyLineProcess):
    """A ``ReadyLineProcess`` started in ``cwd``, writing stderr to ``log_path``."""

    def __init__(
        self,
        command: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        log_path: Path,
        timeout_s: float = 60.0,
    ) -> None:
        super().__init__(command, env=env, timeout_s=timeout_s)
        self.cwd = cwd
        self.log_path = log_path
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
        self._log = log_path.open("ab")  # type: ignore[assignment]

    @property
    def log_text(self) -> str:
        """Return what the process wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    def start(self) -> dict[str, object]:
        """Start the process in ``cwd`` and return its parsed ready line."""
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
