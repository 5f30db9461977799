"""Read Tradebridge's own alert format (``schemas/native-alert.schema.json``).

The native format is strict: an unknown field is an error rather than an extra, so a typo such as
``stop_los`` can never silently drop a stop. Free-form data goes in ``extras``. Detected by its
``intent`` field. The strategy's position fields (``market_position``, ``position_size`` ...)
decide what the intent means, as in every format (``positions``): ``sell`` with
``market_position: flat`` is an exit to flat.
"""

from __future__ import annotations

from collections.abc import Mapping

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
from shared.domain.alerts.common import (
    SIDES,
    accounts,
    infer_order_type,
    level,
    positions,
    read_symbol,
    read_tif,
)
from shared.domain.alerts.fields import Fields, extras_of
from shared.domain.alerts.positions import (
    NATIVE_NAMES,
    ignored_on_exit,
    read_placeholders,
    resolve,
)
from shared.domain.signal import (
    BracketLeg,
    Breakeven,
    Intent,
    JsonValue,
    OrderType,
    PriceSpec,
    QuantityUnit,
    Signal,
    TrailingStop,
)

NAME = "native"

INTENTS: dict[str, Intent] = {intent.value: intent for intent in Intent}
ORDER_TYPES: dict[str, OrderType] = {kind.value: kind for kind in OrderType}
QUANTITY_UNITS: dict[str, QuantityUnit] = {unit.value: unit for unit in QuantityUnit}

_LEG_FIELDS = ("take_profit", "stop_loss", "stop_limit", "trailing_stop", "breakeven")
FIELDS = frozenset(
    {
        "version", "intent", "symbol", "exchange", "side", "quantity", "quantity_unit",
        "order_type", "limit_price", "stop_price", "trail", "time_in_force", "expires_after_s",
        "signal_price", "price", "brackets", "market_position", "position_size",
        "market_position_size", "prev_market_position", "prev_position_size",
        "prev_market_position_size", "required_positions", "flatten_first",
        "cancel_first", "accounts", "time", "bar_time", "alert_id", "strategy", "extras",
        *_LEG_FIELDS,
    }
)  # fmt: skip


def detect(data: Mapping[str, object]) -> bool:
    """Recognise the native format by its ``intent`` field."""
    return "intent" in data


def read(data: Mapping[str, object], source: str = NAME) -> Signal:
    """Build a signal from a native alert object (JSON, or ``key=value`` lines as a map)."""
    unknown = sorted(str(key) for key in data if key not in FIELDS)
    if unknown:
        fail(
            f"unknown field {unknown[0]!r} (put free-form data in extras)",
            "unknown_field",
            unknown[0],
        )
    f = Fields(data)
    if maybe(to_int, f.get("version"), "version") not in (None, 1):
        fail("only version 1 of the native format exists", "unsupported_version", "version")
    intent_raw = f.get("intent")
    if intent_raw is None:
        fail("intent is required", "missing_field", "intent")
    intent = to_choice(intent_raw, "intent", INTENTS)
    side_raw = f.get("side")
    side = to_choice(side_raw, "side", SIDES) if side_raw is not None else None
    quantity = f.get("quantity")
    placeholders = read_placeholders(f, NATIVE_NAMES)
    reading = resolve(intent, side, placeholders)
    reading.check_quantity(placeholders, quantity, "quantity")
    kind_raw = f.get("order_type")
    kind = to_choice(kind_raw, "order_type", ORDER_TYPES) if kind_raw is not None else None
    limit, stop, trail = f.get("limit_price"), f.get("stop_price"), f.get("trail")
    extras = _extras(f.get("extras"))
    legs = _brackets(f)
    if reading.exits and legs:
        extras.update(ignored_on_exit({k: data.get(k) for k in ("brackets", *_LEG_FIELDS)}))
        legs = ()
    return Signal(
        source=source,
        intent=reading.intent,
        symbol=read_symbol(f.get("symbol"), "symbol", f.get("exchange")),
        side=reading.side,
        quantity=maybe(to_decimal, quantity, "quantity"),
        quantity_unit=to_choice(
            f.get("quantity_unit") or "contracts", "quantity_unit", QUANTITY_UNITS
        ),
        order_type=infer_order_type(kind, limit, stop, trail),
        limit_price=maybe(to_decimal, limit, "limit_price"),
        stop_price=maybe(to_decimal, stop, "stop_price"),
        trail=maybe(level, trail, "trail"),
        time_in_force=maybe(read_tif, f.get("time_in_force"), "time_in_force"),
        expires_after_s=maybe(to_int, f.get("expires_after_s"), "expires_after_s"),
        signal_price=maybe(to_decimal, f.get("signal_price", "price"), "signal_price"),
        brackets=legs,
        target=reading.target,
        required_positions=maybe(positions, f.get("required_positions"), "required_positions")
        or (),
        flatten_first=maybe(to_bool, f.get("flatten_first"), "flatten_first") or False,
        cancel_first=maybe(to_bool, f.get("cancel_first"), "cancel_first"),
        accounts=maybe(accounts, f.get("accounts"), "accounts") or (),
        tv_time=maybe(to_datetime, f.get("time"), "time"),
        bar_time=maybe(to_datetime, f.get("bar_time"), "bar_time"),
        alert_id=maybe(to_text, f.get("alert_id"), "alert_id"),
        strategy=maybe(to_text, f.get("strategy"), "strategy"),
        extras=extras,
    )


