"""Orders placed through the function app reach the worker's live state and fill history."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from shared.services.live_state import LiveState
from tests.integration.execution.conftest import System, wait_for

pytestmark = pytest.mark.integration


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
    # The ledger's entry legs are marked filled, and the worker adds the fill price (the
    # executor may mark them filled first: it waits for the fills before it completes).
    legs = wait_for(
        lambda: (
            rows
            if len(
                rows := [
                    r
                    for r in worker.ledger(sent["id"])
                    if r.status == "filled" and "fill_price" in r.fields
                ]
            )
            == 2
            else None
        ),
        20,
    )
    assert sorted((r.fields["fill_price"], r.fields["filled_qty"]) for r in legs) == [
        ("21000", 1),
        ("21000", 3),
    ]
    assert all(r.fields.get("filled_at") is not None for r in legs)


def test_order_filled_in_parts_is_partially_filled_in_the_ledger_until_complete(
    worker: System,
) -> None:
    worker.sim.set_liquidity("MNQ", 1)  # one contract per price move
    try:
        sent = worker.post("solo", intent="buy", symbol="MNQ1!", quantity=2, price=21000)
        [summary] = worker.outcome(sent["id"])
        assert summary.status == "done"

        def leg() -> Any:
            [row] = [r for r in worker.ledger(sent["id"]) if not r.row_key.startswith("exec:")]
            return row

        first = wait_for(lambda: row if (row := leg()).status == "partially_filled" else None, 20)
        assert (first.fields["filled_qty"], first.fields["fill_price"]) == (1, "21000")
        worker.sim.set_price("MNQ", "21002")  # the rest trades at the new price
        last = wait_for(lambda: row if (row := leg()).status == "filled" else None, 20)
        assert (last.fields["filled_qty"], last.fields["fill_price"]) == (2, "21001")
        assert isinstance(last.fields["order_id"], int)
    finally:
        worker.sim.set_liquidity("MNQ", None)
