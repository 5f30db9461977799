"""Let a strategy's position placeholders decide what its alert means.

TradingView strategies can put the position they hold *after* the order in the alert
(``{{strategy.market_position}}``, ``{{strategy.market_position_size}}``, the signed
``{{strategy.position_size}}``, and the previous ones; tradingview.md §3.1), and TradersPost's
``sentiment`` says the same in one word. Every reader that can meet these fields passes them
through :func:`read_placeholders` and the action through :func:`resolve`, so that one rule
decides, whatever the format:

* ``buy``/``sell`` that ends **flat**: an exit to flat on the closing side (a ``sell`` that
  ends flat closes a long; it never opens a short);
* ``buy``/``sell`` that ends on **its own side**: an entry toward that target, and from the
  other side before it a **reversal**;
* ``buy``/``sell`` that ends on **the other side**: a partial exit (a ``sell`` after which the
  strategy is still long), toward the size after it when known, else by the alert's quantity;
* ``exit``/``close``/``flat``: an exit; a position still open after it must be on the side left;
* ``reverse``: a reversal to the side after it.

Fields that contradict the action are refused with ``conflicting_position`` (a ``buy`` after
which the strategy is flat though it was long, a ``sell`` from flat that ends long, an exit
that ends on the other side), and fields that contradict each other (``long`` with a negative
signed size, ``sentiment`` against ``market_position``) with ``invalid_target_position``.

An exit read this way carries no bracket: there is nothing left to protect, and a strategy's
one alert template sends its take profit with every order. The bracket fields it ignored are
named in the journal (extras ``ignored_on_exit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NoReturn

from shared.domain.alerts.coerce import fail, to_choice, to_decimal
from shared.domain.alerts.fields import Fields
from shared.domain.signal import Intent, MarketPosition, Side, TargetPosition

CONFLICT = "conflicting_position"
INCONSISTENT = "invalid_target_position"

MARKET_POSITIONS: dict[str, MarketPosition] = {
    "long": MarketPosition.LONG,
    "bullish": MarketPosition.LONG,
    "short": MarketPosition.SHORT,
    "bearish": MarketPosition.SHORT,
    "flat": MarketPosition.FLAT,
}
_SIGN = {MarketPosition.LONG: 1, MarketPosition.SHORT: -1, MarketPosition.FLAT: 0}
_SIDE_OF_SIGN = {1: Side.BUY, -1: Side.SELL}


@dataclass(frozen=True, slots=True)
class Names:
    """Spell the placeholder fields one format uses, each as its aliases."""

    position: tuple[str, ...] = ("market_position", "marketPosition")
    signed_size: tuple[str, ...] = ("position_size", "positionSize")
    size: tuple[str, ...] = ("market_position_size", "marketPositionSize")
    prev_position: tuple[str, ...] = ("prev_market_position", "prevMarketPosition")
    prev_size: tuple[str, ...] = (
        "prev_market_position_size",
        "prevMarketPositionSize",
        "prev_position_size",
        "prevPositionSize",
    )
    sentiment: tuple[str, ...] = ()


# The tolerant JSON formats also take the bare "position" of open-source bridges
# (tradingview.md §1.6) and TradersPost's "sentiment" (a simple shape may carry it too).
JSON_NAMES = Names(
    position=("market_position", "marketPosition", "position"), sentiment=("sentiment",)
)
TRADERSPOST_NAMES = JSON_NAMES
NATIVE_NAMES = Names(
    position=("market_position",),
    signed_size=("position_size",),
    size=("market_position_size",),
    prev_position=("prev_market_position",),
    prev_size=("prev_position_size", "prev_market_position_size"),
)
# CrossTrade's sync_strategy sends target_quantity={{strategy.pos...}} (its docs, cut there:
# docs/reference/alert-vendors.md §4), read like position_size: signed or unsigned.
CROSSTRADE_NAMES = Names(
    position=("market_position",),
    signed_size=("target_quantity", "position_size"),
    size=("market_position_size",),
    prev_position=("prev_market_position",),
    prev_size=("prev_market_position_size", "prev_position_size"),
)


@dataclass(frozen=True, slots=True)
class Placeholders:
    """Hold the position after the alert (and before it) as the alert states it."""

    position: MarketPosition | None = None
    size: Decimal | None = None
    prev: MarketPosition | None = None
    prev_size: Decimal | None = None
    from_sentiment: bool = False
    field: str = "market_position"

    @property
    def after(self) -> int:
        """Return the sign of the position after the alert (0 for flat or not stated)."""
        return 0 if self.position is None else _SIGN[self.position]

    @property
    def given(self) -> bool:
        """Tell whether the alert states the position after it."""
        return self.position is not None

    def target(self) -> TargetPosition:
        """Return the stated position as the signal's target (flat when none is stated)."""
        return TargetPosition(
            self.position or MarketPosition.FLAT,
            self.size,
            prev_market_position=self.prev,
            prev_size=self.prev_size,
            from_sentiment=self.from_sentiment,
        )


