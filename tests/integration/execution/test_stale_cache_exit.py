"""An exit planned from a cache that missed the broker closing the position adds nothing.

The worker is frozen (SIGSTOP) while its cache still reads ``synced``: its heartbeat lives
10 s. Meanwhile the bracket's take profit trades at the simulator, so the broker is flat while
the cache still shows the long and its two exits working. An exit alert comes in that window.
The plan made from the cache cancels the exits first; Tradovate refuses the take profit's
cancel (it traded), which shows the position moved, so the executor plans again from REST
and sends nothing: the account stays flat, never short.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from shared import redis_keys as keys
from shared.services.live_state import LiveState
from tests.integration.execution.conftest import System, wait_for

pytestmark = pytest.mark.integration

ACCOUNT_ID = 10001
TICK = Decimal("0.25")  # MNQ


def _cache(system: System) -> tuple[int | None, int, str | None]:
    """Return the cache's MNQ position, its working orders' count and its sync flag."""

    async def read() -> tuple[int | None, int, str | None]:
        client = aioredis.Redis.from_url(system.redis_url)
        try:
            live = LiveState(client)
            document = await live.position(ACCOUNT_ID, _contract_id(system))
            working = await live.working_orders(ACCOUNT_ID) or ()
            sync = await client.get(keys.WORKER_SYNC_STATE)
        finally:
            await client.aclose()
        net = None if document is None else document.net_pos
        return net, len(working), None if sync is None else sync.decode()

    return asyncio.run(read())


def _contract_id(system: System) -> int:
    [order] = [o for o in system.orders(ACCOUNT_ID) if o["ordStatus"] == "Filled"][:1]
    return int(order["contractId"])


def test_exit_from_a_frozen_cache_after_the_take_profit_traded_stays_flat(
    worker: System,
) -> None:
    assert worker.worker is not None
    worker.sim.set_price("MNQ", "21000")
    entry = worker.post(
        "solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000,
        take_profit={"ticks": 8}, stop_loss={"ticks": 40},
    )  # fmt: skip
    [summary] = worker.outcome(entry["id"])
    assert summary.status == "done", summary.fields
    assert wait_for(lambda: _cache(worker)[:2] == (1, 2), 20)  # the long and its two exits
    pid = worker.worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        worker.sim.set_price("MNQ", str(21000 + 9 * TICK))  # through the take profit
        assert wait_for(lambda: worker.positions(ACCOUNT_ID).get("MNQ", 0) == 0, 10)
        assert _cache(worker) == (1, 2, "synced")  # the cache has not seen it
        exit_alert = worker.post("solo", intent="exit", symbol="MNQ1!")
        [done] = worker.outcome(exit_alert["id"])
        assert worker.positions(ACCOUNT_ID).get("MNQ", 0) == 0  # flat, not short
        assert done.status == "done", done.fields
        # Planned first from the cache (cancel both exits, sell 1); the take profit's cancel
        # was refused as traded, and the plan made again from REST had nothing to do.
        rows = {r.fields.get("kind"): r for r in worker.ledger(exit_alert["id"])}
        assert "already_filled" in {r.status for r in worker.ledger(exit_alert["id"])}
        assert rows["PlaceOrder"].status == "superseded"  # the sell never went out
        assert "order_id" not in rows["PlaceOrder"].fields
        basis = json.loads(str(done.fields["basis"]))
        assert (basis["source"], basis["net_pos"]) == ("rest", 0)
    finally:
        os.kill(pid, signal.SIGCONT)
