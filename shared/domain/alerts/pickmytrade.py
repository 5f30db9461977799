"""Read PickMyTrade JSON alerts (tradingview.md §1.2), detected by their ``data`` field.

PickMyTrade's generator writes every field, with ``0`` meaning "off" (``"tp": 0``), and often as
strings; both are honoured. ``tp``/``sl`` are prices, ``percentage_*`` percent and ``dollar_*``
dollars per contract. ``trail_stop``, ``trail_trigger``, ``trail_freq``, ``breakeven`` and
``breakeven_offset`` are in the unit of the alert's own risk settings, as PickMyTrade documents
("this offset follows the same measurement type chosen under your Risk Settings",
docs.pickmytrade.trade/docs/breakeven-offset-tradovate-automation-pickmytrade): dollars when
the leg's TP/SL are ``dollar_*``, percent when ``percentage_*``, price points when they are
prices or absent; a leg with TP and SL in two different relative units leaves that unit
ambiguous and is refused. ``update_tp``/``update_sl`` (modify a live bracket) are refused rather
than mistaken for a new entry. A ``close`` (or an exit the position placeholders make) places
no bracket: PickMyTrade describes a close as "Close position" whatever TP/SL fields it carries,
and its generator writes them on every alert; the unused ones are named in the journal.
Its per-alert position rules (``reverse_order_close``, ``pyramid``, ``same_direction_ignore``,
true/false, often as text) become the signal's ``position_rules``: a buy or sell on an account
that holds a position then follows PickMyTrade's table of them (the planner's
``targets._by_rules``); a rule the alert leaves out is the strategy's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from shared.domain.alerts.fields import Fields, extras_of, refuse_unread
from shared.domain.alerts.positions import (
    JSON_NAMES,
    ignored_on_exit,
    read_placeholders,
    resolve,
)
from shared.domain.signal import (
    BracketLeg,
    Breakeven,
    Intent,
    OrderType,
    PositionRules,
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
_BRACKET_FIELDS = ("advance_tp_sl", *_LEG_FIELDS[1:])
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
    intent = to_choice(action, "data", _ACTIONS)
    quantity, unit = _sizing(f)
    placeholders = read_placeholders(f, JSON_NAMES)
    reading = resolve(intent, None, placeholders)
    reading.check_quantity(placeholders, quantity, "quantity")
    kind = to_choice(f.get("order_type") or "mkt", "order_type", _ORDER_TYPES)
    price = _nonzero(f, "price")
    expires = _nonzero(f, "gtd_in_second")
    multiple = f.get("multiple_accounts")
    single = f.get("account_id")
    leaves = reading.exits or reading.intent in (Intent.CLOSE, Intent.FLAT)
    brackets = _brackets(f, read=not leaves)
    symbol = read_symbol(f.get("symbol"), "symbol")
    stop_price = _stop_price(f, kind, price)
    tv_time = maybe(to_datetime, f.get("date"), "date")
    strategy = maybe(to_text, f.get("strategy_name"), "strategy_name")
    rules = _position_rules(f)
    rest = f.rest()
    refuse_unread(rest, NAME)
    if leaves:
        rest.update(ignored_on_exit({name: data.get(name) for name in _BRACKET_FIELDS}))
    return Signal(
        source=NAME,
        intent=reading.intent,
        side=reading.side,
        symbol=symbol,
        quantity=quantity,
        quantity_unit=unit,
        order_type=kind,
        limit_price=price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
        stop_price=stop_price,
        time_in_force=TimeInForce.GTD if expires is not None else None,
        expires_after_s=maybe(to_int, expires, "gtd_in_second"),
        signal_price=price if kind is OrderType.MARKET else None,
        brackets=() if leaves else brackets,
        target=reading.target,
        position_rules=rules,
        accounts=maybe(accounts, multiple, "multiple_accounts")
        or maybe(accounts, single, "account_id")
        or (),
        tv_time=tv_time,
        strategy=strategy,
        extras=extras_of({**rest, **({"multiple_accounts": multiple} if multiple else {})}),
    )


def _position_rules(f: Fields) -> PositionRules | None:
    """Read PickMyTrade's per-alert position rules (None when the alert gives none)."""
    reverse, pyramid, ignore = (
        maybe(to_bool, f.get(name), name)
        for name in ("reverse_order_close", "pyramid", "same_direction_ignore")
    )
    if (reverse, pyramid, ignore) == (None, None, None):
        return None
    return PositionRules(reverse, pyramid, ignore)


