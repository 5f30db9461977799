"""Which quantity units a signal can be planned in, whatever the position.

An entry (buy, sell, add, a sized reverse, a target without a size) is sized in contracts:
``shared.domain.planning.targets`` denies any other unit (a percent of equity, a risk amount,
dollars) with ``unsupported_quantity_unit``, since there are no contracts to count from it
here. Exits size in contracts or a percent of the position, and closes, cancels and sized
targets do not use the quantity's unit at all. This module says which signals every plan
would deny for their unit, so the webhook can refuse them at once instead of queueing signals
the executor can only deny; it imports nothing heavier than the signal itself.
"""

from __future__ import annotations

from shared.domain.signal import Intent, MarketPosition, QuantityUnit, Signal

UNSUPPORTED_QUANTITY_UNIT = "unsupported_quantity_unit"


def unit_refused(unit: QuantityUnit) -> str:
    """Return the sentence that refuses sizing by ``unit``."""
    return f"sizing by {unit.value} is not supported here; send whole contracts"


def unusable_unit(signal: Signal) -> QuantityUnit | None:
    """Return the signal's quantity unit when no position could plan it, else None."""
    unit = signal.quantity_unit
    if unit is QuantityUnit.CONTRACTS or signal.intent is Intent.CANCEL:
        return None
    target = signal.target
    if target is not None:
        opens = target.market_position is not MarketPosition.FLAT and target.size is None
        return unit if opens else None
    if signal.intent in (Intent.BUY, Intent.SELL, Intent.ADD):
        return unit
    if signal.intent is Intent.REVERSE and signal.quantity is not None:
        return unit
    return None
