"""Read TradersPost JSON alerts (tradingview.md §1.1), detected by their ``ticker`` field.

``takeProfit.amount`` and ``stopLoss.amount`` are price offsets "in dollars of the underlying",
which for futures are price points, so they become ``points`` distances. Unknown fields (and the
``extras`` object TradersPost recommends) are kept for the journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from shared.domain.alerts.coerce import fail, maybe, to_bool, to_choice, to_datetime, to_decimal
from shared.domain.alerts.common import (
    MARKET_POSITIONS,
    TIMES_IN_FORCE,
    infer_order_type,
    read_symbol,
    spec,
)
from shared.domain.alerts.fields import Fields, extras_of
from shared.domain.signal import (
    BracketLeg,
    Intent,
    MarketPosition,
    OrderType,
    PriceSpec,
    PriceUnit,
    QuantityUnit,
    Signal,
    TargetPosition,
    TimeInForce,
    TrailingStop,
)

NAME = "traderspost"

_ACTIONS = {
    "buy": Intent.BUY,
    "sell": Intent.SELL,
    "exit": Intent.EXIT,
    "cancel": Intent.CANCEL,
    "add": Intent.ADD,
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


def detect(data: Mapping[str, object]) -> bool:
    """Recognise TradersPost by its required ``ticker`` field."""
    return "ticker" in data


def read(data: Mapping[str, object]) -> Signal:
    """Build a signal from a TradersPost alert object."""
    f = Fields(data)
    action = f.get("action")
    if action is None:
        fail("action is required", "missing_field", "action")
    intent = to_choice(action, "action", _ACTIONS)
    kind_raw = f.get("orderType")
    kind = maybe(_order_type, kind_raw, "orderType")
    limit, stop = f.get("limitPrice"), f.get("stopPrice")
    trail = _trail(f.get("trailAmount"), f.get("trailPercent"), "trailAmount")
    return Signal(
        source=NAME,
        intent=intent,
        symbol=read_symbol(f.get("ticker"), "ticker"),
        quantity=maybe(to_decimal, f.get("quantity"), "quantity"),
        quantity_unit=maybe(_quantity_type, f.get("quantityType"), "quantityType")
        or QuantityUnit.CONTRACTS,
        order_type=infer_order_type(kind, limit, stop, trail),
        limit_price=maybe(to_decimal, limit, "limitPrice"),
        stop_price=maybe(to_decimal, stop, "stopPrice"),
        trail=trail,
        time_in_force=maybe(_tif, f.get("timeInForce"), "timeInForce"),
        signal_price=maybe(to_decimal, f.get("signalPrice", "price"), "signalPrice"),
        brackets=_brackets(f.get("takeProfit"), f.get("stopLoss")),
        target=_sentiment(f.get("sentiment"), intent),
        cancel_first=maybe(to_bool, f.get("cancel"), "cancel"),
        tv_time=maybe(to_datetime, f.get("time"), "time"),
        extras=extras_of(f.rest()),
    )


def _order_type(value: object, field: str) -> OrderType:
    return to_choice(value, field, _ORDER_TYPES)


def _quantity_type(value: object, field: str) -> QuantityUnit:
    return to_choice(value, field, _QUANTITY_TYPES)


def _tif(value: object, field: str) -> TimeInForce:
    if isinstance(value, str) and value.strip().lower() in ("opg", "cls"):
        fail(f"{field} {value} is not offered for futures at Tradovate", "unsupported_value", field)
    return to_choice(value, field, TIMES_IN_FORCE)


def _sentiment(value: object | None, intent: Intent) -> TargetPosition | None:
    if value is None:
        return None
    if intent not in (Intent.BUY, Intent.SELL):
        fail("sentiment goes only with buy or sell", "invalid_sentiment_action", "sentiment")
    position = to_choice(value, "sentiment", MARKET_POSITIONS)
    # "flat" means exit the whole position whatever the quantity: its size is known to be zero.
    size = Decimal(0) if position is MarketPosition.FLAT else None
    return TargetPosition(position, size, from_sentiment=True)


def _trail(amount: object | None, percent: object | None, field: str) -> PriceSpec | None:
    if amount is not None and percent is not None:
        fail("give trailAmount or trailPercent, not both", "conflicting_fields", field)
    if amount is not None:
        return spec(to_decimal(amount, field), PriceUnit.POINTS, field)
    if percent is not None:
        return spec(to_decimal(percent, field), PriceUnit.PERCENT, field)
    return None


def _one_of(data: Mapping[str, object], field: str, units: dict[str, PriceUnit]) -> PriceSpec:
    given = [(name, data[name]) for name in units if data.get(name) not in (None, "")]
    if len(given) != 1:
        fail(f"{field} needs exactly one of {', '.join(units)}", "invalid_level", field)
    name, value = given[0]
    return spec(to_decimal(value, f"{field}.{name}"), units[name], f"{field}.{name}")


def _object(value: object, field: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        fail(f"{field} must be an object", "invalid_level", field)
    return value


def _brackets(take: object | None, stop: object | None) -> tuple[BracketLeg, ...]:
    if take is None and stop is None:
        return ()
    take_spec = None
    if take is not None:
        units = {"limitPrice": PriceUnit.PRICE, "percent": PriceUnit.PERCENT,
                 "amount": PriceUnit.POINTS}  # fmt: skip
        take_spec = _one_of(_object(take, "takeProfit"), "takeProfit", units)
    if stop is None:
        return (BracketLeg(take_profit=take_spec),)
    return (_stop_leg(_object(stop, "stopLoss"), take_spec),)


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
        return BracketLeg(take_profit=take, trailing_stop=TrailingStop(trail))
    units = {"stopPrice": PriceUnit.PRICE, "percent": PriceUnit.PERCENT, "amount": PriceUnit.POINTS}
    stop_spec = _one_of(stop, "stopLoss", units)
    limit = f.get("limitPrice")
    if (kind == "stop_limit") != (limit is not None):
        fail(
            "stopLoss.limitPrice goes with type stop_limit", "invalid_level", "stopLoss.limitPrice"
        )
    where = "stopLoss.limitPrice"
    limit_spec = None if limit is None else spec(to_decimal(limit, where), PriceUnit.PRICE, where)
    return BracketLeg(take_profit=take, stop_loss=stop_spec, stop_limit=limit_spec)
