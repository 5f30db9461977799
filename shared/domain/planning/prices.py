"""Convert alert prices and distances to prices on the contract's tick, rounded the safe way.

The rounding rule, by what the order is for:

* an entry never gets a worse price and never triggers earlier than asked: a buy limit rounds
  down and a buy stop up; a sell limit rounds up and a sell stop down;
* an exit rounds toward the position's entry: a take profit is never beyond what was asked and
  a stop never further than asked (a long's target rounds down, its stop up; a short's the
  reverse). The limit of a stop-limit exit rounds away from its stop, so it still fills;
* a distance (trail, breakeven trigger and offset) rounds down to whole ticks.

Distances come in ticks, points (price units), percent of a reference price, or dollars per
contract (divided by the contract's value per point).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from shared.domain.broker import ContractSpec, Side
from shared.domain.signal import PriceSpec, PriceUnit

__all__ = ["entry_price", "exit_price", "on_tick", "points", "ticks_down"]

_HUNDRED = Decimal(100)


def on_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    """Round ``price`` to a whole number of ``tick`` with a ``decimal`` rounding mode."""
    return (price / tick).to_integral_value(rounding=rounding) * tick


def _round(price: Decimal, tick: Decimal, buy_like: bool, is_limit: bool) -> Decimal:
    # A buy-like limit rounds down and a buy-like stop up; sell-like the reverse.
    return on_tick(price, tick, ROUND_FLOOR if buy_like == is_limit else ROUND_CEILING)


def entry_price(price: Decimal, tick: Decimal, side: Side, *, is_limit: bool) -> Decimal:
    """Round an order price that opens or adds, never to a worse price or earlier trigger."""
    return _round(price, tick, side is Side.BUY, is_limit)


def exit_price(price: Decimal, tick: Decimal, side: Side, *, is_limit: bool) -> Decimal:
    """Round a price of an order on closing ``side``: toward the position's entry.

    Such an exit rounds as an entry of the opposite side would: a sell target below its asked
    level, a sell stop above it.
    """
    return _round(price, tick, side is Side.SELL, is_limit)


def points(spec: PriceSpec, reference: Decimal | None, contract: ContractSpec) -> Decimal | None:
    """Return a distance in price units, or None when a percent has no reference price."""
    if spec.unit is PriceUnit.TICKS:
        return spec.value * contract.tick_size
    if spec.unit is PriceUnit.POINTS:
        return spec.value
    if spec.unit is PriceUnit.DOLLARS:
        return spec.value / contract.value_per_point
    if spec.unit is PriceUnit.PERCENT:
        return None if reference is None else reference * spec.value / _HUNDRED
    raise ValueError("an absolute price is not a distance")


def ticks_down(distance: Decimal, tick: Decimal) -> Decimal:
    """Round a distance down to whole ticks (a distance is never made longer than asked)."""
    return on_tick(distance, tick, ROUND_FLOOR)
