"""When a working order trades against the simulated price, and at what price.

* Market: at the market.
* Limit: when the market is at or through the limit. Marketable on arrival (placed, modified,
  activated or just triggered) it trades at the market; resting, it trades at its limit (the
  market came to it).
* Stop: triggers when the market reaches the stop, then trades at the market.
* StopLimit: triggers like a stop, then behaves as a limit order that has just arrived.
* MIT: when the market reaches the price (buy at or below, sell at or above), at the market.
* TrailingStop, TrailingStopLimit: their stop (and limit) follow the market first
  (``trailing.track``, called by the engine); then they trigger as a Stop or StopLimit does.
"""

from __future__ import annotations

from decimal import Decimal

from local.tradovate_sim.models import Order
from local.tradovate_sim.trailing import TRIGGERS_AS


def fill_price(order: Order, market: Decimal, arrival: bool) -> Decimal | None:
    """Return the price ``order`` trades at now, or None; marks stops as triggered."""
    version = order.version
    buy = order.action == "Buy"
    kind = TRIGGERS_AS.get(version.order_type, version.order_type)
    if kind == "Market":
        return market
    if kind == "MIT":
        assert version.price is not None
        hit = market <= version.price if buy else market >= version.price
        return market if hit else None
    if kind in ("Stop", "StopLimit") and not order.triggered:
        assert version.stop_price is not None
        if not (market >= version.stop_price if buy else market <= version.stop_price):
            return None
        order.triggered = True
        if kind == "Stop":
            return market
        arrival = True  # a triggered stop-limit arrives as a fresh limit order
    if kind == "Stop":
        return market
    assert version.price is not None
    if not (market <= version.price if buy else market >= version.price):
        return None
    # Marketable on arrival: trade at the market. Resting: the market came to our price.
    return market if arrival or not order.resting else version.price
