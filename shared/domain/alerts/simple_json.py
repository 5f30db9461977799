"""Read the plain ``{symbol, side, quantity, price}`` shape many simple bridges and scripts send.

``price`` is the alert's reference price (usually ``{{close}}``); the strategy's default order
type applies. Detected by ``symbol`` plus ``side`` without a ``webhook_type``.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.alerts.coerce import fail, maybe, to_choice, to_decimal
from shared.domain.alerts.common import read_symbol
from shared.domain.alerts.fields import Fields, extras_of
from shared.domain.signal import Intent, Signal

NAME = "simple_json"

SIDE_INTENTS = {
    "buy": Intent.BUY,
    "long": Intent.BUY,
    "sell": Intent.SELL,
    "short": Intent.SELL,
    "exit": Intent.EXIT,
    "close": Intent.CLOSE,
    "flat": Intent.FLAT,
    "cancel": Intent.CANCEL,
}


def detect(data: Mapping[str, object]) -> bool:
    """Recognise the plain shape by ``symbol`` and ``side``."""
    return "symbol" in data and "side" in data


def read(data: Mapping[str, object]) -> Signal:
    """Build a signal from a ``{symbol, side, quantity, price}`` object."""
    f = Fields(data)
    side = f.get("side")
    if side is None:
        fail("side is required", "missing_field", "side")
    return Signal(
        source=NAME,
        intent=to_choice(side, "side", SIDE_INTENTS),
        symbol=read_symbol(f.get("symbol"), "symbol"),
        quantity=maybe(to_decimal, f.get("quantity", "qty"), "quantity"),
        signal_price=maybe(to_decimal, f.get("price"), "price"),
        extras=extras_of(f.rest()),
    )
