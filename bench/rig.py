"""Start what the end-to-end benchmark runs on: Redis, Azurite, the simulator, the worker, and
the dev hosts of Tradebridge and of the two forwarders, all on free loopback ports.

The three designs share one simulator but trade on their own accounts (Tradebridge 10001
and 10002, the durable forwarder 10003 and 10004, the direct one 10005 and 10006), so a
forwarder's fills never move a position Tradebridge's executor plans against. The simulator
allows any number of sessions, so each forwarder's own login does not close Tradebridge's.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import SimAdmin
from local.services import AzuriteTables, ReadyLineProcess, RedisServer

ROOT = Path(__file__).resolve().parent.parent
FORWARDERS_APP = ROOT / "bench" / "forwarders"
KEY = "bench-function-key"
SECRET = "bench-secret-value"  # noqa: S105 - a throwaway value for a local run
ROOTS = ("MNQ", "ES", "MES", "NQ", "RTY", "M2K", "YM", "MYM", "CL", "MCL")
PRICES = {"MNQ": 21000, "NQ": 21000, "ES": 6000, "MES": 6000, "RTY": 2300, "M2K": 2300,
          "YM": 44000, "MYM": 44000, "CL": 70, "MCL": 70}  # fmt: skip
TRADEBRIDGE_ACCOUNTS = ((10001, "DEMO10001"), (10002, "DEMO10002"))
DURABLE_ACCOUNTS = ((10003, "DEMO10003"), (10004, "DEMO10004"))
DIRECT_ACCOUNTS = ((10005, "DEMO10005"), (10006, "DEMO10006"))
TRADEBRIDGE_STRATEGY = "bench"
DURABLE_STRATEGY = "fwd"
DIRECT_STRATEGY = "direct"
SIGNALS_QUEUE = "signals"
FORWARD_QUEUE = "forward"


def strategies_toml(strategy: str, accounts: tuple[tuple[int, str], ...]) -> str:
    """Return a strategy file with one strategy: ``accounts``, adding allowed, no rate limit
    or de-duplication in the way of a burst."""
    listed = ", ".join(f'{{ name = "{name}", id = {ident} }}' for ident, name in accounts)
    return f"""version = 1
[strategies.{strategy}]
secret = {{ env = "WEBHOOK_{strategy.upper()}" }}
accounts = [{listed}]
[strategies.{strategy}.behaviour]
allow_add = true
[strategies.{strategy}.risk]
max_alert_age_s = 600
[strategies.{strategy}.webhook]
rate_limit_per_min = 6000
dedupe_window_s = 0
ip_allowlist = false
"""


def alert(root: str, tag: str) -> dict[str, object]:
    """Return a one-lot market buy alert in the native JSON format."""
    return {"secret": SECRET, "intent": "buy", "symbol": f"{root}1!", "quantity": 1,
            "price": PRICES[root], "alert_id": f"bench-{root}-{tag}"}  # fmt: skip


def devhost_command(only: str, app_root: Path | None = None) -> list[str]:
    """Return the command that runs a dev host for some trigger groups on a free port."""
    command = [sys.executable, "-m", "local.devhost", "--port", "0", "--settings", "/nonexistent"]
    if app_root is not None:
        command += ["--app-root", str(app_root)]
    return [*command, "--only", only]


@dataclass
class Rig:
    """The shared services, the settings every process gets, and where files go."""

    sim: SimAdmin
    redis_url: str
    env: dict[str, str]
    folder: Path
    contracts: dict[str, str]
    _processes: list[ReadyLineProcess] = field(default_factory=list)

    def process(self, command: list[str], **values: str) -> ReadyLineProcess:
        """Return a process for ``command`` with the shared settings plus ``values`` (not
        started; ``stop_all`` stops it if it still runs)."""
        # Its log (stderr) goes in the rig's folder, removed with it once every process is down.
        log = self.folder / f"process-{len(self._processes)}.log"
        process = ReadyLineProcess(command, env={**os.environ, **self.env, **values}, log_path=log)
        self._processes.append(process)
        return process

    def tradebridge_env(self, **values: str) -> dict[str, str]:
        """Return the settings of Tradebridge's webhook, executor and worker."""
        return {
            "STRATEGIES_FILE": str(self.folder / "tradebridge.toml"),
            "SIGNALS_QUEUE_NAME": SIGNALS_QUEUE,
            **values,
        }

    def durable_env(self, **values: str) -> dict[str, str]:
        """Return the settings of the durable forwarder's webhook and queue function."""
        return {
            "STRATEGIES_FILE": str(self.folder / "durable.toml"),
            "SIGNALS_QUEUE_NAME": FORWARD_QUEUE,
            "BENCH_FORWARD_QUEUE": FORWARD_QUEUE,
            **values,
        }

    def stop_all(self) -> None:
        """Stop every process still running, last started first."""
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()


