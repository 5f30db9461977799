"""Run the whole local stack in the foreground: ``python -m local.stack``.

Starts a real ``redis-server``, Azurite's Table service, the Tradovate simulator, two dev
hosts running ``function_app.py`` (one serves the HTTP functions, the other runs the queue
and timer functions) and the WebSocket worker (``python -m worker``), each on a free
loopback port unless a flag names one. Once everything answers it prints ONE JSON
line with each part's URL, e.g.::

    {"functions": "http://127.0.0.1:7071", "redis": "redis://127.0.0.1:6379/0", ...}

and runs until SIGINT/SIGTERM, then stops everything. If any part dies, the stack stops
the rest and exits non-zero. When ``local.settings.json`` does not exist it is written
from ``local.settings.json.example`` with fresh local keys and the simulator's login.

While it runs, the same URLs (with the stack's pid and settings path, never a key) are also
in a state file, ``.tools/run/stack.json`` by default, removed again on stop: that is how the
``tradebridge`` command line (``tradebridge_cli/``) finds the running local stack with no
configuration.
A stack started with another ``--settings`` (the tests, the benchmarks) writes none unless
``--state-file`` names one, so it never takes the place of the one a person started.

Each part writes its output to ``{part}.log`` (``redis``, ``azurite``, ``tradovate``,
``functions``, ``functions-background``, ``worker``) in one log folder: ``--logs DIR``, or by
default a new temporary folder (``tradebridge-stack-logs-*``), kept after the stack stops. The
stack prints the folder on stderr as it starts and names it ``logs`` in the URL line and the
state file, where ``tradebridge logs`` finds it.

``--azure-like`` runs the deployment packages instead, with the IaC's app settings, against
dependencies that demand the authentication Azure demands: see ``local/azurelike/stack.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.azurelike import add_arguments as add_azure_like_arguments
from local.services import (
    REPO_ROOT,
    AzuriteTables,
    ProcessGroup,
    RedisServer,
    ServiceError,
    wait_for_signal,
)
from shared.config import read_local_settings
from shared.strategies import load_strategies

if TYPE_CHECKING:
    from local.azurelike.stack import AzureLikeStack

LOCAL_STRATEGIES = REPO_ROOT / "local" / "strategies.local.toml"
DEFAULT_SETTINGS = REPO_ROOT / "local.settings.json"
DEFAULT_STATE_FILE = REPO_ROOT / ".tools" / "run" / "stack.json"

# The simulator's documented default login (local/tradovate_sim); not a credential of anyone.
SIMULATOR_LOGIN = {
    "TRADOVATE_USERNAME": "sim-trader",
    "TRADOVATE_PASSWORD": "sim-password",
    "TRADOVATE_CID": "8",
    "TRADOVATE_SEC": "sim-api-secret",
    "TRADOVATE_DEVICE_ID": "tradebridge-local-stack",
}


def ensure_local_settings(path: Path) -> dict[str, str]:
    """Return the local settings, writing a fresh file from the example if there is none."""
    if path.exists():
        return read_local_settings(path)
    values = read_local_settings(REPO_ROOT / "local.settings.json.example")
    values.update(SIMULATOR_LOGIN)
    values["DEVHOST_FUNCTION_KEYS"] = secrets.token_urlsafe(24)
    values["DEVHOST_MASTER_KEY"] = secrets.token_urlsafe(24)
    values["STRATEGIES_FILE"] = str(LOCAL_STRATEGIES)
    # Requests reach the dev host from this machine, not from TradingView's addresses.
    values["WEBHOOK_EXTRA_ALLOWED_IPS"] = "127.0.0.1"
    for strategy in load_strategies(LOCAL_STRATEGIES).values():
        values[strategy.secret.env_name] = secrets.token_urlsafe(24)
    document = {"IsEncrypted": False, "Values": values}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return values


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--functions-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--redis-port", type=int, default=0)
    parser.add_argument("--azurite-port", type=int, default=0)
    parser.add_argument("--tradovate-port", type=int, default=0)
    parser.add_argument("--worker-port", type=int, default=0, help="the worker's /healthz port")
    parser.add_argument(
        "--settings", type=Path, default=DEFAULT_SETTINGS,
        help="local settings file (written from the example if missing)",
    )  # fmt: skip
    parser.add_argument(
        "--no-simulator", action="store_true",
        help="use TRADOVATE_BASE_URL from the settings (e.g. Tradovate demo) instead",
    )  # fmt: skip
    parser.add_argument(
        "--azure-like", action="store_true",
        help="run the deployment packages with the IaC's settings against dependencies that "
        "demand Azure's authentication (local/azurelike/stack.py); ignores --settings",
    )  # fmt: skip
    parser.add_argument(
        "--logs", type=Path, default=None, metavar="DIR",
        help="folder for every part's log file (default: a new temporary folder; "
        "--azure-like keeps its logs in its own run folder)",
    )  # fmt: skip
    parser.add_argument(
        "--state-file", type=Path, default=None,
        help=f"where to write the running stack's URLs for the tradebridge CLI (default "
        f"{DEFAULT_STATE_FILE.relative_to(REPO_ROOT)} with the default --settings, else none)",
    )  # fmt: skip
    add_azure_like_arguments(parser)
    return parser.parse_args(argv)


def state_file_for(args: argparse.Namespace) -> Path | None:
    """Return where this stack records itself: --state-file, or the default settings' default."""
    if args.state_file is not None:
        return Path(args.state_file)
    if not args.azure_like and Path(args.settings).resolve() == DEFAULT_SETTINGS.resolve():
        return DEFAULT_STATE_FILE
    return None