def read_placeholders(f: Fields, names: Names = JSON_NAMES) -> Placeholders:
    """Take the position fields ``names`` spells from ``f``; refuse them when they disagree."""
    position, position_field = _read_position(f, names.position)
    sentiment, sentiment_field = _read_position(f, names.sentiment)
    if position is not None and sentiment is not None and position is not sentiment:
        _inconsistent(
            f"{sentiment_field} {sentiment} contradicts {position_field} {position}",
            sentiment_field,
        )
    field = position_field if position is not None or not sentiment_field else sentiment_field
    stated, size = _with_size(f, names, position or sentiment, field)
    prev, prev_size = _previous(f, names)
    from_sentiment = sentiment is not None and position is None
    return Placeholders(stated, size, prev, prev_size, from_sentiment, field)


def _read_position(f: Fields, aliases: tuple[str, ...]) -> tuple[MarketPosition | None, str]:
    if not aliases:
        return None, ""
    value, name = f.get_named(*aliases)
    return (None if value is None else to_choice(value, name, MARKET_POSITIONS)), name


def _sizes(f: Fields, names: Names) -> tuple[Decimal | None, Decimal | None, str]:
    """Return the signed size, the unsigned size and the field to blame for them."""
    raw_signed, signed_field = f.get_named(*names.signed_size)
    raw_size, size_field = f.get_named(*names.size)
    signed = None if raw_signed is None else to_decimal(raw_signed, signed_field)
    size = None if raw_size is None else to_decimal(raw_size, size_field)
    if size is not None and size < 0:
        _inconsistent(f"{size_field} is a size and cannot be negative", size_field)
    if signed is not None and size is not None and abs(signed) != size:
        _inconsistent(f"{signed_field} {signed} and {size_field} {size} disagree", size_field)
    return signed, size, signed_field if raw_signed is not None else size_field


def _with_size(
    f: Fields, names: Names, stated: MarketPosition | None, field: str
) -> tuple[MarketPosition | None, Decimal | None]:
    signed, size, size_field = _sizes(f, names)
    # position_size may be {{strategy.position_size}} (signed) or an unsigned size: a negative
    # one says short, a positive one says long only when no position names the side.
    if signed is not None and signed < 0:
        if stated not in (None, MarketPosition.SHORT):
            _inconsistent(f"{field} {stated} contradicts {size_field} {signed}", size_field)
        stated = MarketPosition.SHORT
    elif signed is not None and signed > 0 and stated is None:
        stated = MarketPosition.LONG
    amount = size if size is not None else (None if signed is None else abs(signed))
    if amount is None:
        return stated, Decimal(0) if stated is MarketPosition.FLAT else None
    if stated is None:
        if amount != 0:
            # An unsigned size without a side cannot say which way the strategy stands.
            _inconsistent(f"{size_field} needs {field} to say long or short", size_field)
        stated = MarketPosition.FLAT
    if (stated is MarketPosition.FLAT) != (amount == 0):
        _inconsistent(f"{field} {stated} contradicts {size_field} {amount}", size_field)
    return stated, amount


def _previous(f: Fields, names: Names) -> tuple[MarketPosition | None, Decimal | None]:
    prev, prev_field = _read_position(f, names.prev_position)
    raw_size, size_field = f.get_named(*names.prev_size)
    size = None if raw_size is None else to_decimal(raw_size, size_field)
    if size is not None and size < 0:
        # {{strategy.prev_market_position_size}} is unsigned; a signed one must match the side.
        if prev not in (None, MarketPosition.SHORT):
            _inconsistent(f"{prev_field} {prev} contradicts {size_field} {size}", size_field)
        prev, size = MarketPosition.SHORT, -size
    if prev is not None and size is not None and (prev is MarketPosition.FLAT) != (size == 0):
        _inconsistent(f"{prev_field} {prev} contradicts {size_field} {size}", size_field)
    return prev, size


def _inconsistent(message: str, field: str = "market_position") -> NoReturn:
    fail(message, INCONSISTENT, field)


def _conflict(message: str, field: str) -> NoReturn:
    fail(message, CONFLICT, field)


@dataclass(frozen=True, slots=True)
class Reading:
    """Say what an alert means once its position fields are taken into account."""

    intent: Intent
    side: Side | None
    target: TargetPosition | None
    exits: bool  # the position fields make it an exit: its bracket fields are not used
    needs_quantity: bool = False  # a partial exit whose size only the alert's quantity gives

    def check_quantity(self, p: Placeholders, quantity: object | None, field: str) -> None:
        """Refuse a partial exit whose size neither the position fields nor the alert give.

        TradersPost's sentiment is the exception: ``bullish`` means "long or flat" after the
        trade, so an exit without a quantity closes everything, as TradersPost does.
        """
        if self.needs_quantity and quantity is None and not p.from_sentiment:
            fail(
                f"the strategy stays {p.position} after this exit: send the quantity to exit "
                "or the position size after it",
                "missing_field",
                field,
            )


