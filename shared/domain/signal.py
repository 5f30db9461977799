"""Model one normalised alert: the immutable ``Signal`` every reader builds and the planner reads.

A field left at ``None`` means "the alert did not say": the strategy's defaults apply. Intents:

=========  ==================================================================================
buy/sell   open or add in that direction (opposite position: the strategy's opposite-signal rule)
exit       leave the position, by ``quantity`` when given, otherwise entirely
close      close the whole position and cancel its brackets (PickMyTrade ``close``)
flat       close the position and cancel every working order on the instrument
cancel     cancel working orders on the instrument; positions stay
reverse    flip the position to the other side in one order
add        add to the position even when the strategy does not allow adding
=========  ==================================================================================

``side`` is the side of the order the alert names: for buy/sell it equals the intent, for an exit
the closing side (sell leaves a long). ``target`` is the strategy's intended position after this
signal when the alert carries it; the planner then trades the difference to the broker position.
Bracket distances are magnitudes: the side of entry they apply to follows from the order side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import NoReturn, TypeAlias

# One vocabulary for sides and lifetimes: the alert's words are the broker's.
from shared.domain.broker import Side as Side
from shared.domain.broker import TimeInForce as TimeInForce
from shared.domain.errors import InvalidSignal
from shared.domain.symbols import SymbolRef

JsonValue: TypeAlias = (
    "str | Decimal | bool | tuple[JsonValue, ...] | Mapping[str, JsonValue] | None"
)

_MAX_ALERT_ID_CHARS = 128
_HUNDRED = Decimal(100)


class Intent(StrEnum):
    """Name what the alert asks for (see the module docstring for each meaning)."""

    BUY = "buy"
    SELL = "sell"
    EXIT = "exit"
    CLOSE = "close"
    FLAT = "flat"
    CANCEL = "cancel"
    REVERSE = "reverse"
    ADD = "add"


class MarketPosition(StrEnum):
    """Name a position's direction, as TradingView's ``strategy.market_position`` does."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class OrderType(StrEnum):
    """Name the entry order type."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class QuantityUnit(StrEnum):
    """Name what ``quantity`` counts; futures execution supports contracts first."""

    CONTRACTS = "contracts"
    PERCENT_OF_EQUITY = "percent_of_equity"
    PERCENT_OF_POSITION = "percent_of_position"
    DOLLAR_AMOUNT = "dollar_amount"
    RISK_DOLLARS = "risk_dollars"
    RISK_PERCENT = "risk_percent"


class PriceUnit(StrEnum):
    """Name how a bracket level is given.

    ``price`` is an absolute level; the others are distances from the entry: ``points`` in price
    units, ``ticks`` in the contract's tick size, ``percent`` of the entry price, ``dollars`` of
    profit or loss per contract (converted with the contract's value per point).
    """

    PRICE = "price"
    TICKS = "ticks"
    POINTS = "points"
    PERCENT = "percent"
    DOLLARS = "dollars"


def _invalid(message: str, code: str, field_name: str) -> NoReturn:
    raise InvalidSignal(message, code=code, field=field_name)


def _check_positive(value: Decimal | None, field_name: str) -> None:
    if value is not None and not value > 0:
        _invalid(f"{field_name} must be greater than zero", "non_positive_value", field_name)


def _is_whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


@dataclass(frozen=True, slots=True)
class PriceSpec:
    """Give a price level or a distance from entry in one unit (40 ticks, 1.5 percent, 5310.25)."""

    value: Decimal
    unit: PriceUnit

    def __post_init__(self) -> None:
        _check_positive(self.value, "value")
        if self.unit is PriceUnit.PERCENT and self.value >= _HUNDRED:
            _invalid("a percent distance must be below 100", "invalid_percent", "value")

    @property
    def is_price(self) -> bool:
        """Tell whether this is an absolute price rather than a distance."""
        return self.unit is PriceUnit.PRICE


def _require_distance(spec: PriceSpec | None, field_name: str) -> None:
    if spec is not None and spec.is_price:
        _invalid(f"{field_name} must be a distance, not a price", "invalid_unit", field_name)


@dataclass(frozen=True, slots=True)
class TrailingStop:
    """Trail a stop ``distance`` behind the best price, optionally once ``trigger`` is in profit."""

    distance: PriceSpec
    trigger: PriceSpec | None = None
    step: PriceSpec | None = None

    def __post_init__(self) -> None:
        _require_distance(self.distance, "trailing_stop.distance")
        _require_distance(self.trigger, "trailing_stop.trigger")
        _require_distance(self.step, "trailing_stop.step")


@dataclass(frozen=True, slots=True)
class Breakeven:
    """Move the stop to entry (plus ``offset``) once price has moved ``trigger`` in favour."""

    trigger: PriceSpec
    offset: PriceSpec | None = None

    def __post_init__(self) -> None:
        _require_distance(self.offset, "breakeven.offset")


@dataclass(frozen=True, slots=True)
class BracketLeg:
    """Attach exits to ``quantity`` contracts of the entry (all of it when None).

    ``stop_limit`` makes the stop loss a stop-limit order with this limit (price or distance
    beyond the stop). Several legs split the entry quantity across targets.
    """

    quantity: Decimal | None = None
    take_profit: PriceSpec | None = None
    stop_loss: PriceSpec | None = None
    stop_limit: PriceSpec | None = None
    trailing_stop: TrailingStop | None = None
    breakeven: Breakeven | None = None

    def __post_init__(self) -> None:
        if self.quantity is not None:
            _check_positive(self.quantity, "brackets.quantity")
            if not _is_whole(self.quantity):
                _invalid(
                    "a bracket leg quantity must be whole contracts",
                    "fractional_quantity",
                    "brackets.quantity",
                )
        parts = (self.take_profit, self.stop_loss, self.trailing_stop, self.breakeven)
        if all(part is None for part in parts):
            _invalid(
                "a bracket leg needs a take profit, stop loss, trailing stop or breakeven",
                "empty_bracket",
                "brackets",
            )
        if self.stop_limit is not None and self.stop_loss is None:
            _invalid("stop_limit needs a stop_loss", "stop_limit_without_stop", "stop_limit")


@dataclass(frozen=True, slots=True)
class TargetPosition:
    """State the strategy's intended position after the signal (size in contracts, unsigned).

    ``size`` is None when only the direction is known (TradersPost ``sentiment``).
    """

    market_position: MarketPosition
    size: Decimal | None = None
    prev_market_position: MarketPosition | None = None
    prev_size: Decimal | None = None
    from_sentiment: bool = False

    def __post_init__(self) -> None:
        for name, size in (("position_size", self.size), ("prev_position_size", self.prev_size)):
            if size is not None and size < 0:
                _invalid(f"{name} must be unsigned here", "invalid_target_position", name)
        flat = self.market_position is MarketPosition.FLAT
        if self.size is not None and (self.size == 0) != flat:
            _invalid(
                f"market_position {self.market_position} contradicts position size {self.size}",
                "invalid_target_position",
                "position_size",
            )


@dataclass(frozen=True, slots=True)
class AccountSelector:
    """Pick one of the strategy's accounts by name or id, optionally rescaling its quantity."""

    account: str
    quantity_multiplier: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.account or len(self.account) > 64:
            _invalid("account must be 1-64 characters", "invalid_account", "accounts")
        _check_positive(self.quantity_multiplier, "accounts.quantity_multiplier")


@dataclass(frozen=True, slots=True)
class PositionRules:
    """The alert's own rules for a buy or sell on an account that holds a position
    (PickMyTrade's ``reverse_order_close``, ``pyramid`` and ``same_direction_ignore``).

    None leaves a rule to the strategy. ``reverse_close``: true, a signal against the position
    closes it and opens its own side (a same-side one, without ``pyramid``, closes the
    position and opens afresh); false, a signal nets against the position. ``pyramid``: true, a
    same-side signal adds. ``ignore_same_direction``: true, a same-side signal is refused.
    """

    reverse_close: bool | None = None
    pyramid: bool | None = None
    ignore_same_direction: bool | None = None


_ENTRY_INTENTS = frozenset({Intent.BUY, Intent.SELL, Intent.ADD, Intent.REVERSE})


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """Hold one alert, normalised and validated; immutable so every consumer sees the same."""

    source: str
    intent: Intent
    symbol: SymbolRef
    side: Side | None = None
    quantity: Decimal | None = None
    quantity_unit: QuantityUnit = QuantityUnit.CONTRACTS
    order_type: OrderType | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: PriceSpec | None = None
    time_in_force: TimeInForce | None = None
    expires_after_s: int | None = None
    signal_price: Decimal | None = None
    brackets: tuple[BracketLeg, ...] = ()
    target: TargetPosition | None = None
    required_positions: tuple[MarketPosition, ...] = ()
    flatten_first: bool = False
    cancel_first: bool | None = None
    position_rules: PositionRules | None = None
    bypass_windows: bool = False  # the alert passes the strategy's trading windows
    accounts: tuple[AccountSelector, ...] = ()
    tv_time: datetime | None = None
    bar_time: datetime | None = None
    alert_id: str | None = None
    strategy: str | None = None
    extras: Mapping[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))
        _check_side(self)
        _check_quantity(self)
        _check_order(self)
        _check_brackets(self)
        _check_context(self)

    @property
    def direction(self) -> Side | None:
        """Return the order side the alert implies, or None when only the position can tell."""
        if self.intent is Intent.BUY:
            return Side.BUY
        if self.intent is Intent.SELL:
            return Side.SELL
        return self.side

    @property
    def entry_price(self) -> Decimal | None:
        """Return the price the entry should fill near: its limit or stop, else the alert price."""
        if self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            return self.limit_price
        if self.order_type is OrderType.STOP:
            return self.stop_price
        return self.signal_price

    @property
    def is_entry(self) -> bool:
        """Tell whether the signal may open or grow a position (and so carry brackets)."""
        return self.intent in _ENTRY_INTENTS


