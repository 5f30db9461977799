"""Read the simple JSON shapes many bridges and scripts send: a symbol and an action or side.

The most common minimal alert, ``{"secret", "symbol", "action", "quantity"}``, is one of them,
as is ``{symbol, side, quantity, price}``. ``action`` (or ``side`` alone) is ``buy``/``long``,
``sell``/``short``, ``exit``, ``close``, ``flat``/``flatten``, ``cancel``, ``reverse``, ``add``,
``exit_long``/``close_long`` (sell to leave a long) or ``exit_short``/``close_short``. Given
both, ``action`` says what to do (``entry``/``enter``/``open`` or any word above) and ``side``
which way; for an exit ``side`` names the position being left (``long`` or ``buy`` leaves a long
with a sell), as the ``webhook_type`` shape documents.

Every field that changes the order is read, under its usual spellings: ``quantity``/``qty``/
``contracts``; ``order_type``/``orderType``/``type`` (a ``type`` naming a stop loss or take
profit is refused, never read as a market order); ``limit_price``, ``stop_price``; ``price``
(the reference price, or the limit or stop price of such an order that gives none other);
``time_in_force``/``tif``; ``take_profit``/``tp`` and ``stop_loss``/``sl`` as a price or a
distance (``"20 ticks"``); ``account``/``accounts``; the strategy's position placeholders
(``market_position``, ``position_size``, ...; see ``positions``). Any other field that would
change the order (``trail``, ``leverage``, ``delay``...) is refused (``unsupported_field``);
the rest goes to the journal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TypeVar

from shared.domain.alerts.coerce import fail, maybe, to_datetime, to_decimal, to_text
from shared.domain.alerts.common import accounts, level, read_side, read_symbol, read_tif
from shared.domain.alerts.fields import Fields, extras_of, refuse_unread
from shared.domain.alerts.orders import read_order_type
from shared.domain.alerts.positions import (
    JSON_NAMES,
    ignored_on_exit,
    read_placeholders,
    resolve,
)
from shared.domain.signal import BracketLeg, Intent, OrderType, Side, Signal

NAME = "simple_json"
T = TypeVar("T")

# A word alone: the intent, and the closing side when the word names it.
ACTIONS: dict[str, tuple[Intent, Side | None]] = {
    "buy": (Intent.BUY, None),
    "long": (Intent.BUY, None),
    "sell": (Intent.SELL, None),
    "short": (Intent.SELL, None),
    "exit": (Intent.EXIT, None),
    "close": (Intent.CLOSE, None),
    "flat": (Intent.FLAT, None),
    "flatten": (Intent.FLAT, None),
    "cancel": (Intent.CANCEL, None),
    "reverse": (Intent.REVERSE, None),
    "add": (Intent.ADD, None),
    "exit_long": (Intent.EXIT, Side.SELL),
    "exitlong": (Intent.EXIT, Side.SELL),
    "close_long": (Intent.CLOSE, Side.SELL),
    "closelong": (Intent.CLOSE, Side.SELL),
    "exit_short": (Intent.EXIT, Side.BUY),
    "exitshort": (Intent.EXIT, Side.BUY),
    "close_short": (Intent.CLOSE, Side.BUY),
    "closeshort": (Intent.CLOSE, Side.BUY),
}
_ENTRY_WORDS = frozenset({"entry", "enter", "open"})
_LEAVING = frozenset({Intent.EXIT, Intent.CLOSE, Intent.FLAT})
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})


def detect(data: Mapping[str, object]) -> bool:
    """Recognise the simple shapes by ``symbol`` with an ``action`` or a ``side``."""
    return "symbol" in data and ("side" in data or "action" in data)


def read(data: Mapping[str, object]) -> Signal:
    """Build a signal from a simple ``{symbol, action|side, quantity, ...}`` object."""
    return read_simple(data, NAME)


def _word(value: object, field: str) -> str:
    word = to_text(value, field, max_chars=20)
    return word.lower().replace("-", "_") if word.isascii() else ""


def _choose(word: str, field: str) -> tuple[Intent, Side | None]:
    found = ACTIONS.get(word)
    if found is None:
        allowed = ", ".join(
            sorted({*ACTIONS, *_ENTRY_WORDS} - {"exitlong", "closelong", "exitshort", "closeshort"})
        )
        fail(f"{field} must be one of {allowed}", "invalid_choice", field)
    return found


def read_intent(f: Fields, data: Mapping[str, object]) -> tuple[Intent, Side | None]:
    """Read what the alert asks for from ``action`` and/or ``side``, as the module describes."""
    action, side_word = f.get("action"), f.get("side")
    if action is None and side_word is None:
        field = "side" if "side" in data else "action"
        fail(f"{field} is required", "missing_field", field)
    if action is None:
        return _choose(_word(side_word, "side"), "side")
    word = _word(action, "action")
    side = maybe(read_side, side_word, "side")
    if word in _ENTRY_WORDS:
        if side is None:
            fail(f"action {word} needs a side", "missing_field", "side")
        return (Intent.BUY if side is Side.BUY else Intent.SELL), side
    intent, closing = _choose(word, "action")
    if side is None:
        return intent, closing
    if intent in _LEAVING:
        # For an exit, side names the position being left (long or buy: leave a long).
        leaving = side.opposite
        if closing is not None and closing is not leaving:
            fail(f"action {word} and side {side} disagree", "conflicting_side", "side")
        return intent, leaving
    if intent in (Intent.BUY, Intent.SELL) and side is not (
        Side.BUY if intent is Intent.BUY else Side.SELL
    ):
        fail(f"action {word} contradicts side {side}", "conflicting_side", "side")
    return intent, side


def read_simple(data: Mapping[str, object], source: str) -> Signal:
    """Read a simple shape; ``source`` names the format (``simple_json`` or ``webhook_type``)."""
    f = Fields(data)
    intent, side = read_intent(f, data)
    quantity, quantity_field = f.get_named("quantity", "qty", "contracts")
    placeholders = read_placeholders(f, JSON_NAMES)
    reading = resolve(intent, side, placeholders)
    reading.check_quantity(placeholders, quantity, quantity_field)
    kind, limit, stop, price = _order(f)
    take, take_field = f.get_named("take_profit", "takeProfit", "tp")
    stop_loss, stop_field = f.get_named("stop_loss", "stopLoss", "sl")
    symbol = read_symbol(f.get("symbol"), "symbol", f.get("exchange"))
    tif = _named(f, read_tif, "time_in_force", "timeInForce", "tif")
    chosen = _named(f, accounts, "accounts", "account", "account_id") or ()
    tv_time = _named(f, to_datetime, "time", "timenow")
    strategy = maybe(to_text, f.get("strategy"), "strategy")
    rest = f.rest()
    refuse_unread(rest, source)
    brackets: tuple[BracketLeg, ...] = ()
    if reading.exits:
        rest.update(ignored_on_exit({take_field: take, stop_field: stop_loss}))
    elif take is not None or stop_loss is not None:
        leg = BracketLeg(
            take_profit=maybe(level, take, take_field),
            stop_loss=maybe(level, stop_loss, stop_field),
        )
        brackets = (leg,)
    return Signal(
        source=source,
        intent=reading.intent,
        side=reading.side,
        symbol=symbol,
        quantity=maybe(to_decimal, quantity, quantity_field),
        order_type=kind,
        limit_price=limit,
        stop_price=stop,
        time_in_force=tif,
        signal_price=price,
        brackets=brackets,
        target=reading.target,
        accounts=chosen,
        tv_time=tv_time,
        strategy=strategy,
        extras=extras_of(rest),
    )


def _named(f: Fields, convert: Callable[[object, str], T], *names: str) -> T | None:
    value, name = f.get_named(*names)
    return maybe(convert, value, name)


def _order(
    f: Fields,
) -> tuple[OrderType | None, Decimal | None, Decimal | None, Decimal | None]:
    """Return the order type and its limit, stop and reference prices."""
    raw_kind, kind_field = f.get_named("order_type", "orderType", "type")
    kind = maybe(read_order_type, raw_kind, kind_field)
    limit, limit_field = f.get_named("limit_price", "limitPrice")
    stop, stop_field = f.get_named("stop_price", "stopPrice")
    price = f.get("price")
    if kind is None and limit is not None:
        kind = OrderType.STOP_LIMIT if stop is not None else OrderType.LIMIT
    elif kind is None and stop is not None:
        kind = OrderType.STOP
    # A limit or stop order with only "price" rests at that price (PickMyTrade's reading too).
    if kind in _PRICED and limit is None and price is not None:
        limit, limit_field, price = price, "price", None
    elif kind is OrderType.STOP and stop is None and price is not None:
        stop, stop_field, price = price, "price", None
    return (
        kind,
        maybe(to_decimal, limit, limit_field),
        maybe(to_decimal, stop, stop_field),
        maybe(to_decimal, price, "price"),
    )
