"""A running system for end-to-end execution tests: dev host, Redis, Azurite, simulator."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from local.services import AzuriteTables, ReadyLineProcess, RedisServer
from local.tradovate_sim import SimulatorServer
from shared import redis_keys as keys
from shared.adapters.redis_ledger import RedisLedger
from shared.adapters.tables_common import build_table_service
from shared.adapters.tables_ledger import TablesLedger
from shared.ports import LedgerEntry
from worker.history import TablesHistory

KEY = "e2e-function-key"
SECRET = "e2e-secret"
ACCOUNTS = (
    '[{ name = "DEMO10001", id = 10001, multiplier = 1 }, '
    '{ name = "DEMO10002", id = 10002, multiplier = 3 }]'
)
SOLO = '[{ name = "DEMO10001", id = 10001 }]'
ROOTS = '["MNQ", "ES", "MES", "NQ", "RTY", "M2K", "YM", "MYM", "CL", "MCL", "GC", "MGC"]'


def strategies_toml() -> str:
    """Write the test strategies; the "window" strategy's windows exclude today, whatever day."""
    today = datetime.now(ZoneInfo("America/Chicago")).strftime("%a").lower()
    other_days = [d for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") if d != today]
    block = """
[strategies.{id}]
secret = {{ env = "WEBHOOK_E2E" }}
accounts = {accounts}
[strategies.{id}.behaviour]
opposite_signal = "reverse"
allow_add = true
[strategies.{id}.risk]
max_alert_age_s = 600
symbols = {roots}
{risk}
[strategies.{id}.webhook]
rate_limit_per_min = 6000
dedupe_window_s = 0
ip_allowlist = false
"""
    specs = {
        "both": (ACCOUNTS, ""),
        "solo": (SOLO, ""),
        "sizes": (SOLO, "max_order_qty = 2\nmax_position = 3"),
        "cooldown": (SOLO, "cooldown_s = 600"),
        "window": (
            SOLO,
            f"trading_windows = [{{ days = {json.dumps(other_days)}, "
            'start = "00:00", end = "23:59" }]\nexits_outside_windows = true',
        ),
        "micro": (SOLO, ""),
        "lossy": (SOLO, "daily_loss_limit = 10"),
    }
    out = ["version = 1"]
    for sid, (accounts, risk) in specs.items():
        roots = '["MNQ"]' if sid == "micro" else ROOTS
        out.append(block.format(id=sid, accounts=accounts, roots=roots, risk=risk))
    return "\n".join(out)


@dataclass
class System:
    url: str
    sim: SimulatorServer
    redis_url: str
    tables: str
    n: int = 0
    _roots: dict[int, str] = field(default_factory=dict)
    worker: ReadyLineProcess | None = None  # the WebSocket worker, while the fixture runs it

    def post(self, strategy: str, **alert: Any) -> dict[str, Any]:
        self.n += 1
        body = {"secret": SECRET, "alert_id": f"e2e-{time.time_ns()}-{self.n}", **alert}
        r = httpx.post(f"{self.url}/api/webhook/{strategy}?code={KEY}", json=body, timeout=10)
        assert r.status_code == 202, r.text
        return dict(r.json())

    def ledger(self, signal_id: str) -> list[LedgerEntry]:
        """Read a signal's ledger rows as the executor sees them (the Redis working copy)."""

        async def read() -> list[LedgerEntry]:
            client = aioredis.Redis.from_url(self.redis_url)
            try:
                return await RedisLedger(client, ttl_s=60).rows(signal_id)
            finally:
                await client.aclose()

        return asyncio.run(read())

    def archived(self, signal_id: str) -> list[LedgerEntry]:
        """Read a signal's rows from the ledger's Table-storage copy."""

        async def read() -> list[LedgerEntry]:
            ledger = TablesLedger(
                lambda: build_table_service(
                    service_uri=None, connection_string=self.tables, client_id=None
                ),
                "e2eLedger",
            )
            try:
                return await ledger.rows(signal_id)
            finally:
                await ledger.close()

        return asyncio.run(read())

    def history(self, role: str, signal_id: str) -> list[dict[str, Any]]:
        """Read a signal's rows of the worker's history (``fills`` or ``executions``)."""

        async def read() -> list[dict[str, Any]]:
            history = TablesHistory(
                lambda: build_table_service(
                    service_uri=None, connection_string=self.tables, client_id=None
                ),
                "e2e",
            )
            try:
                return await history.signal_rows(role, signal_id)
            finally:
                await history.close()

        return asyncio.run(read())

    def outcome(
        self, signal_id: str, accounts: int = 1, timeout_s: float = 20
    ) -> list[LedgerEntry]:
        """Wait until every account's execution summary is final; return the summaries."""
        return wait_for(
            lambda: (
                s
                if len(s := [r for r in self.ledger(signal_id) if r.row_key.startswith("exec:")])
                == accounts
                and all(r.status in ("done", "denied", "rejected") for r in s)
                else None
            ),
            timeout_s,
        )

    def contract_root(self, contract_id: int) -> str:
        """Return the product root of a simulator contract id (e.g. MNQ for MNQZ6)."""
        if contract_id not in self._roots:
            token = httpx.post(
                f"{self.sim.base_url}/auth/accesstokenrequest",
                json={
                    "name": "sim-trader",
                    "password": "sim-password",
                    "cid": 8,
                    "sec": "sim-api-secret",
                    "appId": "e2e",
                    "appVersion": "1",
                    "deviceId": "e2e-probe",
                },
            ).json()["accessToken"]
            contract = httpx.get(
                f"{self.sim.base_url}/contract/item",
                params={"id": contract_id},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            name = str(contract["name"])
            self._roots[contract_id] = name[:-2]
        return self._roots[contract_id]

    def positions(self, account_id: int) -> dict[str, int]:
        """Return the account's net position per product root."""
        out: dict[str, int] = {}
        for p in self.sim.state()["positions"]:
            if p["accountId"] == account_id and p["netPos"]:
                root = self.contract_root(int(p["contractId"]))
                out[root] = out.get(root, 0) + int(p["netPos"])
        return out

    def orders(self, account_id: int | None = None) -> list[dict[str, Any]]:
        return [
            o
            for o in self.sim.state()["orders"]
            if account_id is None or o["accountId"] == account_id
        ]


def wait_for(predicate: Callable[[], Any], timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def stack_settings() -> dict[str, str]:
    """Return extra settings for this module's dev host and worker (a module overrides it)."""
    return {}


@pytest.fixture(scope="module")
def system(
    redis_server: RedisServer,
    azurite: AzuriteTables,
    tmp_path_factory: pytest.TempPathFactory,
    stack_settings: dict[str, str],
) -> Iterator[System]:
    redis.Redis.from_url(redis_server.url).flushdb()
    tmp = tmp_path_factory.mktemp("e2e")
    (tmp / "strategies.toml").write_text(strategies_toml())
    with SimulatorServer() as sim:
        env = {
            **os.environ,
            "QUEUE_BACKEND": "local",
            "REDIS_URL": redis_server.url,
            "SIGNALS_QUEUE_NAME": "signals",
            "TablesConnection": azurite.connection_string,
            "TABLE_PREFIX": "e2e",
            "STRATEGIES_FILE": str(tmp / "strategies.toml"),
            "WEBHOOK_E2E": SECRET,
            "DEVHOST_FUNCTION_KEYS": KEY,
            "DEVHOST_MASTER_KEY": "e2e-master",
            "TRADOVATE_BASE_URL": sim.base_url,
            "TRADOVATE_MD_WS_URL": sim.md_ws_url,
            "TRADOVATE_USERNAME": "sim-trader",
            "TRADOVATE_PASSWORD": "sim-password",
            "TRADOVATE_CID": "8",
            "TRADOVATE_SEC": "sim-api-secret",
            "TRADOVATE_DEVICE_ID": "e2e",
            "QUEUE_MAX_DELIVERY_COUNT": "5",
            "QUEUE_LOCK_DURATION_S": "5",
            # Small back-off between deliveries of a transient failure, so the dead-letter
            # test still ends in seconds (the defaults wait up to 1+2+4+8 s).
            "QUEUE_RETRY_BACKOFF_BASE_S": "0.1",
            "QUEUE_RETRY_BACKOFF_MAX_S": "0.5",
            "CONTRACT_REFRESH_SCHEDULE": "0 0 0 1 1 *",
            "LEDGER_MIRROR_SCHEDULE": "0 0 0 1 1 *",  # run on demand by the test that needs it
            "LOG_LEVEL": "INFO",
            **stack_settings,
        }
        host = ReadyLineProcess(
            [
                sys.executable,
                "-m",
                "local.devhost",
                "--port",
                "0",
                "--settings",
                str(tmp / "none.json"),
            ],
            env=env,
        )
        ready = host.start()
        try:
            yield System(str(ready["functions"]), sim, redis_server.url, azurite.connection_string)
        finally:
            code = host.stop()
            log = host.log_text
            print(log[-5000:])
        # The host closes what its functions opened (Table, HTTP and Redis clients) as it stops.
        assert code == 0, log[-3000:]
        assert "Unclosed" not in log, log[-3000:]


@pytest.fixture
def fresh(system: System) -> System:
    """Reset the simulator and the kill switches before a test."""
    system.sim.reset()
    client = redis.Redis.from_url(system.redis_url)
    for key in client.scan_iter("kill:*"):
        client.delete(key)
    for key in client.scan_iter("last-order:*"):
        client.delete(key)
    # The simulator starts its ids again after a reset (Tradovate never does): what the last
    # signal expected the cache to show names orders of the old run.
    for key in client.scan_iter("expect:*"):
        client.delete(key)
    return system


@pytest.fixture
def worker(fresh: System, stack_settings: dict[str, str]) -> Iterator[System]:
    """Run the WebSocket worker against the simulator until the test ends."""
    env = {
        **os.environ,
        "REDIS_URL": fresh.redis_url, "TablesConnection": fresh.tables, "TABLE_PREFIX": "e2e",
        "TRADOVATE_BASE_URL": fresh.sim.base_url, "TRADOVATE_MD_WS_URL": fresh.sim.md_ws_url,
        "TRADOVATE_USERNAME": "sim-trader", "TRADOVATE_PASSWORD": "sim-password",
        "TRADOVATE_CID": "8", "TRADOVATE_SEC": "sim-api-secret", "TRADOVATE_DEVICE_ID": "e2e",
        "STRATEGIES_FILE": "local/strategies.local.toml", "LOG_LEVEL": "WARNING",
        **stack_settings,
    }  # fmt: skip
    client = redis.Redis.from_url(fresh.redis_url)
    # The simulator's reset starts its ids again; the ids an earlier worker recorded must not
    # make this one skip new fills that reuse them (Tradovate never reuses an id).
    recorded = (keys.WORKER_FILLS_RECORDED, keys.WORKER_EXECUTIONS_RECORDED)
    client.delete(*recorded, keys.WORKER_SYNC_STATE)
    proc = ReadyLineProcess(
        [sys.executable, "-m", "worker", "--host", "127.0.0.1", "--port", "0"], env=env
    )
    proc.start()
    wait_for(lambda: client.get(keys.WORKER_SYNC_STATE) == b"synced", 20)
    fresh.worker = proc
    try:
        yield fresh
    finally:
        fresh.worker = None
        proc.stop()


def now_iso(offset_s: float = 0) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat()
