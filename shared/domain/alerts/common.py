"""Read the pieces several formats share: bracket levels, accounts, symbols, sides.

Position placeholders (``market_position`` and friends) are read by ``positions``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

from shared.domain.alerts.coerce import fail, to_choice, to_decimal, to_text
from shared.domain.alerts.positions import MARKET_POSITIONS
from shared.domain.errors import InvalidSignal
from shared.domain.signal import (
    AccountSelector,
    MarketPosition,
    OrderType,
    PriceSpec,
    PriceUnit,
    Side,
    TimeInForce,
)
from shared.domain.symbols import SymbolRef, parse_symbol

SIDES: dict[str, Side] = {"buy": Side.BUY, "sell": Side.SELL, "long": Side.BUY, "short": Side.SELL}
TIMES_IN_FORCE: dict[str, TimeInForce] = {tif.value: tif for tif in TimeInForce}
UNITS: dict[str, PriceUnit] = {unit.value: unit for unit in PriceUnit}

# ASCII only (see coerce); the text is at most 40 characters before this runs.
_LEVEL_RE = re.compile(
    r"(?P<sign>[+-])?\s*(?P<dollar>\$)?\s*(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*"
    r"(?P<unit>%|ticks?|t|points?|pts?|dollars?|usd)?",
    re.IGNORECASE | re.ASCII,
)
_UNIT_WORDS: dict[str, PriceUnit] = {
    "%": PriceUnit.PERCENT,
    "t": PriceUnit.TICKS,
    "tick": PriceUnit.TICKS,
    "ticks": PriceUnit.TICKS,
    "point": PriceUnit.POINTS,
    "points": PriceUnit.POINTS,
    "pt": PriceUnit.POINTS,
    "pts": PriceUnit.POINTS,
    "dollar": PriceUnit.DOLLARS,
    "dollars": PriceUnit.DOLLARS,
    "usd": PriceUnit.DOLLARS,
}


def read_side(value: object, field: str) -> Side:
    """Read a side: buy/sell (or long/short), any case."""
    return to_choice(value, field, SIDES)


def read_tif(value: object, field: str) -> TimeInForce:
    """Read a time in force by its name (day, gtc, gtd, ioc, fok), any case."""
    return to_choice(value, field, TIMES_IN_FORCE)


def read_symbol(value: object, field: str, exchange: object | None = None) -> SymbolRef:
    """Read a symbol field, with TradingView's separate ``{{exchange}}`` when sent."""
    if value is None:
        fail(f"{field} is required", "missing_field", field)
    venue = to_text(exchange, "exchange", max_chars=32) if exchange is not None else None
    text = to_text(value, field, max_chars=40)
    # Tickers are ASCII; NQZ with a fullwidth 2024 must not become a contract (\d is Unicode).
    if not text.isascii() or not (venue or "").isascii():
        fail(f"{field} must be written in ASCII letters and digits", "invalid_symbol", field)
    return parse_symbol(text, exchange=venue)


def level_text(value: object, field: str) -> tuple[PriceSpec, int]:
    """Read ``25 ticks``, ``-10 ticks``, ``+1.5%``, ``8 points``, ``$200`` or a price.

    Returns the level and the sign written in front of it (0 when none), so a reader can reject
    a distance pointing the wrong way.
    """
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return PriceSpec(to_decimal(value, field), PriceUnit.PRICE), 0
    text = to_text(value, field, max_chars=40)
    match = _LEVEL_RE.fullmatch(text)
    if match is None:
        fail(
            f"{field} must be a price or a distance like '25 ticks' or '1.5%'",
            "invalid_level",
            field,
        )
    unit_word = (match["unit"] or "").lower()
    if match["dollar"]:
        unit = PriceUnit.DOLLARS if not unit_word else None
    else:
        unit = _UNIT_WORDS.get(unit_word, PriceUnit.PRICE)
    sign = {"+": 1, "-": -1}.get(match["sign"] or "", 0)
    if unit is None or (unit is PriceUnit.PRICE and sign):
        fail(f"{field}: {text!r} mixes units or signs a price", "invalid_level", field)
    return spec(to_decimal(match["number"], field), unit, field), sign


def level(value: object, field: str) -> PriceSpec:
    """Read a level given as a number (a price), as text, or as ``{"ticks": 40}``."""
    if isinstance(value, Mapping):
        present = [(str(k), v) for k, v in value.items() if v is not None]
        only = present[0][0] if len(present) == 1 else ""
        unit = UNITS.get(only.lower()) if only.isascii() else None
        if unit is None:
            fail(f"{field} needs exactly one of {', '.join(UNITS)}", "invalid_level", field)
        unit_name, amount = present[0]
        return spec(to_decimal(amount, f"{field}.{unit_name}"), unit, field)
    found, sign = level_text(value, field)
    if sign < 0:
        fail(f"{field} is a distance; give it without a minus sign", "invalid_level", field)
    return found


def spec(amount: Decimal, unit: PriceUnit, field: str) -> PriceSpec:
    """Build a level, blaming ``field`` when it is not valid."""
    try:
        return PriceSpec(amount, unit)
    except InvalidSignal as exc:  # name the alert's field, not the model's
        fail(exc.message, exc.code, field)


def accounts(value: object, field: str) -> tuple[AccountSelector, ...]:
    """Read accounts as ``"A,B"``, ``["A", "B"]`` or objects with an account and a multiplier."""
    if isinstance(value, str):
        items: Sequence[object] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = value
    else:
        items = [value]
    selectors = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if isinstance(item, Mapping):
            name = item.get("account_id", item.get("account"))
            multiplier = item.get("quantity_multiplier")
            selectors.append(
                AccountSelector(
                    to_text(name, f"{where}.account_id", max_chars=64),
                    to_decimal(multiplier, f"{where}.quantity_multiplier")
                    if multiplier not in (None, "")
                    else None,
                )
            )
        else:
            selectors.append(AccountSelector(to_text(item, where, max_chars=64)))
    return tuple(selectors)


def infer_order_type(
    kind: OrderType | None, limit: object | None, stop: object | None, trail: object | None
) -> OrderType | None:
    """Name the order type from the prices sent when the alert gave none."""
    if kind is not None:
        return kind
    if limit is not None:
        return OrderType.STOP_LIMIT if stop is not None else OrderType.LIMIT
    if trail is not None:
        return OrderType.TRAILING_STOP
    return OrderType.STOP if stop is not None else None


def positions(value: object, field: str) -> tuple[MarketPosition, ...]:
    """Read a set of positions as ``"flat/short"``, ``"flat,short"`` or a list."""
    items = re.split(r"[,/|]", value) if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        fail(f"{field} must be a list of positions", "invalid_choice", field)
    return tuple(
        dict.fromkeys(to_choice(item, field, MARKET_POSITIONS) for item in items if item != "")
    )
