"""Decide the position a signal wants on one account, before any order is shaped.

Every signal becomes an :class:`Intention`: the signed position to reach, which working orders to
cancel first, and how to price the contracts that close. The planner then trades the difference
between that target and the broker's position, so a reversal is one order and a missed alert heals.

* A **target position** (``strategy.market_position`` + size, TradersPost ``sentiment``) is the
  target itself, scaled by the account multiplier. A direction without a size (``sentiment:
  long``) opens the entry quantity on that side, or adds when already there.
  Growing a held position toward a larger target is adding too: with adding off, the safety
  rails refuse it (``worst_case_add``), since a view that lags one fill would overshoot.
* **buy / sell** open the entry quantity; on the same side they add only when the strategy
  allows adding; against the position they follow the opposite-signal policy (reverse to the
  entry quantity, exit only, or ignore). **add** adds regardless of that setting. An alert
  that carries its own position rules (``Signal.position_rules``, PickMyTrade) decides those
  two cases itself where it says, as its vendor documents: see :func:`_by_rules`.
* **reverse** flips to the other side with the alert's quantity, else the current size.
* **exit** closes the alert's quantity (contracts or percent of the position), else everything;
  **close** closes everything; **flat** closes everything and cancels every working order;
  **cancel** cancels working orders but keeps the exits protecting an open position.

Reaching flat from an exit cancels the position's exits (its brackets); a target position that
is flat or on the other side, a reversal and ``flatten_first`` cancel every working order, since a
resting order from before would break the new target. ``cancel_first`` cancels every working order
only when the signal opens contracts. A full exit at a limit or stop cancels the brackets before
it rests (both would otherwise close the same contracts); until it fills the position has no stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from shared.domain.planning.quantities import scale
from shared.domain.policy import OppositeSignal, StrategyPolicy
from shared.domain.risk import Denial, DenialCode
from shared.domain.signal import (
    Intent,
    MarketPosition,
    PositionRules,
    QuantityUnit,
    Signal,
    TargetPosition,
)
from shared.domain.sizing import unit_refused

__all__ = ["CancelScope", "ClosePricing", "Intention", "decide"]

_HUNDRED = Decimal(100)
_SIGN = {MarketPosition.LONG: 1, MarketPosition.SHORT: -1, MarketPosition.FLAT: 0}


class CancelScope(Enum):
    """Say which working orders go before the new orders are sent."""

    NONE = "none"
    EXITS = "exits"  # orders on the closing side of the position: its brackets
    ENTRIES = "entries"  # every other order
    ALL = "all"


class ClosePricing(Enum):
    """Say how the contracts that close the position are priced."""

    ENTRY = "entry"  # like the entry they ride with (one reversal order, exit-only)
    EXIT = "exit"  # the alert's own order type and prices, else market
    MARKET = "market"  # at market, whatever the alert says (flatten)


@dataclass(frozen=True, slots=True)
class Intention:
    """Hold the signed position to reach and how to get there."""

    target: int
    cancel: CancelScope = CancelScope.NONE
    close_pricing: ClosePricing = ClosePricing.EXIT
    separate_close: bool = False  # close with its own order first, then open (flatten_first)
    note: str = ""


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def entry_size(signal: Signal, policy: StrategyPolicy, multiplier: Decimal) -> int:
    """Return the contracts an entry opens on this account; raise a Denial if it cannot."""
    if signal.quantity_unit is not QuantityUnit.CONTRACTS:
        raise _unsupported(signal.quantity_unit)
    base = signal.quantity
    if base is None and signal.brackets and all(leg.quantity for leg in signal.brackets):
        # Sized legs without a total: the legs are the quantity.
        base = sum((leg.quantity or Decimal(0) for leg in signal.brackets), Decimal(0))
    size = scale(base if base is not None else policy.default_quantity, multiplier)
    if size == 0:
        raise Denial(DenialCode.ZERO_QUANTITY, "the quantity rounds down to zero contracts")
    return size


def _unsupported(unit: QuantityUnit) -> Denial:
    # shared.domain.sizing says which signals meet this whatever the position (the webhook
    # refuses those); the sentence is the same in both places.
    return Denial(DenialCode.UNSUPPORTED_QUANTITY_UNIT, unit_refused(unit))


def decide(signal: Signal, current: int, policy: StrategyPolicy, multiplier: Decimal) -> Intention:
    """Return the position ``signal`` wants on an account holding ``current``.

    Raise a :class:`Denial` when the strategy refuses the signal or it cannot be sized.
    """
    if signal.intent is Intent.CANCEL:
        return Intention(current, cancel=CancelScope.ENTRIES, note="cancel working orders")
    if signal.target is not None:
        return _toward_target(signal, signal.target, current, policy, multiplier)
    if signal.intent in (Intent.BUY, Intent.SELL, Intent.ADD):
        return _enter(signal, current, policy, multiplier)
    if signal.intent is Intent.REVERSE:
        return _reverse(signal, current, policy, multiplier)
    return _leave(signal, current, multiplier)


def _reversal(wanted: int) -> Intention:
    return Intention(wanted, CancelScope.ALL, ClosePricing.ENTRY, note="reverse")


def _flatten_then_enter(wanted: int, note: str) -> Intention:
    return Intention(wanted, CancelScope.ALL, ClosePricing.MARKET, True, note=note)


def _against(policy: StrategyPolicy, wanted: int) -> Intention:
    if policy.opposite_signal is OppositeSignal.REVERSE:
        return _reversal(wanted)
    if policy.opposite_signal is OppositeSignal.EXIT_ONLY:
        return Intention(0, CancelScope.EXITS, ClosePricing.ENTRY, note="exit only")
    raise Denial(
        DenialCode.OPPOSITE_SIGNAL_IGNORED,
        "the signal is against the open position and this strategy ignores such signals",
    )


def _add_refused() -> Denial:
    return Denial(
        DenialCode.ADD_NOT_ALLOWED,
        "a position is already open on this side and this strategy does not add to positions",
    )


def _enter(signal: Signal, current: int, policy: StrategyPolicy, multiplier: Decimal) -> Intention:
    side = signal.direction
    sign = side.sign if side is not None else _sign(current)
    if sign == 0:
        raise Denial(DenialCode.NO_DIRECTION, "the alert names no side and no position is open")
    size = entry_size(signal, policy, multiplier)
    if signal.flatten_first and current != 0:
        return _flatten_then_enter(sign * size, "flatten, then enter")
    rules = signal.position_rules
    if rules is not None and current != 0 and signal.intent is not Intent.ADD:
        decided = _by_rules(rules, current, sign * size, policy)
        if decided is not None:
            return decided
    if current * sign < 0:
        return _against(policy, sign * size)
    if current != 0 and not (policy.allow_add or signal.intent is Intent.ADD):
        raise _add_refused()
    return Intention(current + sign * size, note="add" if current else "enter")


def _by_rules(
    rules: PositionRules, current: int, wanted: int, policy: StrategyPolicy
) -> Intention | None:
    """Apply the alert's own position rules to a buy or sell while a position is open; None
    where they say nothing, for the strategy's rules to decide.

    PickMyTrade's table of reverse_order_close and pyramid: against the position,
    ``reverse_close`` closes it and opens the signal's side; false, the order nets against the
    position. On the same side, ``pyramid`` adds; ``reverse_close`` without ``pyramid`` closes
    the position and opens afresh with the signal's own brackets; ``reverse_close`` false adds
    ("it would not close the trade") unless ``pyramid`` is false, which its vendor describes as
    "no stacking": then, as with nothing said, the strategy's ``allow_add`` decides.
    ``ignore_same_direction`` refuses a same-side signal first. Adding stays the strategy's to
    allow: with ``allow_add`` off it is refused, as the safety rails would refuse it.
    """
    if current * wanted < 0:
        if rules.reverse_close is True:
            return _reversal(wanted)
        if rules.reverse_close is False:
            net = current + wanted
            # A net that leaves the position's side leaves its brackets nothing to protect.
            scope = CancelScope.EXITS if net * current <= 0 else CancelScope.NONE
            return Intention(net, scope, ClosePricing.ENTRY, note="net against the position")
        return None
    if rules.ignore_same_direction is True:
        raise Denial(
            DenialCode.SAME_DIRECTION_IGNORED,
            "a position is already open on this side and the alert says to ignore such signals "
            "(same_direction_ignore)",
        )
    adds = rules.pyramid is True or (rules.reverse_close is False and rules.pyramid is not False)
    if adds:
        if not policy.allow_add:
            raise _add_refused()
        return Intention(current + wanted, note="add")
    if rules.reverse_close is True:
        return _flatten_then_enter(wanted, "close, then enter afresh")
    return None


def _strategy_added(target: TargetPosition) -> bool:
    # Only the strategy's own previous position tells an add from a missed entry being healed.
    prev, size = target.prev_size, target.size
    return (
        target.prev_market_position is target.market_position
        and prev is not None
        and size is not None
        and prev < size
    )


def _toward_target(
    signal: Signal,
    target: TargetPosition,
    current: int,
    policy: StrategyPolicy,
    multiplier: Decimal,
) -> Intention:
    sign = _SIGN[target.market_position]
    if sign == 0:
        side = signal.side
        if target.from_sentiment and side is not None and current * side.sign > 0:
            # TradersPost's buy with sentiment flat exits a short only ("exit bearish only"),
            # a sell with it a long only: an order on the position's own side has nothing to
            # exit. TradingView's position fields say where the strategy is, and a flat
            # strategy heals whatever the account holds.
            return Intention(current, note=f"nothing to exit: a {side} exits only the other side")
        return Intention(0, CancelScope.ALL, note="target flat")
    if target.size is None:
        size = entry_size(signal, policy, multiplier)
        if current * sign > 0:
            if not policy.allow_add:
                raise _add_refused()
            return Intention(current + sign * size, note="add")
        wanted = sign * size
    else:
        wanted = sign * scale(target.size, multiplier)
        if wanted == 0:
            raise Denial(DenialCode.ZERO_QUANTITY, "the target rounds down to zero contracts")
        grows = current * sign > 0 and abs(wanted) > abs(current)
        if grows and _strategy_added(target) and not policy.allow_add:
            raise _add_refused()
    if current * sign < 0:
        return _against(policy, wanted)
    return Intention(wanted, note="to target")


def _reverse(
    signal: Signal, current: int, policy: StrategyPolicy, multiplier: Decimal
) -> Intention:
    if current == 0:
        if signal.side is None:
            raise Denial(DenialCode.NO_DIRECTION, "there is no position to reverse")
        return _enter(signal, current, policy, multiplier)
    size = abs(current) if signal.quantity is None else entry_size(signal, policy, multiplier)
    return _reversal(-_sign(current) * size)


def _exit_size(signal: Signal, current: int, multiplier: Decimal) -> int:
    quantity = signal.quantity
    if quantity is None or signal.intent is Intent.CLOSE:
        return abs(current)
    if signal.quantity_unit is QuantityUnit.CONTRACTS:
        size = scale(quantity, multiplier)
    elif signal.quantity_unit is QuantityUnit.PERCENT_OF_POSITION:
        size = scale(abs(current) * quantity / _HUNDRED, Decimal(1))
    else:
        raise _unsupported(signal.quantity_unit)
    if size == 0:
        raise Denial(DenialCode.ZERO_QUANTITY, "the exit quantity rounds down to zero contracts")
    return min(size, abs(current))


def _leave(signal: Signal, current: int, multiplier: Decimal) -> Intention:
    if signal.intent is Intent.FLAT:
        return Intention(0, CancelScope.ALL, ClosePricing.MARKET, note="flatten")
    if current == 0:
        return Intention(0, note="no position to exit")
    if signal.side is not None and signal.side.sign == _sign(current):
        return Intention(current, note="the position is on the other side; nothing to exit")
    size = _exit_size(signal, current, multiplier)
    target = current - _sign(current) * size
    scope = CancelScope.EXITS if target == 0 else CancelScope.NONE
    return Intention(target, scope, ClosePricing.EXIT, note="exit" if target == 0 else "reduce")