def _extras(value: object | None) -> dict[str, JsonValue]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        fail("extras must be an object", "invalid_extras", "extras")
    return extras_of(value)


def _brackets(f: Fields) -> tuple[BracketLeg, ...]:
    top = {name: f.get(name) for name in _LEG_FIELDS}
    legs = f.get("brackets")
    if legs is None:
        present = {k: v for k, v in top.items() if v is not None}
        return (read_leg(present, ""),) if present else ()
    if any(v is not None for v in top.values()):
        fail("give brackets or the single-leg fields, not both", "conflicting_fields", "brackets")
    if not isinstance(legs, list) or not legs or len(legs) > 10:
        fail("brackets must be a list of 1-10 legs", "invalid_brackets", "brackets")
    return tuple(
        read_leg(_mapping(leg, f"brackets[{i}]"), f"brackets[{i}].") for i, leg in enumerate(legs)
    )


def _mapping(value: object, field: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        fail(f"{field} must be an object", "invalid_brackets", field)
    return value


def read_leg(data: Mapping[str, object], where: str) -> BracketLeg:
    """Read one bracket leg; ``where`` prefixes field names in errors (``brackets[1].``)."""
    unknown = sorted(str(key) for key in data if key not in {"quantity", *_LEG_FIELDS})
    if unknown:
        fail(f"unknown bracket field {unknown[0]!r}", "unknown_field", f"{where}{unknown[0]}")
    f = Fields(data)
    take, stop, stop_limit = f.get("take_profit"), f.get("stop_loss"), f.get("stop_limit")
    trailing, breakeven = f.get("trailing_stop"), f.get("breakeven")
    return BracketLeg(
        quantity=maybe(to_decimal, f.get("quantity"), f"{where}quantity"),
        take_profit=maybe(level, take, f"{where}take_profit"),
        stop_loss=maybe(level, stop, f"{where}stop_loss"),
        stop_limit=maybe(level, stop_limit, f"{where}stop_limit"),
        trailing_stop=_trailing(trailing, f"{where}trailing_stop"),
        breakeven=_breakeven(breakeven, f"{where}breakeven"),
    )


def _trailing(value: object | None, where: str) -> TrailingStop | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or "distance" not in value:
        return TrailingStop(level(value, f"{where}.distance"))
    parts = _parts(value, where, ("distance", "trigger", "step"))
    return TrailingStop(parts["distance"], parts.get("trigger"), parts.get("step"))


def _breakeven(value: object | None, where: str) -> Breakeven | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or "trigger" not in value:
        return Breakeven(level(value, f"{where}.trigger"))
    parts = _parts(value, where, ("trigger", "offset"))
    return Breakeven(parts["trigger"], parts.get("offset"))


def _parts(value: Mapping[str, object], where: str, names: tuple[str, ...]) -> dict[str, PriceSpec]:
    unknown = sorted(str(key) for key in value if key not in names)
    if unknown:
        fail(f"unknown field {unknown[0]!r}", "unknown_field", f"{where}.{unknown[0]}")
    return {k: level(v, f"{where}.{k}") for k, v in value.items() if v is not None}