def _check_side(signal: Signal) -> None:
    intent_side = {Intent.BUY: Side.BUY, Intent.SELL: Side.SELL}.get(signal.intent)
    if signal.side is not None and intent_side is not None and signal.side is not intent_side:
        _invalid(
            f"side {signal.side} contradicts intent {signal.intent}", "conflicting_side", "side"
        )


def _check_quantity(signal: Signal) -> None:
    if signal.quantity is None:
        return
    _check_positive(signal.quantity, "quantity")
    if signal.quantity_unit is QuantityUnit.CONTRACTS and not _is_whole(signal.quantity):
        _invalid("quantity must be whole contracts", "fractional_quantity", "quantity")
    percent_units = (
        QuantityUnit.PERCENT_OF_EQUITY,
        QuantityUnit.PERCENT_OF_POSITION,
        QuantityUnit.RISK_PERCENT,
    )
    if signal.quantity_unit in percent_units and signal.quantity > _HUNDRED:
        _invalid("a percent quantity must be at most 100", "invalid_percent", "quantity")


_NEEDS_LIMIT = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_NEEDS_STOP = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


def _check_order(signal: Signal) -> None:
    for name in ("limit_price", "stop_price", "signal_price"):
        _check_positive(getattr(signal, name), name)
    kind = signal.order_type
    if kind in _NEEDS_LIMIT and signal.limit_price is None:
        _invalid(f"a {kind} order needs limit_price", "missing_limit_price", "limit_price")
    if kind in _NEEDS_STOP and signal.stop_price is None:
        _invalid(f"a {kind} order needs stop_price", "missing_stop_price", "stop_price")
    if kind is OrderType.TRAILING_STOP and signal.trail is None:
        _invalid("a trailing_stop order needs a trail distance", "missing_trail", "trail")
    if signal.limit_price is not None and kind not in _NEEDS_LIMIT:
        _invalid(
            f"limit_price does not apply to a {kind or 'default'} order",
            "price_not_allowed",
            "limit_price",
        )
    if signal.stop_price is not None and kind not in _NEEDS_STOP | {OrderType.TRAILING_STOP}:
        _invalid(
            f"stop_price does not apply to a {kind or 'default'} order",
            "price_not_allowed",
            "stop_price",
        )
    if signal.trail is not None and kind is not OrderType.TRAILING_STOP:
        _invalid("trail applies only to a trailing_stop order", "price_not_allowed", "trail")
    _require_distance(signal.trail, "trail")
    if (signal.time_in_force is TimeInForce.GTD) != (signal.expires_after_s is not None):
        _invalid(
            "time_in_force gtd and expires_after_s go together",
            "invalid_time_in_force",
            "time_in_force",
        )
    if signal.expires_after_s is not None and signal.expires_after_s <= 0:
        _invalid("expires_after_s must be positive", "non_positive_value", "expires_after_s")