def _nonzero(f: Fields, name: str, where: str = "") -> Decimal | None:
    number = maybe(to_decimal, f.get(name), where + name)
    return None if number is None or number == 0 else number


def _sizing(f: Fields) -> tuple[Decimal | None, QuantityUnit]:
    quantity = _nonzero(f, "quantity")
    risk = _nonzero(f, "risk_percentage")
    # PickMyTrade sizes by risk when quantity is 0 and risk_percentage is set; with both set,
    # which one sizes the order is not documented, so neither is guessed.
    if quantity is not None and risk is not None:
        fail(
            "give quantity or risk_percentage (with quantity 0), not both",
            "conflicting_fields",
            "risk_percentage",
        )
    if risk is not None:
        return risk, QuantityUnit.RISK_PERCENT
    return quantity, QuantityUnit.CONTRACTS


def _stop_price(f: Fields, kind: OrderType, price: Decimal | None) -> Decimal | None:
    if kind is OrderType.STOP:
        return price
    if kind is OrderType.STOP_LIMIT:
        return _nonzero(f, "stp_limit_stp_price")
    return None


def _brackets(f: Fields, *, read: bool) -> tuple[BracketLeg, ...]:
    """Read the legs (all fields taken either way); ``read`` false: check nothing, build none."""
    if not read:
        for name in _BRACKET_FIELDS:
            f.get(name)
        return ()
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
    unit = _risk_unit(take, stop, where)
    trailing = _trailing(f, where, unit)
    trigger = _nonzero(f, "breakeven", where)
    offset = _nonzero(f, "breakeven_offset", where)
    breakeven = None
    if trigger is not None:
        breakeven = Breakeven(
            spec(trigger, unit(), where + "breakeven"),
            None if offset is None else spec(offset, unit(), where + "breakeven_offset"),
        )
    quantity = _nonzero(f, "quantity", where) if where else None
    if (take, stop, trailing, breakeven) == (None, None, None, None):
        return None
    return BracketLeg(quantity, take, stop, None, trailing, breakeven)


def _risk_unit(
    take: PriceSpec | None, stop: PriceSpec | None, where: str
) -> Callable[[], PriceUnit]:
    """Return how to learn the leg's breakeven/trailing unit: its TP/SL's relative unit."""
    units = {level.unit for level in (take, stop) if level is not None and not level.is_price}

    def unit() -> PriceUnit:
        if len(units) > 1:
            fail(
                "breakeven and trailing values use the unit of the TP/SL, which are given in "
                "two different units here",
                "conflicting_fields",
                where + "breakeven",
            )
        return next(iter(units), PriceUnit.POINTS)

    return unit


def _one(f: Fields, names: dict[str, PriceUnit], where: str) -> PriceSpec | None:
    given = [(name, value) for name in names if (value := _nonzero(f, name, where)) is not None]
    if len(given) > 1:
        fail(f"give only one of {', '.join(names)}", "conflicting_fields", where + given[1][0])
    if not given:
        return None
    name, value = given[0]
    return spec(value, names[name], where + name)


def _trailing(f: Fields, where: str, unit: Callable[[], PriceUnit]) -> TrailingStop | None:
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
        spec(distance, unit(), where + "trail_stop"),
        None if trigger is None else spec(trigger, unit(), where + "trail_trigger"),
        None if step is None else spec(step, unit(), where + "trail_freq"),
    )
