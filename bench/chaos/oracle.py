"""Say where each account should end up, from the alerts alone: the chaos run's oracle.

A pure function of the alert sequence of one (account, instrument) and the strategy's rules,
written from the documented semantics rather than by calling the planner, so that a planner
bug shows up as a mismatch instead of being copied (a unit test replays random sequences
through both and asserts they agree). It covers what the chaos run sends: market orders,
whole contracts, no brackets, no flatten_first, no cooldown, trading window, loss limit, kill
switch or alert age. Market orders fill at once, so no order is ever working between
signals and every plan starts from the previous plan's ``position_after``.

Per signal, from position ``p`` (``shared.domain.planning``):

1. ``targets.decide``: the signed target ``t``, or a refusal. An entry opens
   ``floor(quantity x multiplier)`` (the strategy's default quantity when the alert gives
   none); against the position the opposite-signal rule applies (reverse: to the entry;
   exit_only: to flat; ignore: refused); on the same side it adds only with ``allow_add`` (or
   intent ``add``). A target position is the target itself, scaled; a direction without a size
   opens (or adds) the entry quantity. ``reverse`` flips to the alert's quantity, else the
   current size. ``exit`` closes the alert's quantity (at most the position), else all of it;
   ``close`` and ``flat`` close everything.
2. The risk gates (``shared.domain.risk``) judge the part that opens, ``opening = |t - p|``
   minus what closes: ``max_order_qty`` refuses ``opening > Q`` (closes are split into orders
   of at most ``Q``, so only the opening part can exceed it), ``max_position`` refuses
   ``|t| > M`` (no resting orders here). A refusal of a plan that also closes keeps the closing
   part: the position goes to flat (the reversal is "clamped").
3. The rails (``shared.domain.planning.rails``): with ``allow_add`` off (intent ``add`` aside)
   nothing opens on the side already held (``worst_case_add``: a target that grows a held
   position). The other rails never refuse what the gates passed here: with no working orders
   the worst case of a side is ``|t|``, which ``max_position`` already bounds, and an exit never
   opens.

PickMyTrade's position rules (``AlertSpec.rules``: reverse_order_close, pyramid,
same_direction_ignore; docs/alerts/pickmytrade.md), on a buy or sell while a position is open:
against it, reverse_order_close true reverses to the entry, false nets the order against the
position; on the same side, same_direction_ignore true refuses (``same_direction_ignored``),
pyramid true (or reverse_order_close false, unless pyramid is false) adds, with ``allow_add``
only; reverse_order_close true without pyramid closes the position and enters afresh: the
whole position closes and the entry opens, so the gates see the entry as the opening part and
no add is involved. A rule left out (None) is the strategy's.

Outcome per signal and account: ``done`` (orders sent, or nothing to do) or ``denied`` with
the denial code; the position after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

Intent = Literal["buy", "sell", "add", "exit", "close", "flat", "reverse"]
Position = Literal["long", "short", "flat"]
Opposite = Literal["reverse", "exit_only", "ignore"]

_SIGN = {"long": 1, "short": -1, "flat": 0}
_SIDE = {"buy": 1, "sell": -1}
REDUCING: frozenset[str] = frozenset({"exit", "close", "flat"})


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """What one alert asks for, in the oracle's own terms (rendered to a body elsewhere).

    ``side`` is the side of an ``add`` or a ``reverse`` from flat (None: the position's own);
    ``position`` with ``size`` is a target position (``size`` None: a direction only, as
    TradersPost's ``sentiment``); ``qty`` is the alert's quantity in contracts;
    ``traderspost`` says the alert goes out in TradersPost's format: its ``sentiment`` flat
    exits only the side the order closes (a buy exits a short), where TradingView's
    ``market_position`` flat takes any position to flat, and its ``add`` needs an open
    position. ``rules`` are PickMyTrade's (reverse_order_close, pyramid,
    same_direction_ignore; None each: not said), carried only by its format.
    """

    intent: Intent
    qty: int | None = None
    side: Literal["buy", "sell"] | None = None
    position: Position | None = None
    size: int | None = None
    traderspost: bool = False
    rules: tuple[bool | None, bool | None, bool | None] | None = None

    @property
    def reducing(self) -> bool:
        """Tell whether the alert may only reduce a position (an exit, close, flat or flat
        target): none of its fills may add exposure."""
        return self.intent in REDUCING or self.position == "flat"


@dataclass(frozen=True, slots=True)
class Rules:
    """One strategy's rules for one account, as the strategy file sets them."""

    multiplier: Decimal = Decimal(1)
    allow_add: bool = False
    opposite: Opposite = "exit_only"
    max_position: int | None = None
    max_order_qty: int | None = None
    default_qty: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one signal on one account and the position after it."""

    position: int
    outcome: Literal["done", "denied"]
    code: str | None = None
    clamped: bool = False  # the opening part was refused, the closing part kept


class Denied(Exception):  # control flow inside this module only
    """A signal refused before any order; ``code`` is the planner's denial code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _sgn(value: int) -> int:
    return (value > 0) - (value < 0)


def _scaled(quantity: Decimal, rules: Rules) -> int:
    return int((quantity * rules.multiplier).to_integral_value(rounding=ROUND_FLOOR))


def _entry_size(qty: int | None, rules: Rules) -> int:
    size = _scaled(rules.default_qty if qty is None else Decimal(qty), rules)
    if size == 0:
        raise Denied("zero_quantity")
    return size


def _against(rules: Rules, wanted: int) -> int:
    if rules.opposite == "reverse":
        return wanted
    if rules.opposite == "exit_only":
        return 0
    raise Denied("opposite_signal_ignored")


def _toward_target(p: int, spec: AlertSpec, rules: Rules) -> int:
    sign = _SIGN[spec.position or "flat"]
    if sign == 0:
        order = _SIDE.get(spec.intent, 0)
        return p if spec.traderspost and p * order > 0 else 0
    if spec.size is None:
        size = _entry_size(spec.qty, rules)
        if p * sign > 0:
            if not rules.allow_add:
                raise Denied("add_not_allowed")
            return p + sign * size
        wanted = sign * size
    else:
        wanted = sign * _scaled(Decimal(spec.size), rules)
        if wanted == 0:
            raise Denied("zero_quantity")
    return _against(rules, wanted) if p * sign < 0 else wanted


def _afresh(p: int, spec: AlertSpec) -> bool:
    """Tell whether the alert closes a same-side position and enters afresh (PickMyTrade's
    reverse_order_close true without pyramid)."""
    if spec.rules is None or p == 0 or spec.intent not in _SIDE:
        return False
    reverse, pyramid, ignore = spec.rules
    return p * _SIDE[spec.intent] > 0 and reverse is True and pyramid is not True and not ignore


def _by_rules(p: int, sign: int, size: int, spec: AlertSpec, rules: Rules) -> int | None:
    assert spec.rules is not None
    reverse, pyramid, ignore = spec.rules
    if p * sign < 0:
        if reverse is None:
            return None
        return sign * size if reverse else p + sign * size
    if ignore:
        raise Denied("same_direction_ignored")
    if pyramid is True or (reverse is False and pyramid is not False):
        if not rules.allow_add:
            raise Denied("add_not_allowed")
        return p + sign * size
    return sign * size if reverse is True else None


def _enter(p: int, spec: AlertSpec, rules: Rules) -> int:
    side = spec.intent if spec.intent in _SIDE else spec.side
    sign = _SIDE[side] if side is not None else _sgn(p)
    if sign == 0:
        raise Denied("no_direction")
    size = _entry_size(spec.qty, rules)
    if spec.rules is not None and p != 0 and spec.intent in _SIDE:
        decided = _by_rules(p, sign, size, spec, rules)
        if decided is not None:
            return decided
    if p * sign < 0:
        return _against(rules, sign * size)
    if p != 0 and not (rules.allow_add or spec.intent == "add"):
        raise Denied("add_not_allowed")
    return p + sign * size


def _reverse(p: int, spec: AlertSpec, rules: Rules) -> int:
    if p == 0:
        if spec.side is None:
            raise Denied("no_direction")
        return _enter(p, spec, rules)
    size = abs(p) if spec.qty is None else _entry_size(spec.qty, rules)
    return -_sgn(p) * size


def _leave(p: int, spec: AlertSpec, rules: Rules) -> int:
    if spec.intent == "flat" or p == 0:
        return 0
    if spec.qty is None or spec.intent == "close":
        return 0
    size = _scaled(Decimal(spec.qty), rules)
    if size == 0:
        raise Denied("zero_quantity")
    return p - _sgn(p) * min(size, abs(p))


def decide(p: int, spec: AlertSpec, rules: Rules) -> int:
    """Return the signed position ``spec`` wants on an account holding ``p``, or raise
    ``Denied`` (``shared.domain.planning.targets.decide``, after the planner's check of the
    positions an alert requires)."""
    if spec.traderspost and spec.intent == "add" and p == 0:
        raise Denied("position_requirement_unmet")  # TradersPost: an add needs a position
    if spec.position is not None:
        return _toward_target(p, spec, rules)
    if spec.intent in ("buy", "sell", "add"):
        return _enter(p, spec, rules)
    if spec.intent == "reverse":
        return _reverse(p, spec, rules)
    return _leave(p, spec, rules)


def _gate(target: int, opening: int, rules: Rules) -> str | None:
    if rules.max_order_qty is not None and opening > rules.max_order_qty:
        return "max_order_qty"
    if rules.max_position is not None and abs(target) > rules.max_position:
        return "max_position"
    return None


def step(p: int, spec: AlertSpec, rules: Rules) -> Step:
    """Return what one signal does to an account holding ``p``."""
    try:
        target = decide(p, spec, rules)
    except Denied as denied:
        return Step(p, "denied", denied.code)
    afresh = _afresh(p, spec)
    delta = target - p
    if delta == 0 and not afresh:
        return Step(p, "done")
    if afresh:  # the whole position closes, then the entry opens
        closing, opening = abs(p), abs(target)
    else:
        closing = min(abs(delta), abs(p)) if p * delta < 0 else 0
        opening = abs(delta) - closing
    refused = _gate(target, opening, rules) if opening else None
    if refused is not None:
        if not closing:
            return Step(p, "denied", refused)
        return Step(0, "done", clamped=True)
    grows_held = opening > 0 and p * delta > 0 and not afresh
    if grows_held and not rules.allow_add and spec.intent != "add":
        return Step(p, "denied", "worst_case_add")
    return Step(target, "done")


def replay(specs: Iterable[AlertSpec], rules: Rules, start: int = 0) -> list[Step]:
    """Return every signal's step, in order, from a starting position."""
    steps: list[Step] = []
    position = start
    for spec in specs:
        outcome = step(position, spec, rules)
        steps.append(outcome)
        position = outcome.position
    return steps