def _check_brackets(signal: Signal) -> None:
    legs = signal.brackets
    if not legs:
        return
    if not signal.is_entry:
        _invalid(
            f"brackets do not apply to a {signal.intent} signal", "brackets_not_allowed", "brackets"
        )
    if len(legs) > 1 and any(leg.quantity is None for leg in legs):
        _invalid(
            "each of several bracket legs needs a quantity", "bracket_quantity_required", "brackets"
        )
    total = sum((leg.quantity for leg in legs if leg.quantity is not None), Decimal(0))
    all_sized = all(leg.quantity is not None for leg in legs)
    contracts = signal.quantity_unit is QuantityUnit.CONTRACTS
    if all_sized and contracts and signal.quantity is not None and total != signal.quantity:
        _invalid(
            f"bracket legs add up to {total}, not the quantity {signal.quantity}",
            "bracket_quantity_mismatch",
            "brackets",
        )
    side = signal.direction
    if side is not None:
        for index, leg in enumerate(legs):
            _check_leg_side(leg, index, side, signal.entry_price)


def _check_leg_side(leg: BracketLeg, index: int, side: Side, entry: Decimal | None) -> None:
    sign = side.sign
    take = leg.take_profit.value if leg.take_profit and leg.take_profit.is_price else None
    stop = leg.stop_loss.value if leg.stop_loss and leg.stop_loss.is_price else None
    where = f"brackets[{index}]"
    if entry is not None and take is not None and (take - entry) * sign <= 0:
        _invalid(
            f"take profit {take} is on the wrong side of entry {entry} for a {side}",
            "bracket_wrong_side",
            f"{where}.take_profit",
        )
    if entry is not None and stop is not None and (entry - stop) * sign <= 0:
        _invalid(
            f"stop loss {stop} is on the wrong side of entry {entry} for a {side}",
            "bracket_wrong_side",
            f"{where}.stop_loss",
        )
    if take is not None and stop is not None and (take - stop) * sign <= 0:
        _invalid(
            f"take profit {take} and stop loss {stop} are inverted for a {side}",
            "bracket_wrong_side",
            f"{where}.stop_loss",
        )


def _check_context(signal: Signal) -> None:
    for name in ("tv_time", "bar_time"):
        moment: datetime | None = getattr(signal, name)
        if moment is not None and moment.utcoffset() is None:
            _invalid(f"{name} must carry a time zone", "naive_time", name)
    if signal.alert_id is not None and not 0 < len(signal.alert_id) <= _MAX_ALERT_ID_CHARS:
        _invalid("alert_id must be 1-128 characters", "invalid_alert_id", "alert_id")
    names = [selector.account for selector in signal.accounts]
    if len(set(names)) != len(names):
        _invalid("an account is named twice", "duplicate_account", "accounts")
    if len(set(signal.required_positions)) != len(signal.required_positions):
        _invalid(
            "a required position is named twice", "invalid_required_position", "required_positions"
        )
