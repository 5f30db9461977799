"""Orders placed through the function app reach the worker's live state and fill history."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis
import redis.asyncio as aioredis

from local.services import ReadyLineProcess
from shared.services.live_state import LiveState
from tests.integration.execution.conftest import System, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(fresh: System) -> Iterator[System]:
    env = {
        **os.environ,
        "REDIS_URL": fresh.redis_url, "TablesConnection": fresh.tables, "TABLE_PREFIX": "e2e",
        "TRADOVATE_BASE_URL": fresh.sim.base_url, "TRADOVATE_MD_WS_URL": fresh.sim.md_ws_url,
        "TRADOVATE_USERNAME": "sim-trader", "TRADOVATE_PASSWORD": "sim-password",
        "TRADOVATE_CID": "8", "TRADOVATE_SEC": "sim-api-secret", "TRADOVATE_DEVICE_ID": "e2e",
        "STRATEGIES_FILE": "local/strategies.local.toml", "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    proc = ReadyLineProcess(
        [sys.executable, "-m", "worker", "--host", "127.0.0.1", "--port", "0"], env=env
    )
    proc.start()
    client = redis.Redis.from_url(fresh.redis_url)
    wait_for(lambda: client.get("worker:sync") == b"synced", 20)
    yield fresh
    proc.stop()


def live_position(
    system: System, account_id: int, contract_id: int
) -> tuple[int, Decimal | None] | None:
    async def read() -> tuple[int, Decimal | None] | None:
        client = aioredis.Redis.from_url(system.redis_url)
        try:
            position = await LiveState(client).position(account_id, contract_id)
        finally:
            await client.aclose()
        return None if position is None else (position.net_pos, position.net_price)

    return asyncio.run(read())


def test_alert_through_the_app_shows_in_worker_state_and_fill_history(worker: System) -> None:
    sent = worker.post("both", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    summaries = worker.outcome(sent["id"], accounts=2)
    assert {s.status for s in summaries} == {"done"}
    [order] = [o for o in worker.orders(10002) if o["ordStatus"] == "Filled"]
    contract_id = int(order["contractId"])
    # The worker's cache agrees with the broker: +1 on the first account, +3 on the second.
    assert wait_for(lambda: live_position(worker, 10001, contract_id) == (1, Decimal(21000)), 20)
    assert wait_for(lambda: live_position(worker, 10002, contract_id) == (3, Decimal(21000)), 20)
    # The ledger's entry legs are marked filled by the worker, with the fill price.
    legs = wait_for(
        lambda: (
            rows
            if len(rows := [r for r in worker.ledger(sent["id"]) if r.status == "filled"]) == 2
            else None
        ),
        20,
    )
    assert sorted((r.fields["fill_price"], r.fields["filled_qty"]) for r in legs) == [
        ("21000", 1),
        ("21000", 3),
    ]
    assert all(r.fields.get("filled_at") is not None for r in legs)
