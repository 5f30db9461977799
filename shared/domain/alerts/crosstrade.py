"""Read CrossTrade ``key=value;`` alerts (tradingview.md §1.3), detected by their ``command`` field.

Keys are case-insensitive and pairs may sit on one line or many. Bracket levels are a price,
``±N ticks``, ``±N points`` or ``±N%``; a sign pointing the wrong way for the order side (a take
profit of ``-20 ticks`` on a buy) is refused. Commands that act beyond one instrument or need a
broker order id (``FLATTENEVERYTHING``, ``CANCELALLORDERS``, ``CHANGE`` ...) are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from shared.domain.alerts.coerce import fail, maybe, to_bool, to_choice, to_decimal, to_text
from shared.domain.alerts.common import (
    accounts,
    infer_order_type,
    level_text,
    positions,
    read_side,
    read_symbol,
    read_tif,
    spec,
    target_position,
)
from shared.domain.alerts.fields import Fields, extras_of
from shared.domain.signal import (
    BracketLeg,
    Intent,
    OrderType,
    PriceSpec,
    PriceUnit,
    Side,
    Signal,
)

NAME = "crosstrade"

_COMMANDS = {
    "place": Intent.BUY,  # the side comes from action
    "flatplace": Intent.BUY,
    "closeposition": Intent.EXIT,
    "reverse": Intent.REVERSE,
    "reverseposition": Intent.REVERSE,
    "flatten": Intent.FLAT,
    "cancelorders": Intent.CANCEL,
}
_UNSUPPORTED_COMMANDS = frozenset(
    {
        "flatteneverything",
        "cancel",
        "cancelallorders",
        "cancelreplace",
        "change",
        "cancelandbracket",
        "closestrategy",
    }
)
_ORDER_TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stopmarket": OrderType.STOP,
    "stoplimit": OrderType.STOP_LIMIT,
    "trailingstop": OrderType.TRAILING_STOP,
}


def detect(data: Mapping[str, object]) -> bool:
    """Recognise CrossTrade by its ``command`` field."""
    return "command" in data


def read(data: Mapping[str, object]) -> Signal:
    """Build a signal from CrossTrade pairs (keys already lower-cased)."""
    f = Fields(data)
    command = to_text(f.get("command"), "command", max_chars=40).lower()
    if command in _UNSUPPORTED_COMMANDS:
        fail(f"command {command.upper()} is not supported", "unsupported_command", "command")
    intent = to_choice(command, "command", _COMMANDS)
    side = maybe(read_side, f.get("action"), "action")
    if intent is Intent.BUY:
        if side is None:
            fail(f"{command.upper()} needs action=BUY or SELL", "missing_field", "action")
        intent = Intent.BUY if side is Side.BUY else Intent.SELL
    kind = maybe(_order_type, f.get("order_type"), "order_type")
    limit, stop = f.get("limit_price"), f.get("stop_price")
    trail = maybe(_distance, f.get("trail_offset", "peg_difference"), "trail_offset")
    return Signal(
        source=NAME,
        intent=intent,
        side=side,
        symbol=read_symbol(f.get("instrument"), "instrument"),
        quantity=maybe(to_decimal, f.get("qty", "quantity"), "qty"),
        order_type=infer_order_type(kind, limit, stop, trail),
        limit_price=maybe(_absolute, limit, "limit_price"),
        stop_price=maybe(_absolute, stop, "stop_price"),
        trail=trail,
        time_in_force=maybe(read_tif, f.get("tif"), "tif"),
        brackets=_brackets(f, side),
        target=target_position(
            f.get("market_position"),
            f.get("target_quantity"),
            f.get("prev_market_position"),
        ),
        required_positions=maybe(
            positions, f.get("require_market_position"), "require_market_position"
        )
        or (),
        flatten_first=command == "flatplace"
        or bool(maybe(to_bool, f.get("flatten_first"), "flatten_first")),
        accounts=maybe(accounts, f.get("account"), "account") or (),
        alert_id=maybe(to_text, f.get("id"), "id"),
        strategy=maybe(to_text, f.get("strategy"), "strategy"),
        extras=extras_of(f.rest()),
    )


def _order_type(value: object, field: str) -> OrderType:
    if isinstance(value, str) and value.strip().lower() in ("mit", "trailingstoplimit"):
        fail(f"order_type {value} is not supported", "unsupported_value", field)
    return to_choice(value, field, _ORDER_TYPES)


def _absolute(value: object, field: str) -> Decimal:
    found, _ = level_text(value, field)
    if not found.is_price:
        # Entry prices relative to the market need a quote this bridge does not have at ingest.
        fail(f"{field} must be a price, not a distance", "unsupported_value", field)
    return found.value


def _distance(value: object, field: str) -> PriceSpec:
    found, _ = level_text(value, field)
    # A bare number here is a trail offset in price units, not a price level.
    return spec(found.value, PriceUnit.POINTS, field) if found.is_price else found


def _brackets(f: Fields, side: Side | None) -> tuple[BracketLeg, ...]:
    take = maybe(level_text, f.get("take_profit"), "take_profit")
    stop = maybe(level_text, f.get("stop_loss", "stop_loss_stop"), "stop_loss")
    limit = maybe(level_text, f.get("stop_loss_limit"), "stop_loss_limit")
    _check_sign(take, side, favourable=True, field="take_profit")
    _check_sign(stop, side, favourable=False, field="stop_loss")
    if take is None and stop is None:
        if limit is not None:
            fail("stop_loss_limit needs a stop_loss", "stop_limit_without_stop", "stop_loss_limit")
        return ()
    return (
        BracketLeg(
            take_profit=take and take[0],
            stop_loss=stop and stop[0],
            stop_limit=limit and limit[0],
        ),
    )


def _check_sign(
    found: tuple[PriceSpec, int] | None, side: Side | None, *, favourable: bool, field: str
) -> None:
    if found is None or side is None or found[1] == 0:
        return
    expected = 1 if (side is Side.BUY) == favourable else -1
    if found[1] != expected:
        fail(f"{field} points the wrong way for a {side}", "bracket_wrong_side", field)
