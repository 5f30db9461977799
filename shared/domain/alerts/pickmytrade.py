"""Read PickMyTrade JSON alerts (tradingview.md §1.2), detected by their ``data`` field.

PickMyTrade's generator writes every field, with ``0`` meaning "off" (``"tp": 0``), and often as
strings; both are honoured. ``tp``/``sl`` are prices, ``percentage_*`` percent and ``dollar_*``
dollars per contract. ``trail_stop``, ``trail_trigger``, ``trail_freq``, ``breakeven`` and
``breakeven_offset`` are read as price distances (points). ``update_tp``/``update_sl`` (modify a
live bracket) are refused rather than mistaken for a new entry. Per-alert position rules
(``pyramid``, ``reverse_order_close`` ...) are kept for the journal; the strategy file governs.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from shared.domain.alerts.coerce import (
    fail,
    maybe,
    to_bool,
    to_choice,
    to_datetime,
    to_decimal,
    to_int,
    to_text,
)
from shared.domain.alerts.common import accounts, read_symbol, spec
from shared.domain.alerts.fields import Fields, extras_of
from shared.domain.signal import (
    BracketLeg,
    Breakeven,
    Intent,
    OrderType,
    PriceSpec,
    PriceUnit,
    QuantityUnit,
    Signal,
    TimeInForce,
    TrailingStop,
)

NAME = "pickmytrade"

_ACTIONS = {
    "buy": Intent.BUY,
    "sell": Intent.SELL,
    "close": Intent.CLOSE,
    "long": Intent.BUY,
    "short": Intent.SELL,
    "flat": Intent.FLAT,
}
_ORDER_TYPES = {
    "mkt": OrderType.MARKET,
    "market": OrderType.MARKET,
    "lmt": OrderType.LIMIT,
    "limit": OrderType.LIMIT,
    "stp": OrderType.STOP,
    "stop": OrderType.STOP,
    "stplmt": OrderType.STOP_LIMIT,
    "stop_limit": OrderType.STOP_LIMIT,
}
_LEG_FIELDS = (
    "quantity",
    "tp",
    "percentage_tp",
    "dollar_tp",
    "sl",
    "percentage_sl",
    "dollar_sl",
    "breakeven",
    "breakeven_offset",
    "trail",
    "trail_stop",
    "trail_trigger",
    "trail_freq",
)
_TAKE = {"tp": PriceUnit.PRICE, "percentage_tp": PriceUnit.PERCENT, "dollar_tp": PriceUnit.DOLLARS}
_STOP = {"sl": PriceUnit.PRICE, "percentage_sl": PriceUnit.PERCENT, "dollar_sl": PriceUnit.DOLLARS}


def detect(data: Mapping[str, object]) -> bool:
    """Recognise PickMyTrade by its ``data`` action field."""
    return "data" in data


def read(data: Mapping[str, object]) -> Signal:
    """Build a signal from a PickMyTrade alert object."""
    f = Fields(data)
    action = f.get("data")
    if action is None:
        fail("data (the action) is required", "missing_field", "data")
    for flag in ("update_tp", "update_sl"):
        if maybe(to_bool, f.get(flag), flag):
            fail(f"{flag} (modify a live bracket) is not supported", "unsupported_field", flag)
    kind = to_choice(f.get("order_type") or "mkt", "order_type", _ORDER_TYPES)
    price = _nonzero(f, "price")
    quantity, unit = _sizing(f)
    expires = _nonzero(f, "gtd_in_second")
    multiple = f.get("multiple_accounts")
    single = f.get("account_id")
    return Signal(
        source=NAME,
        intent=to_choice(action, "data", _ACTIONS),
        symbol=read_symbol(f.get("symbol"), "symbol"),
        quantity=quantity,
        quantity_unit=unit,
        order_type=kind,
        limit_price=price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
        stop_price=_stop_price(f, kind, price),
        time_in_force=TimeInForce.GTD if expires is not None else None,
        expires_after_s=maybe(to_int, expires, "gtd_in_second"),
        signal_price=price if kind is OrderType.MARKET else None,
        brackets=_brackets(f),
        accounts=maybe(accounts, multiple, "multiple_accounts")
        or maybe(accounts, single, "account_id")
        or (),
        tv_time=maybe(to_datetime, f.get("date"), "date"),
        strategy=maybe(to_text, f.get("strategy_name"), "strategy_name"),
        extras=extras_of({**f.rest(), **({"multiple_accounts": multiple} if multiple else {})}),
    )


def _nonzero(f: Fields, name: str, where: str = "") -> Decimal | None:
    number = maybe(to_decimal, f.get(name), where + name)
    return None if number is None or number == 0 else number


def _sizing(f: Fields) -> tuple[Decimal | None, QuantityUnit]:
    quantity = _nonzero(f, "quantity")
    risk = _nonzero(f, "risk_percentage")
    # PickMyTrade sizes by risk when quantity is 0 and risk_percentage is set.
    if quantity is None and risk is not None:
        return risk, QuantityUnit.RISK_PERCENT
    return quantity, QuantityUnit.CONTRACTS


def _stop_price(f: Fields, kind: OrderType, price: Decimal | None) -> Decimal | None:
    if kind is OrderType.STOP:
        return price
    if kind is OrderType.STOP_LIMIT:
        return _nonzero(f, "stp_limit_stp_price")
    return None


def _brackets(f: Fields) -> tuple[BracketLeg, ...]:
    top = _leg(f, "")
    legs = f.get("advance_tp_sl")
    if legs is None or legs == []:
        return (top,) if top is not None else ()
    if top is not None:
        fail(
            "give advance_tp_sl or top-level tp/sl, not both", "conflicting_fields", "advance_tp_sl"
        )
    if not isinstance(legs, list) or len(legs) > 10:
        fail("advance_tp_sl must be a list of up to 10 legs", "invalid_brackets", "advance_tp_sl")
    result = []
    for index, item in enumerate(legs):
        where = f"advance_tp_sl[{index}]."
        if not isinstance(item, Mapping):
            fail("each advance_tp_sl leg must be an object", "invalid_brackets", where[:-1])
        unknown = sorted(str(k) for k in item if k not in _LEG_FIELDS)
        if unknown:
            fail(f"unknown leg field {unknown[0]!r}", "unknown_field", where + unknown[0])
        leg = _leg(Fields(item), where)
        if leg is not None:
            result.append(leg)
    return tuple(result)


def _leg(f: Fields, where: str) -> BracketLeg | None:
    take = _one(f, _TAKE, where)
    stop = _one(f, _STOP, where)
    trailing = _trailing(f, where)
    trigger = _nonzero(f, "breakeven", where)
    offset = _nonzero(f, "breakeven_offset", where)
    breakeven = None
    if trigger is not None:
        breakeven = Breakeven(
            _points(trigger, where + "breakeven"),
            None if offset is None else _points(offset, where + "breakeven_offset"),
        )
    quantity = _nonzero(f, "quantity", where) if where else None
    if (take, stop, trailing, breakeven) == (None, None, None, None):
        return None
    return BracketLeg(quantity, take, stop, None, trailing, breakeven)


def _one(f: Fields, names: dict[str, PriceUnit], where: str) -> PriceSpec | None:
    given = [(name, value) for name in names if (value := _nonzero(f, name, where)) is not None]
    if len(given) > 1:
        fail(f"give only one of {', '.join(names)}", "conflicting_fields", where + given[1][0])
    if not given:
        return None
    name, value = given[0]
    return spec(value, names[name], where + name)


def _trailing(f: Fields, where: str) -> TrailingStop | None:
    enabled = maybe(to_bool, f.get("trail"), where + "trail")
    distance = _nonzero(f, "trail_stop", where)
    trigger = _nonzero(f, "trail_trigger", where)
    step = _nonzero(f, "trail_freq", where)
    if enabled is False or (enabled is None and distance is None):
        return None
    if distance is None:
        fail(
            "trail is on but trail_stop (the distance) is missing",
            "missing_trail",
            where + "trail_stop",
        )
    return TrailingStop(
        _points(distance, where + "trail_stop"),
        None if trigger is None else _points(trigger, where + "trail_trigger"),
        None if step is None else _points(step, where + "trail_freq"),
    )


def _points(value: Decimal, field: str) -> PriceSpec:
    return spec(value, PriceUnit.POINTS, field)