def write_state(path: Path, urls: dict[str, Any]) -> None:
    """Record the running stack (pid, URLs, settings path; no key) for the tradebridge CLI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"pid": os.getpid(), "urls": urls}) + "\n", encoding="utf-8")
    temporary.chmod(0o600)
    temporary.replace(path)


def clear_state(path: Path) -> None:
    """Remove the state file if it is still this process's (a newer stack may have replaced it)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


class Stack(ProcessGroup):
    """Own every process of the local stack and stop them in reverse order."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args
        self.urls: dict[str, Any] = {}
        self.logs = log_folder(args.logs)

    def start(self) -> dict[str, Any]:
        """Start every part, in dependency order, and return the URL map."""
        args = self.args
        print(f"stack: logs in {self.logs}", file=sys.stderr, flush=True)
        values = ensure_local_settings(args.settings)
        redis_server = self.service(
            RedisServer(args.host, args.redis_port or None, log_path=self.logs / "redis.log")
        )
        azurite = self.service(
            AzuriteTables(args.host, args.azurite_port or None, log_path=self.logs / "azurite.log")
        )
        overrides = {
            "QUEUE_BACKEND": "local",
            "REDIS_URL": redis_server.url,
            "TablesConnection": azurite.connection_string,
        }
        self.urls = {"redis": redis_server.url, "tables": azurite.endpoint}
        if not args.no_simulator:
            sim = self._spawn(
                "tradovate",
                [
                    "-m",
                    "local.tradovate_sim",
                    "--host",
                    args.host,
                    "--port",
                    str(args.tradovate_port),
                ],
                os.environ.copy(),
            )
            overrides["TRADOVATE_BASE_URL"] = str(sim["rest"])
            overrides["TRADOVATE_MD_WS_URL"] = str(sim["md_ws"])
            self.urls.update(
                tradovate=sim["rest"], tradovate_ws=sim["ws"], tradovate_md_ws=sim["md_ws"],
                tradovate_admin=sim["admin"],
            )  # fmt: skip
        env = {**os.environ, **values, **overrides}
        # Two dev hosts, as Azure runs the app (Flex Consumption scales HTTP functions and
        # each queue function as separate instance groups): the webhook's work never shares
        # a process with the executor's.
        devhost = ["-m", "local.devhost", "--host", args.host, "--settings", str(args.settings)]
        background = self._spawn(
            "functions-background", [*devhost, "--port", "0", "--only", "queue,timer"], env
        )
        host = self._spawn(
            "functions", [*devhost, "--port", str(args.functions_port), "--only", "http"], env
        )
        self.urls = {
            "functions": host["functions"],
            "functions_background": background["functions"],
            **self.urls,
            "settings": str(args.settings),
        }
        worker = self._spawn(
            "worker",
            ["-m", "worker", "--host", args.host, "--port", str(args.worker_port)],
            env,
        )
        self.urls["worker"] = worker["healthz"]
        self.urls["logs"] = str(self.logs)
        return self.urls

    def _spawn(self, name: str, module_args: list[str], env: dict[str, str]) -> dict[str, object]:
        log_path = self.logs / f"{name}.log"
        return self.spawn(name, [sys.executable, *module_args], env, log_path=log_path)


def log_folder(named: Path | None) -> Path:
    """Return the stack's log folder: ``named`` (created if needed), else a new temporary one."""
    if named is None:
        return Path(tempfile.mkdtemp(prefix="tradebridge-stack-logs-"))
    named.mkdir(parents=True, exist_ok=True)
    return named.resolve()


def main(argv: list[str] | None = None) -> int:
    """Start the stack, print the URL line, and run until a signal or a failure."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    stop = wait_for_signal()
    stack: Stack | AzureLikeStack
    if args.azure_like:
        from local.azurelike.stack import AzureLikeStack

        if args.no_simulator:
            print("stack: --azure-like always runs the simulator", file=sys.stderr)
            return 2
        stack = AzureLikeStack(args)
    else:
        stack = Stack(args)
    try:
        urls = stack.start()
    except (ServiceError, OSError) as exc:
        print(f"stack: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    state_file = state_file_for(args)
    if state_file is not None:
        write_state(state_file, urls)
    print(json.dumps(urls), flush=True)
    status = 0
    while not stop.wait(0.5):
        dead = stack.dead_part()
        if dead is not None:
            print(f"stack: {dead} exited unexpectedly; stopping", file=sys.stderr)
            status = 1
            break
    if state_file is not None:
        clear_state(state_file)
    stack.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
