"""Read TradersPost JSON alerts (tradingview.md §1.1), detected by their ``ticker`` field.

Read as TradersPost documents them (docs.traderspost.io/docs/core-concepts/webhooks and its
``webhook-spec.json``): ``takeProfit.amount`` and ``stopLoss.amount`` are price offsets "in
dollars of the underlying", which for futures are price points, so they become ``points``
distances (TradersPost's own MNQ example: a 100 ``trailAmount`` from 18250 trails at 18350).
``sentiment`` is the position after the trade: ``flat`` exits the whole position whatever the
quantity, and ``bullish`` after a ``sell`` (``bearish`` after a ``buy``) is an exit that leaves
the position "bullish or flat" (see ``positions``). TradingView's position placeholders
(``market_position``, ``position_size`` ...) are read the same way. ``reverse`` exits and
enters the other side in one signal. ``ignoreTradingWindows: true`` lets the signal through
outside the strategy's trading windows, as TradersPost lets it "bypass the trading windows
specified in the strategy subscription settings".

Fields TradersPost documents but Tradebridge cannot honour (options, ``delay``,
``cancelOrderType``), keys a ``takeProfit``/``stopLoss`` object does not define, and other
order fields TradersPost does not define (``type``, ``qty``...) are refused; unknown fields
(and the ``extras`` object TradersPost recommends) are kept for the journal.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.alerts.coerce import fail, maybe, to_bool, to_choice, to_datetime, to_decimal
from shared.domain.alerts.common import (
    TIMES_IN_FORCE,
    accounts,
    infer_order_type,
    read_symbol,
    spec,
)
from shared.domain.alerts.fields import Fields, extras_of, refuse_unread
from shared.domain.alerts.positions import (
    TRADERSPOST_NAMES,
    ignored_on_exit,
    read_placeholders,
    resolve,
)
from shared.domain.signal import (
    BracketLeg,
    Intent,
    MarketPosition,
    OrderType,
    PriceSpec,
    PriceUnit,
    QuantityUnit,
    Signal,
    TimeInForce,
    TrailingStop,
)

NAME = "traderspost"
_OPEN = (MarketPosition.LONG, MarketPosition.SHORT)

_ACTIONS = {
    "buy": Intent.BUY,
    "sell": Intent.SELL,
    "exit": Intent.EXIT,
    "cancel": Intent.CANCEL,
    "add": Intent.ADD,
    # traderspost.io/reference/strategy-message/sides-swapping-disabled: exits the position and
    # enters the opposite side in one signal, whatever the side-swapping setting.
    "reverse": Intent.REVERSE,
}
_ORDER_TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT,
    "trailing_stop": OrderType.TRAILING_STOP,
}
_QUANTITY_TYPES = {
    "fixed_quantity": QuantityUnit.CONTRACTS,
    "dollar_amount": QuantityUnit.DOLLAR_AMOUNT,
    "risk_dollar_amount": QuantityUnit.RISK_DOLLARS,
    "risk_percent": QuantityUnit.RISK_PERCENT,
    "percent_of_equity": QuantityUnit.PERCENT_OF_EQUITY,
    "percent_of_position": QuantityUnit.PERCENT_OF_POSITION,
}
_STOP_TYPES = {"stop": "stop", "stop_limit": "stop_limit", "trailing_stop": "trailing_stop"}


# TradersPost fields that change a trade in ways Tradebridge cannot: refused, not dropped.
_OPTIONS_WHY = "options are not traded here (futures only)"
_UNSUPPORTED = {
    "delay": "orders go out at once (TradersPost would wait delay seconds)",
    "cancelOrderType": "cancel=true cancels every working order, not only one type",
    "optionType": _OPTIONS_WHY,
    "intrinsicValue": _OPTIONS_WHY,
    "expiration": _OPTIONS_WHY,
    "strikeCount": _OPTIONS_WHY,
    "strikesAway": _OPTIONS_WHY,
    "strikePrice": _OPTIONS_WHY,
}


def detect(data: Mapping[str, object]) -> bool:
    """Recognise TradersPost by its required ``ticker`` field."""
    return "ticker" in data


def read(data: Mapping[str, object]) -> Signal:
    """Build a signal from a TradersPost alert object."""
    f = Fields(data)
    _refuse_unsupported(f)
    action = f.get("action")
    if action is None:
        fail("action is required", "missing_field", "action")
    intent = to_choice(action, "action", _ACTIONS)
    placeholders = read_placeholders(f, TRADERSPOST_NAMES)
    if placeholders.from_sentiment and intent not in (Intent.BUY, Intent.SELL):
        fail("sentiment goes only with buy or sell", "invalid_sentiment_action", "sentiment")
    reading = resolve(intent, None, placeholders)
    quantity = f.get("quantity")
    reading.check_quantity(placeholders, quantity, "quantity")
    kind = maybe(_order_type, f.get("orderType"), "orderType")
    limit, stop = f.get("limitPrice"), f.get("stopPrice")
    trail = _trail(f.get("trailAmount"), f.get("trailPercent"), "trailAmount")
    take, stop_loss = f.get("takeProfit"), f.get("stopLoss")
    symbol = read_symbol(f.get("ticker"), "ticker")
    unit = maybe(_quantity_type, f.get("quantityType"), "quantityType")
    tif = maybe(_tif, f.get("timeInForce"), "timeInForce")
    price = maybe(to_decimal, f.get("signalPrice", "price"), "signalPrice")
    cancel_first = maybe(to_bool, f.get("cancel"), "cancel")
    bypass = maybe(to_bool, f.get("ignoreTradingWindows"), "ignoreTradingWindows")
    tv_time = maybe(to_datetime, f.get("time"), "time")
    chosen = maybe(accounts, f.get("accounts", "account"), "account") or ()
    rest = f.rest()
    refuse_unread(rest, NAME)
    if reading.exits:
        rest.update(ignored_on_exit({"takeProfit": take, "stopLoss": stop_loss}))
    return Signal(
        source=NAME,
        intent=reading.intent,
        side=reading.side,
        symbol=symbol,
        quantity=maybe(to_decimal, quantity, "quantity"),
        quantity_unit=unit or QuantityUnit.CONTRACTS,
        order_type=infer_order_type(kind, limit, stop, trail),
        limit_price=maybe(to_decimal, limit, "limitPrice"),
        stop_price=maybe(to_decimal, stop, "stopPrice"),
        trail=trail,
        time_in_force=tif,
        signal_price=price,
        brackets=() if reading.exits else _brackets(take, stop_loss),
        target=reading.target,
        # "The position must already be open to add to it, and if an existing position does
        # not exist, the trade will be rejected" (TradersPost, allow-add-to-position).
        required_positions=_OPEN if reading.intent is Intent.ADD else (),
        cancel_first=cancel_first,
        bypass_windows=bypass is True,
        accounts=chosen,
        tv_time=tv_time,
        extras=extras_of(rest),
    )


def _refuse_unsupported(f: Fields) -> None:
    for name, why in _UNSUPPORTED.items():
        if f.has(name):
            fail(
                f"{name} is a TradersPost field Tradebridge does not act on: {why}",
                "unsupported_field",
                name,
            )


def _order_type(value: object, field: str) -> OrderType:
    return to_choice(value, field, _ORDER_TYPES)


def _quantity_type(value: object, field: str) -> QuantityUnit:
    return to_choice(value, field, _QUANTITY_TYPES)


def _tif(value: object, field: str) -> TimeInForce:
    if isinstance(value, str) and value.strip().lower() in ("opg", "cls"):
        fail(f"{field} {value} is not offered for futures at Tradovate", "unsupported_value", field)
    return to_choice(value, field, TIMES_IN_FORCE)


def _trail(amount: object | None, percent: object | None, field: str) -> PriceSpec | None:
    if amount is not None and percent is not None:
        fail("give trailAmount or trailPercent, not both", "conflicting_fields", field)
    if amount is not None:
        return spec(to_decimal(amount, field), PriceUnit.POINTS, field)
    if percent is not None:
        return spec(to_decimal(percent, field), PriceUnit.PERCENT, field)
    return None


_TAKE_UNITS = {
    "limitPrice": PriceUnit.PRICE,
    "price": PriceUnit.PRICE,
    "percent": PriceUnit.PERCENT,
    "amount": PriceUnit.POINTS,
}
_STOP_UNITS = {
    "stopPrice": PriceUnit.PRICE,
    "percent": PriceUnit.PERCENT,
    "amount": PriceUnit.POINTS,
}
_STOP_KEYS = frozenset({"type", "limitPrice", "trailAmount", "trailPercent", *_STOP_UNITS})
_TRAIL_KEYS = ("trailAmount", "trailPercent")


def _given(data: Mapping[str, object], name: str) -> bool:
    return data.get(name) not in (None, "")


def _one_of(data: Mapping[str, object], field: str, units: dict[str, PriceUnit]) -> PriceSpec:
    given = [(name, data[name]) for name in units if _given(data, name)]
    if len(given) != 1:
        names = ", ".join(dict.fromkeys(name for name in units if name != "price"))
        fail(f"{field} needs exactly one of {names}", "invalid_level", field)
    name, value = given[0]
    return spec(to_decimal(value, f"{field}.{name}"), units[name], f"{field}.{name}")


def _object(value: object, field: str, known: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        fail(f"{field} must be an object", "invalid_level", field)
    unknown = sorted(str(key) for key in value if key not in known)
    if unknown:
        # An unread key would be a level silently dropped (a take profit in ticks, say).
        fail(f"{field} has no field {unknown[0]!r}", "unknown_field", f"{field}.{unknown[0]}")
    return value


def _brackets(take: object | None, stop: object | None) -> tuple[BracketLeg, ...]:
    if take is None and stop is None:
        return ()
    take_spec = None
    if take is not None:
        taken = _object(take, "takeProfit", frozenset(_TAKE_UNITS))
        take_spec = _one_of(taken, "takeProfit", _TAKE_UNITS)
    if stop is None:
        return (BracketLeg(take_profit=take_spec),)
    return (_stop_leg(_object(stop, "stopLoss", _STOP_KEYS), take_spec),)


def _stop_leg(stop: Mapping[str, object], take: PriceSpec | None) -> BracketLeg:
    f = Fields(stop)
    kind = to_choice(f.get("type") or "stop", "stopLoss.type", _STOP_TYPES)
    trail = _trail(f.get("trailAmount"), f.get("trailPercent"), "stopLoss.trailAmount")
    if kind == "trailing_stop":
        if trail is None:
            fail(
                "a trailing stop needs trailAmount or trailPercent",
                "missing_trail",
                "stopLoss.trailAmount",
            )
        levels = [name for name in _STOP_UNITS if _given(stop, name)]
        if levels or _given(stop, "limitPrice"):
            name = levels[0] if levels else "limitPrice"
            fail(
                f"stopLoss.{name} does not apply to a trailing stop",
                "conflicting_fields",
                f"stopLoss.{name}",
            )
        return BracketLeg(take_profit=take, trailing_stop=TrailingStop(trail))
    if trail is not None:
        name = next(name for name in _TRAIL_KEYS if _given(stop, name))
        # TradersPost: "type must be set to trailing_stop to use this field".
        fail(
            f"stopLoss.{name} needs stopLoss.type trailing_stop",
            "conflicting_fields",
            f"stopLoss.{name}",
        )
    stop_spec = _one_of(stop, "stopLoss", _STOP_UNITS)
    limit = f.get("limitPrice")
    if (kind == "stop_limit") != (limit is not None):
        fail(
            "stopLoss.limitPrice goes with type stop_limit", "invalid_level", "stopLoss.limitPrice"
        )
    where = "stopLoss.limitPrice"
    limit_spec = None if limit is None else spec(to_decimal(limit, where), PriceUnit.PRICE, where)
    return BracketLeg(take_profit=take, stop_loss=stop_spec, stop_limit=limit_spec)
