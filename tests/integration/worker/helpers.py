"""Compare the worker's Redis view with what Tradovate REST says."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from shared.adapters.tradovate.client import TradovateClient
from shared.services.live_state import LiveState
from worker.history import TablesHistory, history_partition

ACCOUNTS = (10001, 10002)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


async def differences(live: LiveState, client: TradovateClient) -> list[str]:
    """Return every way the live cache differs from REST (empty when they agree)."""
    found: list[str] = []
    for account_id in ACCOUNTS:
        for position in await client.rest.positions(account_id):
            cached = await live.position(account_id, position.contract_id)
            if cached is None:
                found.append(f"{account_id}/{position.contract_id}: no live position")
                continue
            if (cached.net_pos, cached.net_price) != (position.net_pos, position.net_price):
                found.append(
                    f"{account_id}/{position.contract_id}: live {cached.net_pos}@"
                    f"{cached.net_price} vs REST {position.net_pos}@{position.net_price}"
                )
        rest_open = sorted(o.id for o in await client.rest.orders(account_id) if o.status.is_open)
        working = await live.working_orders(account_id)
        live_open = None if working is None else sorted(o.order_id for o in working)
        if live_open != rest_open:
            found.append(f"{account_id}: live orders {live_open} vs REST {rest_open}")
        snapshot = await client.rest.cash_balance_snapshot(account_id)
        cash = await live.cash(account_id)
        if cash is None:
            found.append(f"{account_id}: no live cash")
            continue
        for name in ("total_cash_value", "realized_pnl", "open_pnl"):
            mine, theirs = getattr(cash, name), getattr(snapshot, name)
            if abs(_cents(mine) - _cents(theirs)) > Decimal("0.01"):
                found.append(f"{account_id}: {name} live {mine} vs REST {theirs}")
    return found


async def settled(live: LiveState, client: TradovateClient, timeout_s: float = 5.0) -> list[str]:
    """Wait until the cache equals REST; return the differences left at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    found = await differences(live, client)
    while found and loop.time() < deadline:
        await asyncio.sleep(0.05)
        found = await differences(live, client)
    return found


async def unlinked_fill_rows(
    history: TablesHistory, client: TradovateClient
) -> list[dict[str, Any]]:
    """Return the ``Fills`` rows no signal placed, from the days of the fills REST lists."""
    days = sorted({history_partition(f.timestamp) for f in await client.rest.fills()})
    rows = [row for day in days for row in await history.read("fills", day)]
    return [row for row in rows if "signal_id" not in row]
