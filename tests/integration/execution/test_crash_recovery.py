"""The executor dies between Tradovate's answer and the ledger write; re-delivery places nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import redis

from local.services import REPO_ROOT, AzuriteTables, RedisServer
from local.tradovate_sim import SimulatorServer

pytestmark = pytest.mark.integration

# Runs in a child process that is really killed (os._exit) right after the broker's answer,
# before the ledger records it: nothing in that process gets to clean up.
CHILD = r"""
import asyncio, json, os, sys
from decimal import Decimal
from datetime import datetime, UTC
from shared.config import Settings
from shared.container import Container
from shared.domain.alerts import parse_alert
from shared.services.envelope import Envelope
from shared.services.execute import Delivery

class DieAfterBroker:
    def __init__(self, inner):
        self.inner = inner
    def __getattr__(self, name):
        return getattr(self.inner, name)
    async def update_all(self, entries):
        # The answer's write: alone ("acknowledged") or with the fill's ("filled").
        answered = any(e.status in ("acknowledged", "filled") for e in entries)
        if answered and os.environ.get("DIE") == "1":
            os._exit(9)
        return await self.inner.update_all(entries)

async def main():
    container = Container(Settings())
    executor = container.executor
    deps = executor._deps
    executor._deps = type(deps)(**{**deps.__dict__, "ledger": DieAfterBroker(container.ledger)})
    body = json.loads(sys.argv[1])
    env = Envelope(
        signal_id=body["signal_id"], strategy_id="crash", account="DEMO10001", account_id=10001,
        multiplier=Decimal(1), alert_format="native", received_at=datetime.now(UTC),
        correlation_id="crash", signal=parse_alert(json.dumps(body["alert"])).signal,
    )
    delivery = Delivery(env, body["signal_id"] + ":DEMO10001", int(sys.argv[2]))
    outcome = await executor.execute(delivery)
    print(json.dumps({"status": outcome.status, "orders": list(outcome.orders)}))

asyncio.run(main())
"""


def test_executor_killed_after_broker_call_places_nothing_on_redelivery(
    redis_server: RedisServer, azurite: AzuriteTables, tmp_path: pytest.TempPathFactory
) -> None:
    redis.Redis.from_url(redis_server.url).flushdb()
    strategies = tmp_path / "s.toml"  # type: ignore[operator]
    strategies.write_text(
        'version = 1\n[strategies.crash]\nsecret = { env = "X" }\n'
        'accounts = [{ name = "DEMO10001", id = 10001 }]\n'
        "[strategies.crash.risk]\nmax_alert_age_s = 600\n"
    )
    with SimulatorServer() as sim:
        env = {
            "PATH": "/usr/bin:/bin",
            "QUEUE_BACKEND": "local",
            "REDIS_URL": redis_server.url,
            "TablesConnection": azurite.connection_string,
            "TABLE_PREFIX": "crash",
            "STRATEGIES_FILE": str(strategies),
            "TRADOVATE_BASE_URL": sim.base_url,
            "TRADOVATE_USERNAME": "sim-trader",
            "TRADOVATE_PASSWORD": "sim-password",
            "TRADOVATE_CID": "8",
            "TRADOVATE_SEC": "sim-api-secret",
            "TRADOVATE_DEVICE_ID": "crash",
        }
        payload = json.dumps(
            {
                "signal_id": "c" * 32,
                "alert": {
                    "intent": "buy",
                    "symbol": "MNQ1!",
                    "quantity": 2,
                    "price": 21000,
                    "time": datetime.now(UTC).isoformat(),
                },
            }
        )

        def run(delivery: int, die: bool) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-c", CHILD, payload, str(delivery)],
                cwd=REPO_ROOT,
                env={**env, "DIE": "1" if die else "0"},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        first = run(1, die=True)
        assert first.returncode == 9, first.stderr[-2000:]
        assert len(sim.state()["orders"]) == 1  # the broker took the order before the "crash"
        second = run(2, die=False)
        assert second.returncode == 0, second.stderr[-2000:]
        result = json.loads(second.stdout.strip().splitlines()[-1])
        assert result["status"] == "done"
        orders = sim.state()["orders"]
        assert len(orders) == 1  # found by clOrdId, not placed again
        assert result["orders"] == [orders[0]["id"]]
        positions = [p for p in sim.state()["positions"] if p["netPos"]]
        assert [p["netPos"] for p in positions] == [2]