def resolve(intent: Intent, side: Side | None, p: Placeholders) -> Reading:
    """Return what ``intent`` (and its order ``side``) mean given the stated positions ``p``.

    Without a stated position after the alert the action stands as written.
    """
    if not p.given or intent is Intent.CANCEL:
        return Reading(intent, side, None, exits=False)
    if intent in (Intent.BUY, Intent.SELL, Intent.ADD):
        direction = _direction(intent, side)
        if direction is None:  # ADD without a side: the position after names it
            direction = p.after
        if direction == 0:
            _conflict("add needs a side or a position after it that is long or short", p.field)
        return _ordered(intent, direction, p, side)
    if intent is Intent.REVERSE:
        return _reversal(side, p)
    return _leaving(intent, side, p)


def _direction(intent: Intent, side: Side | None) -> int | None:
    if intent is Intent.BUY:
        return 1
    if intent is Intent.SELL:
        return -1
    return None if side is None else side.sign


def _ordered(intent: Intent, direction: int, p: Placeholders, given: Side | None) -> Reading:
    after = p.after
    word = "buy" if direction > 0 else "sell"
    side = _SIDE_OF_SIGN[direction]
    if after == 0:
        if intent is Intent.ADD:
            _conflict("an add cannot leave the strategy flat", p.field)
        if p.prev is not None and _SIGN[p.prev] == direction:
            _conflict(f"a {word} cannot take a {p.prev} strategy to flat", p.field)
        return Reading(Intent.EXIT, side, p.target(), exits=True)
    if after == direction:
        return _entry(intent, side, given, p)
    # The strategy still holds the side this order trades against: a partial exit.
    if intent is Intent.ADD:
        _conflict(f"an add on the {word} side cannot leave the strategy {p.position}", p.field)
    _require_prev_same(p, word)
    sized = p.size is not None
    return Reading(Intent.EXIT, side, p.target() if sized else None, True, not sized)


def _entry(intent: Intent, side: Side, given: Side | None, p: Placeholders) -> Reading:
    word = "buy" if side is Side.BUY else "sell"
    prev = None if p.prev is None else _SIGN[p.prev]
    after = p.after
    if prev == -after:
        if intent is Intent.ADD:
            _conflict(f"an add cannot turn a {p.prev} strategy {p.position}", p.field)
        return Reading(Intent.REVERSE, side, p.target(), exits=False)
    grown = p.size is None or p.prev_size is None or p.size > p.prev_size
    if prev == after and not grown:
        _conflict(
            f"a {word} cannot take the strategy from {p.prev} {p.prev_size} "
            f"to {p.position} {p.size}",
            p.field,
        )
    # An entry keeps the side as the alert wrote it (an add needs one: the order's).
    return Reading(intent, side if intent is Intent.ADD else given, p.target(), exits=False)


def _require_prev_same(p: Placeholders, word: str) -> None:
    if p.prev is not None and p.prev is not p.position:
        _conflict(f"a {word} cannot take a {p.prev} strategy to {p.position}", p.field)
    if p.size is not None and p.prev_size is not None and p.size >= p.prev_size:
        _conflict(
            f"a {word} cannot grow a {p.position} position from {p.prev_size} to {p.size}",
            p.field,
        )


def _reversal(side: Side | None, p: Placeholders) -> Reading:
    after = p.after
    if after == 0:
        _conflict("a reversal cannot leave the strategy flat", p.field)
    if side is not None and side.sign != after:
        _conflict(f"a reversal to {p.position} cannot be a {side}", p.field)
    if p.prev is not None and _SIGN[p.prev] == after:
        _conflict(f"a reversal cannot go from {p.prev} to {p.position}", p.field)
    return Reading(Intent.REVERSE, _SIDE_OF_SIGN[after], p.target(), exits=False)


def _leaving(intent: Intent, side: Side | None, p: Placeholders) -> Reading:
    after = p.after
    if p.prev is not None and side is not None and _SIGN[p.prev] == side.sign:
        _conflict(f"an exit on the {side} side cannot leave a {p.prev} position", p.field)
    if after == 0:
        return Reading(intent, side, p.target(), exits=True)
    if intent is not Intent.EXIT:
        _conflict(f"{intent} leaves no position, but the alert says {p.position}", p.field)
    if side is not None and side.sign == after:
        _conflict(f"an exit on the {side} side cannot leave the strategy {p.position}", p.field)
    _require_prev_same(p, "exit")
    sized = p.size is not None
    closing = _SIDE_OF_SIGN[-after]
    return Reading(intent, closing, p.target() if sized else None, True, not sized)


def ignored_on_exit(brackets: Mapping[str, object]) -> dict[str, str]:
    """Return the journal note naming the bracket fields an exit did not use (none: empty)."""
    names = sorted(name for name, value in brackets.items() if value is not None)
    return {"ignored_on_exit": ",".join(names)} if names else {}
