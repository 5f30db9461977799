"""Read CrossTrade ``key=value;`` alerts (tradingview.md §1.3), detected by their ``command`` field.

Keys are case-insensitive and pairs may sit on one line or many. Bracket levels are a price,
``±N ticks``, ``±N points`` or ``±N%``, a direction from the price as CrossTrade documents it
(no sign is ``+``, above); one pointing the wrong way for the order side (a take profit of
``-20 ticks`` on a buy, a stop loss of ``20 ticks`` on a buy) is refused. Commands that act
beyond one instrument or need a broker order id (``FLATTENEVERYTHING``, ``CANCELALLORDERS``,
``CHANGE`` ...) are refused.

As CrossTrade documents them (docs/reference/alert-vendors.md §4): ``rate_limit=1[/seconds]``
with ``id`` names a rate-limit group, one alert per window (:func:`rate_group`; the webhook
claims it), never a day-long de-duplication id, and ``id`` alone is only journaled;
``cancel_after`` (minutes) makes a limit entry good till then; ``sync_strategy``'s
``market_position``/``prev_market_position``/``target_quantity`` are TradingView's position
fields (``positions``); ``bypass_trade_windows=true`` lets the alert through outside the
strategy's trading windows (any other value is false, as CrossTrade says). ``delay``,
``append_atm``, ``strategy`` on an order (a NinjaTrader ATM template) and ``max_position``
change the trade in ways Tradovate cannot, and are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from shared.domain.alerts.coerce import (
    fail,
    maybe,
    to_bool,
    to_choice,
    to_decimal,
    to_int,
    to_text,
)
from shared.domain.alerts.common import (
    accounts,
    infer_order_type,
    level_text,
    positions,
    read_side,
    read_symbol,
    read_tif,
    spec,
)
from shared.domain.alerts.fields import Fields, extras_of, refuse_unread
from shared.domain.alerts.positions import (
    CROSSTRADE_NAMES,
    ignored_on_exit,
    read_placeholders,
    resolve,
)
from shared.domain.alerts.rate_group import MAX_WINDOW_S, RateGroup
from shared.domain.signal import (
    BracketLeg,
    Intent,
    OrderType,
    PriceSpec,
    PriceUnit,
    Side,
    Signal,
    TimeInForce,
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
# CrossTrade options that change the trade in ways Tradebridge does not: refused, not dropped.
_UNSUPPORTED_OPTIONS = ("delay", "append_atm", "max_position", "max_positions",
                        "strategy_exit_block")  # fmt: skip
_UNSUPPORTED_WHY = {
    "delay": "orders go out at once (delay the alert itself instead)",
    "append_atm": "NinjaTrader ATM templates do not exist at Tradovate; give take_profit/stop_loss",
    "strategy": "on an order it names a NinjaTrader ATM template, which does not exist at "
    "Tradovate; give take_profit/stop_loss",
    "max_position": "position limits live in the strategy file (risk.max_position)",
    "max_positions": "position limits live in the strategy file (risk.max_position)",
}
_BRACKET_FIELDS = ("take_profit", "stop_loss", "stop_loss_stop", "stop_loss_limit")
_DEFAULT_WINDOW_S = 60  # "rate_limit=1;" is one alert every 60 seconds
# cancel_after: 1-60 minutes for NinjaTrader, 1-180 with destination=tradovate.
_MAX_CANCEL_AFTER_MIN = 180
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
    _refuse_unsupported(f, opening=intent is Intent.BUY or intent is Intent.REVERSE)
    side = maybe(read_side, f.get("action"), "action")
    if intent is Intent.BUY:
        if side is None:
            fail(f"{command.upper()} needs action=BUY or SELL", "missing_field", "action")
        intent = Intent.BUY if side is Side.BUY else Intent.SELL
    quantity = f.get("qty", "quantity")
    placeholders = read_placeholders(f, CROSSTRADE_NAMES)
    reading = resolve(intent, side, placeholders)
    reading.check_quantity(placeholders, quantity, "qty")
    kind = maybe(_order_type, f.get("order_type"), "order_type")
    limit, stop = f.get("limit_price"), f.get("stop_price")
    trail = maybe(_distance, f.get("trail_offset", "peg_difference"), "trail_offset")
    kind = infer_order_type(kind, limit, stop, trail)
    tif, expires_after_s = _lifetime(f, kind)
    if reading.exits:
        for name in _BRACKET_FIELDS:
            f.get(name)
        brackets: tuple[BracketLeg, ...] = ()
    else:
        brackets = _brackets(f, reading.side or side)
    symbol = read_symbol(f.get("instrument"), "instrument")
    required = maybe(positions, f.get("require_market_position"), "require_market_position")
    flatten_first = command == "flatplace" or maybe(
        to_bool, f.get("flatten_first"), "flatten_first"
    )
    chosen = maybe(accounts, f.get("account"), "account") or ()
    # "Any other value will not be evaluated and treated as false" (CrossTrade's docs).
    bypass = str(f.get("bypass_trade_windows") or "").strip().lower() == "true"
    group = _group_fields(f)
    strategy = maybe(to_text, f.get("strategy"), "strategy")
    rest = {**f.rest(), **group}
    refuse_unread(rest, NAME)
    if reading.exits:
        rest.update(ignored_on_exit({name: data.get(name) for name in _BRACKET_FIELDS}))
    return Signal(
        source=NAME,
        intent=reading.intent,
        side=reading.side,
        symbol=symbol,
        quantity=maybe(to_decimal, quantity, "qty"),
        order_type=kind,
        limit_price=maybe(_absolute, limit, "limit_price"),
        stop_price=maybe(_absolute, stop, "stop_price"),
        trail=trail,
        time_in_force=tif,
        expires_after_s=expires_after_s,
        brackets=brackets,
        target=reading.target,
        required_positions=required or (),
        flatten_first=bool(flatten_first),
        bypass_windows=bypass,
        accounts=chosen,
        strategy=strategy,
        extras=extras_of(rest),
    )


def _refuse_unsupported(f: Fields, *, opening: bool) -> None:
    names = _UNSUPPORTED_OPTIONS + (("strategy",) if opening else ())
    for name in names:
        if f.has(name):
            fail(
                f"{name} is a CrossTrade option Tradebridge does not act on: "
                f"{_UNSUPPORTED_WHY.get(name, 'it would change the order')}",
                "unsupported_field",
                name,
            )


def _lifetime(f: Fields, kind: OrderType | None) -> tuple[TimeInForce | None, int | None]:
    """Read ``tif`` and ``cancel_after`` (minutes until an unfilled limit entry is cancelled)."""
    tif = maybe(read_tif, f.get("tif"), "tif")
    minutes = maybe(to_int, f.get("cancel_after"), "cancel_after")
    if minutes is None:
        return tif, None
    if not 1 <= minutes <= _MAX_CANCEL_AFTER_MIN:
        fail(
            f"cancel_after must be 1-{_MAX_CANCEL_AFTER_MIN} minutes",
            "invalid_number",
            "cancel_after",
        )
    if kind not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        fail("cancel_after applies to limit orders", "conflicting_fields", "cancel_after")
    if tif not in (None, TimeInForce.DAY, TimeInForce.GTC):
        fail(f"cancel_after cannot go with tif {tif}", "conflicting_fields", "cancel_after")
    # Good till the timeout: Tradovate cancels it then, as CrossTrade's Tradovate path does.
    return TimeInForce.GTD, minutes * 60


def _group_fields(f: Fields) -> dict[str, object]:
    """Take ``rate_limit`` and ``id`` (checked by :func:`rate_group`); keep them for the journal."""
    rate_limit, group = f.get("rate_limit"), f.get("id")
    return {name: value for name, value in (("rate_limit", rate_limit), ("id", group)) if value}


def rate_group(data: Mapping[str, object]) -> RateGroup | None:
    """Return the rate-limit group ``rate_limit=N[/seconds];id=NAME;`` names, if any.

    ``id`` alone names nothing CrossTrade acts on and is only journaled; a ``rate_limit`` needs
    an ``id``. Only one alert per window is supported: ``rate_limit=3/900`` would need a
    counter per group, so it is refused rather than read as one alert per 900 seconds.
    """
    f = Fields(data)
    raw, name = f.get("rate_limit"), f.get("id")
    if raw is None:
        return None
    text = to_text(raw, "rate_limit", max_chars=20)
    count_text, slash, window_text = text.partition("/")
    count = to_int(count_text, "rate_limit")
    window_s = to_int(window_text, "rate_limit") if slash else _DEFAULT_WINDOW_S
    if count < 1 or not 1 <= window_s <= MAX_WINDOW_S:
        fail(
            "rate_limit must be N or N/seconds, with at most 86400 seconds",
            "invalid_number",
            "rate_limit",
        )
    if count != 1:
        fail(
            f"rate_limit={text}: only one alert per window is supported (rate_limit=1/{window_s})",
            "unsupported_value",
            "rate_limit",
        )
    if name is None:
        fail("rate_limit needs an id naming the group it limits", "missing_field", "id")
    return RateGroup(to_text(name, "id", max_chars=128), window_s)


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
    """Refuse a distance that CrossTrade would put on the losing side of a take profit, or the
    winning side of a stop loss. CrossTrade documents a relative level as a direction from
    the price: positive (written ``+`` or with no sign) above it, negative below it. So a
    buy's stop and a sell's take profit need the minus sign; without it CrossTrade would
    place them above the price, and Tradebridge refuses rather than guess."""
    if found is None or side is None or found[0].unit is PriceUnit.PRICE:
        return  # an absolute price is held to the entry when the plan is made
    written = found[1] or 1
    expected = 1 if (side is Side.BUY) == favourable else -1
    if written != expected:
        needed = "a minus sign (below the price)" if expected < 0 else "no minus sign"
        fail(
            f"{field} points the wrong way for a {side}: CrossTrade reads it as a level "
            f"{'above' if written > 0 else 'below'} the price; it needs {needed}",
            "bracket_wrong_side",
            field,
        )
