"""The three timers inside the dev host running function_app.py, fired on demand."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from local.services import AzuriteTables, ReadyLineProcess, RedisServer
from local.tradovate_sim import SimulatorServer
from shared import redis_keys as keys
from shared.adapters.tradovate.token import namespace_for

pytestmark = pytest.mark.integration

MASTER = "timers-master-key"
NEVER = "0 0 0 1 1 *"  # fire only when asked
STRATEGIES = """
version = 1
[strategies.mend]
secret = { env = "WEBHOOK_MEND" }
accounts = [{ name = "DEMO10001", id = 10001 }]
[strategies.mend.risk]
symbols = ["ES", "CL"]
max_alert_age_s = 600
[strategies.mend.reconcile]
heal = true
"""


def wait_for(predicate: Callable[[], Any], timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def host(
    redis_server: RedisServer, azurite: AzuriteTables, tmp_path: Path
) -> Iterator[tuple[str, SimulatorServer, redis.Redis]]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    (tmp_path / "strategies.toml").write_text(STRATEGIES)
    with SimulatorServer() as sim:
        env = {
            **os.environ,
            "QUEUE_BACKEND": "local", "REDIS_URL": redis_server.url,
            "SIGNALS_QUEUE_NAME": "signals", "QUEUE_LOCK_DURATION_S": "5",
            "TablesConnection": azurite.connection_string, "TABLE_PREFIX": "timers",
            "STRATEGIES_FILE": str(tmp_path / "strategies.toml"), "WEBHOOK_MEND": "unused",
            "DEVHOST_FUNCTION_KEYS": "unused-key", "DEVHOST_MASTER_KEY": MASTER,
            "TRADOVATE_BASE_URL": sim.base_url, "TRADOVATE_MD_WS_URL": sim.md_ws_url,
            "TRADOVATE_USERNAME": "sim-trader", "TRADOVATE_PASSWORD": "sim-password",
            "TRADOVATE_CID": "8", "TRADOVATE_SEC": "sim-api-secret",
            "TRADOVATE_DEVICE_ID": "timers",
            "CONTRACT_REFRESH_SCHEDULE": NEVER, "TOKEN_REFRESH_SCHEDULE": NEVER,
            "RECONCILE_SCHEDULE": NEVER, "LOG_LEVEL": "INFO",
        }  # fmt: skip
        proc = ReadyLineProcess(
            [sys.executable, "-m", "local.devhost", "--port", "0",
             "--settings", str(tmp_path / "none.json")],
            env=env,
        )  # fmt: skip
        ready = proc.start()
        try:
            yield str(ready["functions"]), sim, client
        finally:
            proc.stop()
            client.close()


def fire(url: str, name: str) -> None:
    r = httpx.post(f"{url}/admin/functions/{name}", headers={"x-functions-key": MASTER})
    assert r.status_code == 202, r.text


def runs(url: str, name: str) -> dict[str, int]:
    status = httpx.get(f"{url}/admin/host/status", headers={"x-functions-key": MASTER}).json()
    return dict(status["timers"][name])


def test_timers_in_the_dev_host_keep_token_and_maps_and_heal_drift_in_one_order(
    host: tuple[str, SimulatorServer, redis.Redis],
) -> None:
    url, sim, client = host
    token_key = f"{namespace_for(sim.base_url, 'sim-trader')}:token"

    fire(url, "token_refresh")
    wait_for(lambda: client.get(token_key))
    assert sim.stats()["logins"] == 1

    fire(url, "contract_refresh")
    maps = wait_for(lambda: [client.get(keys.contract_map(r)) for r in ("ES", "CL")] if all(
        client.exists(keys.contract_map(r)) for r in ("ES", "CL")) else None)  # fmt: skip
    es_front = json.loads(maps[0])["front"]
    assert es_front.startswith("ES")

    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    intent = {"net_pos": 1, "signal_id": "missed-entry", "at": at}
    client.hset(keys.intended_positions("mend"), "DEMO10001:ES", json.dumps(intent))
    fire(url, "reconcile")
    # The dev host's execute function takes the healing signal off the queue and trades it.
    position = wait_for(
        lambda: [p for p in sim.state()["positions"] if p["accountId"] == 10001 and p["netPos"]]
    )
    assert [p["netPos"] for p in position] == [1]
    assert len([o for o in sim.state()["orders"] if o["accountId"] == 10001]) == 1
    healed = wait_for(
        lambda: (
            json.loads(client.hget(keys.intended_positions("mend"), "DEMO10001:ES") or "{}")
            .get("signal_id", "")
            .startswith("heal-")
        )
    )
    assert healed
    for name in ("token_refresh", "contract_refresh", "reconcile"):
        assert runs(url, name) == {"runs": 1, "failures": 0}
    assert sim.stats()["logins"] == 1  # the executor reused the timer's token
