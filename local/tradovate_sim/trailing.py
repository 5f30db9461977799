"""Trailing stops as the simulator reads them (docs/reference/tradovate-trailing-stops.md).

What Tradovate documents: ``TrailingStop`` and ``TrailingStopLimit`` require ``stopPrice``, the
initial trigger, and the order "will keep a max distance of (positionPrice - stopPrice)" (DOCS24
``placeOrder.md``, ``orderVersion.md``). ``pegDifference`` is the trailing offset (the official
C# sample prints a trailing stop as "TRAIL.STOP {stopPrice} with {pegDifference}"); its sign is
**UNCONFIRMED**. The default reading is FIX tag 211's, whose name and neighbour (``maxShow`` =
tag 210) Tradovate's fields copy: "amount (signed) added to the price of the peg", so a sell stop
trails below the market with a negative ``pegDifference`` and a buy stop above it with a positive
one. ``SimConfig.trailing_peg_sign`` switches to the other readings ("unsigned", "either").

An order is *armed* when it starts working (placed, activated as a bracket, modified): its
distance is ``|pegDifference|`` when given, else the distance between the market and
``stopPrice``. On every price move the stop follows the market by that distance in the
favourable direction only (a sell stop up, a buy stop down), never back; a trailing stop-limit's
limit moves by the same amount. It triggers as a ``Stop`` (``StopLimit``) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from local.tradovate_sim.config import SimConfig
from local.tradovate_sim.market import is_on_tick
from local.tradovate_sim.models import Order
from local.tradovate_sim.validation import Rejection, VersionSpec

TRAILING = ("TrailingStop", "TrailingStopLimit")
# The plain type a trailing type behaves as once its stop is where the market has to reach.
TRIGGERS_AS = {"TrailingStop": "Stop", "TrailingStopLimit": "StopLimit"}


@dataclass(frozen=True)
class TrailRules:
    """The readings of the UNCONFIRMED trailing-stop points that the simulator applies."""

    peg_sign: str = "signed"
    require_stop_price: bool = True
    modify_qty_only: bool = False

    @classmethod
    def of(cls, config: SimConfig) -> TrailRules:
        """Read the rules from the simulator's settings."""
        return cls(
            config.trailing_peg_sign,
            config.trailing_requires_stop_price,
            config.trailing_modify_qty_only,
        )


def check_trailing(version: VersionSpec, tick: Decimal, rules: TrailRules) -> None:
    """Reject a trailing order whose ``stopPrice`` or ``pegDifference`` cannot trail."""
    if version.order_type not in TRAILING:
        return
    peg = version.peg_difference
    # A stop-limit's limit is only meaningful next to its stop, so it always needs one.
    optional = not rules.require_stop_price and version.order_type == "TrailingStop"
    if version.stop_price is None and (not optional or peg is None):
        raise Rejection("InvalidPrice", f"{version.order_type} order requires stopPrice")
    if peg is None:
        return
    if peg == 0 or not is_on_tick(abs(peg), tick):
        raise Rejection("InvalidPrice", f"pegDifference {peg} is not a non-zero multiple of {tick}")
    sell = version.action == "Sell"
    if rules.peg_sign == "signed" and (peg > 0) == sell:
        need = "negative for a Sell" if sell else "positive for a Buy"
        raise Rejection(
            "InvalidPrice",
            f"pegDifference must be {need} {version.order_type} (signed offset from the market)",
        )
    if rules.peg_sign == "unsigned" and peg < 0:
        raise Rejection("InvalidPrice", "pegDifference must be a positive trailing distance")


def check_modify(order: Order, new: VersionSpec, rules: TrailRules) -> None:
    """Refuse a change other than the quantity to a trailing order, when so configured.

    Tradovate's reject enum has ``TrailingStopNonOrderQtyModify``; that it means "only the
    quantity of a trailing stop may be modified" is a reading of the name (UNCONFIRMED).
    """
    current = order.version
    if not rules.modify_qty_only or current.order_type not in TRAILING:
        return
    terms = ("order_type", "price", "stop_price", "peg_difference")
    if any(getattr(current, name) != getattr(new, name) for name in terms):
        raise Rejection(
            "TrailingStopNonOrderQtyModify", "Only orderQty can be modified on a trailing stop"
        )


def track(order: Order, market: Decimal) -> bool:
    """Arm a working trailing order if needed and let it follow ``market``; say if it moved."""
    version = order.version
    if version.order_type not in TRAILING or order.triggered:
        return False
    before = version.stop_price
    if order.trail is None:
        _arm(order, market)
    _follow(order, market)
    return version.stop_price != before


def _arm(order: Order, market: Decimal) -> None:
    version = order.version
    sell = order.action == "Sell"
    if version.peg_difference is not None:
        order.trail = abs(version.peg_difference)
    else:
        assert version.stop_price is not None  # check_trailing guarantees one of the two
        order.trail = abs(market - version.stop_price)
    if version.stop_price is None:  # a TrailingStop, with stopPrice configured optional
        version.stop_price = market - order.trail if sell else market + order.trail


def _follow(order: Order, market: Decimal) -> None:
    version = order.version
    assert version.stop_price is not None
    assert order.trail is not None
    sell = order.action == "Sell"
    target = market - order.trail if sell else market + order.trail
    if (target > version.stop_price) if sell else (target < version.stop_price):
        shift = target - version.stop_price
        version.stop_price = target
        if version.price is not None and version.order_type == "TrailingStopLimit":
            version.price += shift