def _contracts(sim: SimAdmin) -> dict[str, str]:
    """Pick each root's contract the way the forwarders name it: the second listed (the
    first, oldest, may be about to expire), or the only one."""
    chosen = {}
    for root in ROOTS:
        listed = list(sim.price(root))
        chosen[root] = listed[1] if len(listed) > 1 else listed[0]
    return chosen


@contextmanager
def rig() -> Iterator[Rig]:
    """Start Redis, Azurite and the simulator; yield the rig; stop everything on the way out."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tb-bench-")))
        accounts = TRADEBRIDGE_ACCOUNTS + DURABLE_ACCOUNTS + DIRECT_ACCOUNTS
        sim_config = folder / "sim.json"
        sim_config.write_text(
            json.dumps(
                {
                    "accounts": [{"id": ident, "name": name} for ident, name in accounts],
                    "max_sessions": 0,
                }
            )
        )
        (folder / "tradebridge.toml").write_text(
            strategies_toml(TRADEBRIDGE_STRATEGY, TRADEBRIDGE_ACCOUNTS)
        )
        (folder / "durable.toml").write_text(strategies_toml(DURABLE_STRATEGY, DURABLE_ACCOUNTS))
        redis_server = RedisServer("127.0.0.1", None)
        stack.enter_context(redis_server)
        azurite = AzuriteTables("127.0.0.1", None)
        stack.enter_context(azurite)
        sim_urls = stack.enter_context(
            ReadyLineProcess(
                [
                    sys.executable,
                    "-m",
                    "local.tradovate_sim",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--config",
                    str(sim_config),
                ]
            )
        )
        sim = SimAdmin(sim_urls)
        stack.callback(sim.close)
        contracts = _contracts(sim)
        env = {
            "QUEUE_BACKEND": "local",
            "REDIS_URL": redis_server.url,
            "TablesConnection": azurite.connection_string,
            "TABLE_PREFIX": "bench",
            f"WEBHOOK_{TRADEBRIDGE_STRATEGY.upper()}": SECRET,
            f"WEBHOOK_{DURABLE_STRATEGY.upper()}": SECRET,
            f"WEBHOOK_{DIRECT_STRATEGY.upper()}": SECRET,
            "DEVHOST_FUNCTION_KEYS": KEY,
            "TRADOVATE_BASE_URL": sim.base_url,
            "TRADOVATE_MD_WS_URL": sim.md_ws_url,
            "TRADOVATE_USERNAME": "sim-trader",
            "TRADOVATE_PASSWORD": "sim-password",
            "TRADOVATE_CID": "8",
            "TRADOVATE_SEC": "sim-api-secret",
            "TRADOVATE_DEVICE_ID": "bench",
            "BENCH_CONTRACTS": json.dumps(contracts),
            "BENCH_DIRECT_ACCOUNTS": ",".join(str(ident) for ident, _ in DIRECT_ACCOUNTS),
            "LOG_LEVEL": "WARNING",
        }
        the_rig = Rig(sim, redis_server.url, env, folder, contracts)
        stack.callback(the_rig.stop_all)
        yield the_rig
