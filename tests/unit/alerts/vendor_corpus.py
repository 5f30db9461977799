"""Alerts written the way each vendor's docs and TradingView's placeholder docs show them.

Every case names where its shape comes from, the body as TradingView would send it (the
placeholders filled as a strategy's fill would fill them), and what it must mean: the trade it
reads as (:func:`reading` of the signal: intent, side, quantity, order type, prices, brackets,
target position, accounts) or the code it is refused with. ``strategy`` picks the test strategy:
``open`` trades any known product, ``mnq-only`` has the allowlist ``["MNQ"]``. Refusals that
only the webhook can make (``unknown_symbol``, from the strategy file;
``unsupported_quantity_unit``, an entry sized in a unit no plan can use) are marked ``door``.

The corpus is read in-process by ``test_vendor_corpus`` and sent through the real webhook over
the dev host by ``tests/integration/test_vendor_corpus_devhost``. Vendors' own examples use
stock tickers (``SQ``, ``AAPL``); here the same shapes carry futures (MNQ, NQ1!, ES 09-26).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.domain.signal import Signal
from tests.unit.alerts.summary import summarise

SECRET = "vendor-corpus-secret"

# Sources (tradingview.md and docs/reference/alert-vendors.md quote them).
TP_WEBHOOKS = "https://docs.traderspost.io/docs/core-concepts/webhooks"
TP_SPEC = "https://github.com/TradersPost/docs/blob/main/webhook-spec.json"
TP_SENTIMENT = "https://traderspost.io/reference/strategy-message/no-entry-sentiment"
TP_PARTIAL = "https://traderspost.io/reference/strategy-message/exit-partial-position"
TP_REVERSE = "https://traderspost.io/reference/strategy-message/sides-swapping-disabled"
TP_TRAIL = (
    "https://blog.traderspost.io/article/enhancing-your-trading-with-tradovate-introducing-"
    "trailing-stops"
)
TP_EXIT_FLAT = (
    "https://blog.traderspost.io/article/action-exit-vs-sentiment-flat-key-differences-explained"
)
TP_DELAY = "https://traderspost.io/reference/webhook-field/delay"
PMT_JSON = "https://docs.pickmytrade.trade/docs/tradingview-json-alert-configuration"
PMT_BE = "https://docs.pickmytrade.trade/docs/breakeven-offset-tradovate-automation-pickmytrade"
PMT_VALIDATOR = "https://github.com/bhavishyagoyal12/pickmytrade_validation (validator.py)"
PMT_STACKING = "https://docs.pickmytrade.trade/?p=1149 (pyramid and reverse_order_close)"
CT_PAYLOAD = "https://crosstrade.io/answers/faq/payload-reference"
CT_BRACKETS = "https://docs.crosstrade.io/webhooks/advanced-options/bracket-orders"
CT_RATE = "https://docs.crosstrade.io/webhooks/advanced-options/rate-limiting"
CT_DELAY = "https://docs.crosstrade.io/webhooks/advanced-options/delay-timer"
CT_TIMEOUT = "https://docs.crosstrade.io/webhooks/advanced-options/limit-order-timeouts"
CT_SYNC = "https://docs.crosstrade.io/webhooks/advanced-options/strategy-synchronization"
CT_POSITIONS = "https://crosstrade.io/answers/faq/position-management"
CT_API = "https://xt-docs.pages.dev/api/orders/post-place-order"
CT_BYPASS = "https://docs.crosstrade.io/webhooks/advanced-options/bypass-trade-windows"
CT_TRADOVATE = "https://crosstrade.io/docs/webhooks/tradovate-advanced"
TV_VARIABLES = "https://www.tradingview.com/support/solutions/43000531021"
TV_STRATEGY = "https://www.tradingview.com/support/solutions/43000481368"
README = "README.md, First alert and Alert formats"
BRIDGES = "tradingview.md §1.6 (common spellings of open-source bridges)"

# What a reading compares: the trade, not the journal's extras or times.
READING_KEYS = (
    "intent", "symbol", "side", "quantity", "quantity_unit", "order_type", "limit_price",
    "stop_price", "signal_price", "trail", "time_in_force", "expires_after_s", "brackets",
    "target", "required_positions", "flatten_first", "position_rules", "bypass_windows",
    "accounts",
)  # fmt: skip


def reading(signal: Signal) -> dict[str, Any]:
    """Return the part of a signal's summary that says what it trades."""
    summary = summarise(signal)
    return {key: summary[key] for key in READING_KEYS if key in summary}


@dataclass(frozen=True)
class Case:
    """One alert body and what it must mean."""

    name: str
    source: str
    body: str
    expect: dict[str, Any] | None = None
    code: str | None = None
    strategy: str = "open"
    door: bool = False  # refused by the webhook (strategy file), not by the reader
    extras: dict[str, Any] = field(default_factory=dict)  # expected journal extras, when checked


CASES: list[Case] = []


def ok(name: str, source: str, body: dict[str, Any] | str, strategy: str = "open", **expect: Any):
    """Add an accepted case; ``expect`` is its reading."""
    CASES.append(Case(name, source, _text(body), expect=expect, strategy=strategy))


def no(
    name: str,
    source: str,
    body: dict[str, Any] | str,
    code: str,
    *,
    strategy: str = "open",
    door: bool = False,
) -> None:
    """Add a refused case."""
    CASES.append(Case(name, source, _text(body), code=code, strategy=strategy, door=door))


def _text(body: dict[str, Any] | str) -> str:
    return body if isinstance(body, str) else json.dumps(body)


def tp(**fields: Any) -> dict[str, Any]:
    """A TradersPost body (its password travels in the URL; Tradebridge's secret in the body)."""
    return {"ticker": "MNQ", "secret": SECRET, **fields}


def pmt(**fields: Any) -> dict[str, Any]:
    """A PickMyTrade body: the secret is its token."""
    return {"symbol": "NQ1!", "date": "2025-04-10T14:31:00Z", **fields, "token": SECRET}


def ct(*pairs: str, sep: str = " ") -> str:
    """A CrossTrade body: key=value; pairs, the secret as key."""
    return sep.join([f"key={SECRET};", *(f"{pair};" for pair in pairs)])


def native(**fields: Any) -> dict[str, Any]:
    """A native body."""
    return {"secret": SECRET, **fields}


def simple(**fields: Any) -> dict[str, Any]:
    """A simple-shape body."""
    return {"secret": SECRET, **fields}


def flat_target(prev: str | None = None, prev_size: str | None = None, **more: Any) -> dict:
    out: dict[str, Any] = {"market_position": "flat", "size": "0"}
    if prev:
        out["prev_market_position"] = prev
    if prev_size is not None:
        out["prev_size"] = prev_size
    return {**out, **more}


# --- 1. TradingView strategy fills, every format -----------------------------------------------
# (action, contracts, position after, its size, position before, its size) as TradingView's
# {{strategy.order.action}}, {{strategy.order.contracts}}, {{strategy.market_position}},
# {{strategy.market_position_size}}, {{strategy.prev_market_position}} and
# {{strategy.prev_market_position_size}} fill them (TV_VARIABLES, TV_STRATEGY), and the reading:
# (intent, side of an exit or reversal).
FILLS = [
    ("open_long", "buy", 1, "long", 1, "flat", 0, "buy", None),
    ("close_long", "sell", 1, "flat", 0, "long", 1, "exit", "sell"),
    ("reverse_long_to_short", "sell", 2, "short", 1, "long", 1, "reverse", "sell"),
    ("reduce_long", "sell", 1, "long", 1, "long", 2, "exit", "sell"),
    ("add_long", "buy", 1, "long", 2, "long", 1, "buy", None),
    ("close_short", "buy", 1, "flat", 0, "short", 1, "exit", "buy"),
    ("open_short", "sell", 2, "short", 2, "flat", 0, "sell", None),
    ("reverse_short_to_long", "buy", 3, "long", 1, "short", 2, "reverse", "buy"),
    ("reduce_short", "buy", 2, "short", 1, "short", 3, "exit", "buy"),
]


def _signed(position: str, size: int) -> str:
    return str(-size if position == "short" else size)


def _target(after: str, size: int, prev: str | None, prev_size: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"market_position": after, "size": str(size)}
    if prev is not None:
        out["prev_market_position"] = prev
    if prev_size is not None:
        out["prev_size"] = str(prev_size)
    return out


def _fill_reading(
    intent: str, side: str | None, qty: int, target: dict[str, Any], **more: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"intent": intent, "symbol": "NQ1!"}
    if side is not None:
        out["side"] = side
    out["quantity"] = str(qty)
    return {**out, **more, "target": target}


for name, act, qty, after, size, prev, psize, intent, side in FILLS:
    full = _target(after, size, prev, psize)
    ok(
        f"native_fill_{name}",
        TV_VARIABLES,
        native(intent=act, symbol="NQ1!", quantity=str(qty), signal_price="18000.25",
               market_position=after, market_position_size=str(size),
               prev_market_position=prev, prev_market_position_size=str(psize),
               time="2025-03-14T14:30:05Z"),
        **_fill_reading(intent, side, qty, full, signal_price="18000.25"),
    )  # fmt: skip
    ok(
        f"traderspost_fill_{name}",
        TP_WEBHOOKS + " + " + TV_VARIABLES,
        tp(ticker="NQ1!", action=act, quantity=str(qty), price="18000.25",
           market_position=after, market_position_size=str(size), prev_market_position=prev,
           prev_market_position_size=str(psize)),
        **_fill_reading(intent, side, qty, full, signal_price="18000.25"),
    )  # fmt: skip
    ok(
        f"simple_fill_signed_size_{name}",
        BRIDGES + " + " + TV_VARIABLES,
        simple(symbol="NQ1!", action=act, quantity=qty, market_position=after,
               position_size=_signed(after, size), prev_market_position=prev),
        **_fill_reading(intent, side, qty, _target(after, size, prev, None)),
    )  # fmt: skip
    ok(
        f"pickmytrade_fill_{name}",
        PMT_JSON + " + " + TV_VARIABLES,
        pmt(data=act, quantity=str(qty), price="18000.25", order_type="MKT",
            market_position=after, market_position_size=str(size), prev_market_position=prev),
        **_fill_reading(intent, side, qty, _target(after, size, prev, None),
                        order_type="market", signal_price="18000.25"),
    )  # fmt: skip
    ok(
        f"crosstrade_sync_fill_{name}",
        CT_SYNC,
        ct("command=PLACE", "account=Sim101", "instrument=NQ1!", f"action={act.upper()}",
           f"qty={qty}", "order_type=MARKET", "tif=DAY", "sync_strategy=true",
           f"market_position={after}", f"prev_market_position={prev}",
           f"target_quantity={_signed(after, size)}"),
        **_fill_reading(intent, side or act, qty, _target(after, size, prev, None),
                        order_type="market", time_in_force="day", accounts=["Sim101"]),
    )  # fmt: skip
    ok(
        f"webhook_type_fill_{name}",
        "README.md, Simple shapes + " + TV_VARIABLES,
        simple(webhook_type="TradingView", action=act, symbol="NQ1!", quantity=str(qty),
               market_position=after, position_size=_signed(after, size)),
        **_fill_reading(intent if intent != "reverse" else act, side if intent != "reverse"
                        else None, qty, _target(after, size, None, None)),
    )  # fmt: skip

# TradersPost's own template: sentiment = {{strategy.market_position}}, no sizes (TP_SENTIMENT).
SENTIMENT_FILLS = [
    ("open_long", "buy", 1, "long", {"intent": "buy", "target": {"market_position": "long"}}),
    ("close_long", "sell", 1, "flat",
     {"intent": "exit", "side": "sell", "target": flat_target()}),
    ("reverse_to_short", "sell", 2, "short",
     {"intent": "sell", "target": {"market_position": "short"}}),
    ("reduce_long", "sell", 1, "long", {"intent": "exit", "side": "sell"}),
    ("close_short", "buy", 1, "flat", {"intent": "exit", "side": "buy", "target": flat_target()}),
    ("reduce_short", "buy", 2, "short", {"intent": "exit", "side": "buy"}),
]  # fmt: skip
for name, act, qty, sentiment, expect in SENTIMENT_FILLS:
    target = expect.get("target")
    if target is not None:
        target = {**target, "from_sentiment": True}
    ok(
        f"traderspost_sentiment_{name}",
        TP_SENTIMENT,
        tp(ticker="NQ1!", action=act, sentiment=sentiment, quantity=str(qty)),
        **{k: v for k, v in expect.items() if k != "target"},
        symbol="NQ1!",
        quantity=str(qty),
        **({"target": target} if target else {}),
    )

for name, act, after, expect in [
    ("buy_long", "buy", "long", {"intent": "buy"}),
    ("sell_flat", "sell", "flat", {"intent": "exit", "side": "sell"}),
]:
    target = {"market_position": after, "size": "1" if after == "long" else "0"}
    ok(
        f"native_text_fill_{name}",
        "README.md, Native key=value lines + " + TV_VARIABLES,
        f"secret={SECRET}\naction={act}\nticker=NQ1!\nqty=1\nmarket_position={after}\n"
        f"position_size={1 if after == 'long' else 0}\ntime=2025-03-14T14:30:05Z",
        symbol="NQ1!", quantity="1", target=target, **expect,
    )  # fmt: skip

# --- 2. contradictions between the action and the positions: refused ---------------------------
for name, body in [
    ("buy_ends_flat_from_long", native(intent="buy", symbol="NQ1!", market_position="flat",
                                       prev_market_position="long")),
    ("sell_ends_flat_from_short", tp(action="sell", market_position="flat",
                                     prev_market_position="short")),
    ("sell_from_flat_ends_long", simple(symbol="NQ1!", action="sell", market_position="long",
                                        prev_market_position="flat", quantity=1)),
    ("buy_from_flat_ends_short", pmt(data="buy", quantity=1, market_position="short",
                                     prev_market_position="flat")),
    ("sell_grows_long", tp(action="sell", quantity=1, market_position="long",
                           market_position_size=3, prev_market_position="long",
                           prev_market_position_size=2)),
    ("buy_shrinks_long", native(intent="buy", symbol="NQ1!", quantity=1,
                                market_position="long", position_size=1,
                                prev_market_position="long", prev_position_size=2)),
    ("exit_ends_on_other_side", native(intent="exit", symbol="NQ1!", side="sell",
                                       market_position="short", position_size=-1)),
    ("close_leaves_a_position", pmt(data="close", quantity=0, market_position="long",
                                    market_position_size=1)),
    ("flatten_leaves_a_position", ct("command=FLATTEN", "account=Sim101", "instrument=NQ1!",
                                     "market_position=long", "target_quantity=1")),
    ("reverse_ends_flat", tp(action="reverse", market_position="flat")),
    ("add_ends_flat", native(intent="add", side="buy", symbol="NQ1!", market_position="flat")),
    ("crosstrade_buy_ends_flat_from_long", ct("command=PLACE", "account=Sim101",
                                              "instrument=NQ1!", "action=BUY", "qty=1",
                                              "order_type=MARKET", "tif=DAY",
                                              "market_position=flat",
                                              "prev_market_position=long")),
]:  # fmt: skip
    no(f"conflict_{name}", TV_VARIABLES, body, "conflicting_position")

for name, body in [
    ("long_with_negative_signed_size", native(intent="buy", symbol="NQ1!",
                                              market_position="long", position_size=-2)),
    ("sentiment_against_market_position", tp(action="sell", sentiment="flat",
                                             market_position="short")),
    ("flat_with_a_size", simple(symbol="NQ1!", action="sell", market_position="flat",
                                market_position_size=2)),
    ("sizes_disagree", tp(action="buy", market_position="long", position_size=2,
                          market_position_size=3)),
    ("unsigned_size_without_side", pmt(data="buy", quantity=1, market_position_size=2)),
]:  # fmt: skip
    no(f"inconsistent_{name}", TV_VARIABLES, body, "invalid_target_position")

no(
    "partial_exit_without_any_size",
    TV_VARIABLES,
    tp(action="sell", market_position="long"),
    "missing_field",
)

# --- 3. TradersPost, as its docs show it --------------------------------------------------------
ok("tp_enter_bullish", TP_WEBHOOKS, tp(action="buy"), intent="buy", symbol="MNQ")
ok("tp_exit", TP_WEBHOOKS, tp(action="exit"), intent="exit", symbol="MNQ")
ok("tp_enter_bearish", TP_WEBHOOKS, tp(action="sell"), intent="sell", symbol="MNQ")
ok(
    "tp_exit_bullish_with_sentiment_flat",
    TP_WEBHOOKS,
    tp(action="sell", sentiment="flat"),
    intent="exit", side="sell", symbol="MNQ", target=flat_target(from_sentiment=True),
)  # fmt: skip
ok(
    "tp_exit_bearish_with_sentiment_flat",
    TP_WEBHOOKS,
    tp(action="buy", sentiment="flat"),
    intent="exit", side="buy", symbol="MNQ", target=flat_target(from_sentiment=True),
)  # fmt: skip
ok(
    "tp_flat_exits_whatever_the_quantity",
    TP_EXIT_FLAT,
    tp(action="sell", sentiment="flat", quantity=3),
    intent="exit", side="sell", symbol="MNQ", quantity="3",
    target=flat_target(from_sentiment=True),
)  # fmt: skip
ok(
    "tp_exit_bullish_and_enter_bearish",
    TP_SENTIMENT,
    tp(action="sell", sentiment="bearish"),
    intent="sell", symbol="MNQ", target={"market_position": "short", "from_sentiment": True},
)  # fmt: skip
ok(
    "tp_exit_bearish_and_enter_bullish",
    TP_SENTIMENT,
    tp(action="buy", sentiment="bullish"),
    intent="buy", symbol="MNQ", target={"market_position": "long", "from_sentiment": True},
)  # fmt: skip
ok("tp_cancel", TP_WEBHOOKS, tp(action="cancel"), intent="cancel", symbol="MNQ")
# "The position must already be open to add to it" (TradersPost, allow-add-to-position).
ok("tp_add", TP_WEBHOOKS, tp(action="add"), intent="add", symbol="MNQ",
   required_positions=["long", "short"])  # fmt: skip
ok(
    "tp_reverse_in_one_signal",
    TP_REVERSE,
    tp(action="reverse", quantity=2),
    intent="reverse", symbol="MNQ", quantity="2",
)  # fmt: skip
ok(
    "tp_limit_order",
    TP_WEBHOOKS,
    tp(action="buy", orderType="limit", limitPrice=18500.5),
    intent="buy", symbol="MNQ", order_type="limit", limit_price="18500.5",
)  # fmt: skip
ok(
    "tp_stop_limit_order",
    TP_WEBHOOKS,
    tp(action="buy", orderType="stop_limit", stopPrice=18510, limitPrice=18512.25),
    intent="buy", symbol="MNQ", order_type="stop_limit", limit_price="18512.25",
    stop_price="18510",
)  # fmt: skip
ok(
    "tp_stop_order",
    TP_SPEC,
    tp(action="sell", orderType="stop", stopPrice=18400),
    intent="sell", symbol="MNQ", order_type="stop", stop_price="18400",
)  # fmt: skip
ok(
    "tp_exit_with_trailing_stop",
    TP_WEBHOOKS,
    tp(action="exit", orderType="trailing_stop", price=18071, trailAmount="1"),
    intent="exit", symbol="MNQ", order_type="trailing_stop", signal_price="18071",
    trail="1 points",
)  # fmt: skip
ok(
    "tp_limit_entry_with_trailing_stop_loss",
    TP_WEBHOOKS,
    tp(action="buy", orderType="limit", limitPrice=18250,
       stopLoss={"type": "trailing_stop", "trailAmount": 100}),
    intent="buy", symbol="MNQ", order_type="limit", limit_price="18250",
    brackets=[{"trailing_stop": {"distance": "100 points"}}],
)  # fmt: skip
ok(
    "tp_trailing_stop_entry_on_tradovate",
    TP_TRAIL,
    tp(action="buy", orderType="trailing_stop", signalPrice=18250, trailAmount=100),
    intent="buy", symbol="MNQ", order_type="trailing_stop", signal_price="18250",
    trail="100 points",
)  # fmt: skip
ok(
    "tp_trailing_percent_entry_on_tradovate",
    TP_TRAIL,
    tp(action="buy", orderType="trailing_stop", signalPrice=18250, trailPercent=5),
    intent="buy", symbol="MNQ", order_type="trailing_stop", signal_price="18250",
    trail="5 percent",
)  # fmt: skip
ok("tp_quantity", TP_WEBHOOKS, tp(action="buy", quantity=5), intent="buy", symbol="MNQ",
   quantity="5")  # fmt: skip
ok(
    "tp_fixed_quantity_type",
    TP_WEBHOOKS,
    tp(action="buy", quantityType="fixed_quantity", quantity=100),
    intent="buy", symbol="MNQ", quantity="100",
)  # fmt: skip
# Sizing by money or risk reads (the reader keeps the unit) but no account could plan it: the
# webhook refuses the entry at once.
no(
    "tp_dollar_amount_quantity_type",
    TP_WEBHOOKS,
    tp(action="buy", quantityType="dollar_amount", quantity=1000),
    "unsupported_quantity_unit",
    door=True,
)  # fmt: skip
no(
    "tp_risk_dollar_amount_with_stop",
    TP_WEBHOOKS,
    tp(action="buy", price=18500, quantityType="risk_dollar_amount", quantity=100,
       stopLoss={"type": "stop", "stopPrice": 18490}),
    "unsupported_quantity_unit",
    door=True,
)  # fmt: skip
ok(
    "tp_percent_of_position_exit",
    TP_SPEC,
    tp(action="exit", quantityType="percent_of_position", quantity=50),
    intent="exit", symbol="MNQ", quantity="50", quantity_unit="percent_of_position",
)  # fmt: skip
ok(
    "tp_signal_price_with_amount_take_profit",
    TP_WEBHOOKS,
    tp(action="buy", orderType="market", signalPrice=18500, takeProfit={"amount": 100}),
    intent="buy", symbol="MNQ", order_type="market", signal_price="18500",
    brackets=[{"take_profit": "100 points"}],
)  # fmt: skip
ok(
    "tp_limit_with_amount_take_profit",
    TP_WEBHOOKS,
    tp(action="buy", orderType="limit", limitPrice=18500, takeProfit={"amount": 100}),
    intent="buy", symbol="MNQ", order_type="limit", limit_price="18500",
    brackets=[{"take_profit": "100 points"}],
)  # fmt: skip
ok(
    "tp_percent_take_profit",
    TP_WEBHOOKS,
    tp(action="buy", takeProfit={"percent": 10}),
    intent="buy", symbol="MNQ", brackets=[{"take_profit": "10 percent"}],
)  # fmt: skip
ok(
    "tp_absolute_take_profit",
    TP_WEBHOOKS,
    tp(action="buy", takeProfit={"limitPrice": 18519.75}),
    intent="buy", symbol="MNQ", brackets=[{"take_profit": "18519.75 price"}],
)  # fmt: skip
ok(
    "tp_percent_stop_loss",
    TP_WEBHOOKS,
    tp(action="buy", stopLoss={"type": "stop", "percent": 5}),
    intent="buy", symbol="MNQ", brackets=[{"stop_loss": "5 percent"}],
)  # fmt: skip
ok(
    "tp_amount_stop_loss",
    TP_WEBHOOKS,
    tp(action="buy", stopLoss={"type": "stop", "amount": 5}),
    intent="buy", symbol="MNQ", brackets=[{"stop_loss": "5 points"}],
)  # fmt: skip
ok(
    "tp_stop_limit_stop_loss",
    TP_WEBHOOKS,
    tp(action="buy", stopLoss={"type": "stop_limit", "stopPrice": 18471, "limitPrice": 18475}),
    intent="buy", symbol="MNQ",
    brackets=[{"stop_loss": "18471 price", "stop_limit": "18475 price"}],
)  # fmt: skip
ok(
    "tp_trailing_percent_stop_loss",
    TP_WEBHOOKS,
    tp(action="buy", stopLoss={"type": "trailing_stop", "trailPercent": 1}),
    intent="buy", symbol="MNQ", brackets=[{"trailing_stop": {"distance": "1 percent"}}],
)  # fmt: skip
ok(
    "tp_take_profit_and_stop_loss",
    TP_WEBHOOKS,
    tp(action="buy", takeProfit={"limitPrice": 18519.75},
       stopLoss={"type": "stop", "stopPrice": 18410.75}),
    intent="buy", symbol="MNQ",
    brackets=[{"take_profit": "18519.75 price", "stop_loss": "18410.75 price"}],
)  # fmt: skip
ok(
    "tp_time_in_force_gtc",
    TP_WEBHOOKS,
    tp(action="buy", orderType="limit", limitPrice=18500.5, timeInForce="gtc"),
    intent="buy", symbol="MNQ", order_type="limit", limit_price="18500.5",
    time_in_force="gtc",
)  # fmt: skip
ok(
    "tp_extended_hours_is_stock_only_and_journaled",
    TP_WEBHOOKS,
    tp(action="buy", extendedHours=True, interval="5", time="2025-03-14T14:30:05Z"),
    intent="buy", symbol="MNQ",
)  # fmt: skip
ok(
    "tp_explicit_contract_ticker",
    TP_SPEC,
    tp(ticker="MNQU2025", action="buy", quantity=1, price=19500.25),
    intent="buy", symbol="MNQU2025", quantity="1", signal_price="19500.25",
)  # fmt: skip
ok(
    "tp_partial_exit_by_quantity",
    TP_PARTIAL,
    tp(action="sell", quantity=5, sentiment="bullish"),
    intent="exit", side="sell", symbol="MNQ", quantity="5",
)  # fmt: skip
ok(
    "tp_cancel_before_entry",
    TP_SPEC,
    tp(action="buy", cancel=True),
    intent="buy", symbol="MNQ",
)  # fmt: skip
no("tp_invalid_action", TP_WEBHOOKS, tp(action="bu"), "invalid_choice")
no("tp_missing_action", TP_WEBHOOKS, tp(quantity=1), "missing_field")
no("tp_empty_ticker", TP_WEBHOOKS, {"ticker": "", "action": "buy", "secret": SECRET},
   "missing_field")  # fmt: skip
no(
    "tp_exit_with_sentiment_flat",
    TP_WEBHOOKS,
    tp(action="exit", sentiment="flat"),
    "invalid_sentiment_action",
)
no("tp_invalid_sentiment", TP_WEBHOOKS, tp(action="buy", sentiment="sideways"), "invalid_choice")
no(
    "tp_take_profit_two_kinds",
    TP_WEBHOOKS,
    tp(action="buy", takeProfit={"percent": 1, "amount": 20}),
    "invalid_level",
)
no(
    "tp_take_profit_in_ticks_is_not_a_traderspost_unit",
    TP_SPEC,
    tp(action="buy", takeProfit={"ticks": 20}),
    "unknown_field",
)
no(
    "tp_trail_amount_on_a_plain_stop",
    TP_SPEC,
    tp(action="buy", stopLoss={"type": "stop", "amount": 10, "trailAmount": 5}),
    "conflicting_fields",
)
no(
    "tp_stop_price_on_a_trailing_stop",
    TP_SPEC,
    tp(action="buy", stopLoss={"type": "trailing_stop", "trailAmount": 5, "stopPrice": 18000}),
    "conflicting_fields",
)
no("tp_opg_time_in_force", TP_SPEC, tp(action="buy", timeInForce="opg"), "unsupported_value")
no("tp_option_type", TP_WEBHOOKS, tp(action="buy", optionType="call"), "unsupported_field")
no("tp_strike_price", TP_WEBHOOKS, tp(action="buy", strikePrice=68), "unsupported_field")
no("tp_delay", TP_DELAY, tp(action="buy", delay=60), "unsupported_field")
no(
    "tp_cancel_order_type",
    TP_WEBHOOKS,
    tp(action="buy", cancel=True, cancelOrderType="stop"),
    "unsupported_field",
)
no(
    "tp_type_stop_loss_is_not_read_as_market",
    BRIDGES,
    tp(action="sell", type="stop_loss", price=18000),
    "unsupported_field",
)
no(
    "tp_qty_instead_of_quantity",
    BRIDGES,
    tp(action="buy", qty=3),
    "unsupported_field",
)
no(
    "tp_stop_loss_above_short_entry",
    TP_WEBHOOKS,
    tp(action="sell", signalPrice=18500, stopLoss={"stopPrice": 18490}),
    "bracket_wrong_side",
)
no("tp_stock_ticker", TP_WEBHOOKS, tp(ticker="AAPL", action="buy"), "unknown_symbol", door=True)

# --- 4. PickMyTrade, as its generator and docs write it -----------------------------------------
ok(
    "pmt_generator_market_with_dollar_risk",
    PMT_JSON,
    pmt(data="buy", quantity="2", risk_percentage="0", price="18250.5", tp="0",
        percentage_tp="0", dollar_tp="200", sl="0", percentage_sl="0", dollar_sl="100",
        trail="0", trail_stop="0", trail_trigger="0", trail_freq="0", update_tp="false",
        update_sl="false", breakeven="0", breakeven_offset="0", pyramid="false",
        same_direction_ignore="true", reverse_order_close="true", order_type="MKT"),
    intent="buy", symbol="NQ1!", order_type="market", quantity="2", signal_price="18250.5",
    brackets=[{"take_profit": "200 dollars", "stop_loss": "100 dollars"}],
    position_rules={"reverse_close": True, "pyramid": False, "ignore_same_direction": True},
)  # fmt: skip
ok(
    "pmt_stacking_with_reverse_order_close_as_its_docs_test_it",
    PMT_STACKING,
    pmt(symbol="MNQ1!", data="buy", quantity=1, pyramid=True, same_direction_ignore=False,
        reverse_order_close=True),
    intent="buy", symbol="MNQ1!", order_type="market", quantity="1",
    position_rules={"reverse_close": True, "pyramid": True, "ignore_same_direction": False},
)  # fmt: skip
ok(
    "pmt_breakeven_in_dollars_like_its_dollar_tp_sl",
    PMT_BE,
    pmt(data="buy", quantity=1, dollar_tp=300, dollar_sl=150, breakeven=100,
        breakeven_offset=20),
    intent="buy", symbol="NQ1!", order_type="market", quantity="1",
    brackets=[{"take_profit": "300 dollars", "stop_loss": "150 dollars",
               "breakeven": {"trigger": "100 dollars", "offset": "20 dollars"}}],
)  # fmt: skip
ok(
    "pmt_trailing_in_dollars_like_its_dollar_sl",
    PMT_VALIDATOR,
    pmt(data="sell", quantity=1, dollar_sl=150, trail=1, trail_stop=80, trail_trigger=120,
        trail_freq=10),
    intent="sell", symbol="NQ1!", order_type="market", quantity="1",
    brackets=[{"stop_loss": "150 dollars",
               "trailing_stop": {"distance": "80 dollars", "trigger": "120 dollars",
                                 "step": "10 dollars"}}],
)  # fmt: skip
ok(
    "pmt_breakeven_in_percent_like_its_percent_tp_sl",
    PMT_BE,
    pmt(data="buy", quantity=1, percentage_tp=1, percentage_sl=0.5, breakeven=0.25),
    intent="buy", symbol="NQ1!", order_type="market", quantity="1",
    brackets=[{"take_profit": "1 percent", "stop_loss": "0.5 percent",
               "breakeven": {"trigger": "0.25 percent"}}],
)  # fmt: skip
ok(
    "pmt_breakeven_in_points_with_price_tp_sl",
    PMT_BE,
    pmt(data="buy", quantity=1, price=18250, tp=18300, sl=18200, breakeven=20,
        breakeven_offset=2),
    intent="buy", symbol="NQ1!", order_type="market", quantity="1", signal_price="18250",
    brackets=[{"take_profit": "18300 price", "stop_loss": "18200 price",
               "breakeven": {"trigger": "20 points", "offset": "2 points"}}],
)  # fmt: skip
ok(
    "pmt_trailing_in_points_with_price_sl",
    PMT_VALIDATOR,
    pmt(data="buy", quantity=1, price=18250, sl=18200, trail=1, trail_stop=10),
    intent="buy", symbol="NQ1!", order_type="market", quantity="1", signal_price="18250",
    brackets=[{"stop_loss": "18200 price", "trailing_stop": {"distance": "10 points"}}],
)  # fmt: skip
ok(
    "pmt_advance_legs_each_in_their_own_unit",
    PMT_JSON,
    pmt(data="buy", quantity=2, advance_tp_sl=[
        {"quantity": 1, "dollar_tp": 100, "dollar_sl": 50, "breakeven": 40},
        {"quantity": 1, "percentage_tp": 1, "percentage_sl": 0.5, "trail": 1,
         "trail_stop": 0.2}]),
    intent="buy", symbol="NQ1!", order_type="market", quantity="2",
    brackets=[{"quantity": "1", "take_profit": "100 dollars", "stop_loss": "50 dollars",
               "breakeven": {"trigger": "40 dollars"}},
              {"quantity": "1", "take_profit": "1 percent", "stop_loss": "0.5 percent",
               "trailing_stop": {"distance": "0.2 percent"}}],
)  # fmt: skip
ok(
    "pmt_limit_entry",
    PMT_VALIDATOR,
    pmt(data="buy", quantity=1, order_type="LMT", price=18200),
    intent="buy", symbol="NQ1!", order_type="limit", quantity="1", limit_price="18200",
)  # fmt: skip
ok(
    "pmt_stop_entry",
    PMT_VALIDATOR,
    pmt(data="sell", quantity=1, order_type="STP", price=18100),
    intent="sell", symbol="NQ1!", order_type="stop", quantity="1", stop_price="18100",
)  # fmt: skip
ok(
    "pmt_stop_limit_good_for_seconds",
    PMT_VALIDATOR,
    pmt(data="buy", quantity=1, order_type="STPLMT", price=18305, stp_limit_stp_price=18300,
        gtd_in_second=600),
    intent="buy", symbol="NQ1!", order_type="stop_limit", quantity="1",
    limit_price="18305", stop_price="18300", time_in_force="gtd", expires_after_s=600,
)  # fmt: skip
ok(
    "pmt_close_with_generator_risk_fields",
    PMT_VALIDATOR,
    pmt(data="close", quantity="0", price="0", dollar_tp="200", dollar_sl="100"),
    intent="close", symbol="NQ1!", order_type="market",
)  # fmt: skip
ok(
    "pmt_flat_word",
    PMT_VALIDATOR,
    pmt(data="FLAT", quantity=0),
    intent="flat", symbol="NQ1!", order_type="market",
)  # fmt: skip
ok(
    "pmt_long_word",
    PMT_VALIDATOR,
    pmt(data="LONG", quantity=1),
    intent="buy", symbol="NQ1!", order_type="market", quantity="1",
)  # fmt: skip
ok(
    "pmt_strategy_action_sell_to_flat",
    PMT_JSON + " + " + TV_VARIABLES,
    pmt(data="sell", quantity="1", market_position="flat", dollar_tp="200", dollar_sl="100"),
    intent="exit", side="sell", symbol="NQ1!", order_type="market", quantity="1",
    target=flat_target(),
)  # fmt: skip
ok(
    "pmt_multiple_accounts",
    PMT_JSON,
    pmt(data="buy", quantity=1, multiple_accounts=[
        {"token": "x-token", "account_id": "DEMO111", "risk_percentage": 0,
         "quantity_multiplier": 1},
        {"token": "y-token", "account_id": "DEMO222", "risk_percentage": 0,
         "quantity_multiplier": 2}]),
    intent="buy", symbol="NQ1!", order_type="market", quantity="1",
    accounts=["DEMO111 x1", "DEMO222 x2"],
)  # fmt: skip
ok(
    "pmt_single_account",
    PMT_JSON,
    pmt(data="sell", quantity=2, account_id="DEMO111"),
    intent="sell", symbol="NQ1!", order_type="market", quantity="2", accounts=["DEMO111"],
)  # fmt: skip
no(  # read as risk_percent sizing; no account could plan it, so the webhook refuses it
    "pmt_risk_percentage_sizing",
    PMT_JSON,
    pmt(data="buy", quantity=0, risk_percentage=1, price=18250, sl=18200),
    "unsupported_quantity_unit",
    door=True,
)  # fmt: skip
ok(  # a close is not sized: the same risk sizing closes the position
    "pmt_risk_percentage_on_a_close",
    PMT_JSON,
    pmt(data="close", quantity=0, risk_percentage=1, price=18250),
    intent="close", symbol="NQ1!", order_type="market", quantity="1",
    quantity_unit="risk_percent", signal_price="18250",
)  # fmt: skip
ok(
    "pmt_micro_symbol",
    PMT_JSON,
    pmt(symbol="MNQ1!", data="buy", quantity=1),
    intent="buy", symbol="MNQ1!", order_type="market", quantity="1",
)  # fmt: skip
no(
    "pmt_breakeven_with_tp_and_sl_in_two_units",
    PMT_BE,
    pmt(data="buy", quantity=1, dollar_tp=200, percentage_sl=0.5, breakeven=50),
    "conflicting_fields",
)
no("pmt_update_sl", PMT_VALIDATOR, pmt(data="buy", quantity=1, update_sl=True, sl=18000),
   "unsupported_field")  # fmt: skip
no("pmt_two_tp_units", PMT_VALIDATOR, pmt(data="buy", quantity=1, tp=18300, dollar_tp=100),
   "conflicting_fields")  # fmt: skip
no("pmt_trail_without_distance", PMT_VALIDATOR, pmt(data="buy", quantity=1, trail=1),
   "missing_trail")  # fmt: skip
no("pmt_unknown_data", PMT_VALIDATOR, pmt(data="hold", quantity=1), "invalid_choice")
no("pmt_unknown_order_type", PMT_VALIDATOR, pmt(data="buy", quantity=1, order_type="MOC"),
   "invalid_choice")  # fmt: skip
no(
    "pmt_quantity_and_risk_percentage",
    PMT_JSON,
    pmt(data="buy", quantity=2, risk_percentage=1, sl=18000),
    "conflicting_fields",
)
no("pmt_leverage", BRIDGES, pmt(data="buy", quantity=1, leverage=10), "unsupported_field")

# --- 5. CrossTrade, as its docs write it --------------------------------------------------------
ok(
    "ct_place_market",
    CT_PAYLOAD,
    ct("command=PLACE", "account=Sim101", "instrument=ES 09-26", "action=BUY", "qty=1",
       "order_type=MARKET", "TIF=DAY"),
    intent="buy", side="buy", symbol="ESU2026", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_place_bypassing_the_trade_windows",
    CT_BYPASS,
    ct("account=Sim101", "instrument=ES 03-25", "command=PLACE", "order_type=MARKET",
       "action=BUY", "qty=1", "tif=DAY", "bypass_trade_windows=true"),
    intent="buy", side="buy", symbol="ESH2025", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"], bypass_windows=True,
)  # fmt: skip
ok(
    "ct_place_with_take_profit_price",
    CT_BRACKETS,
    ct("command=PLACE", "account=Sim101", "instrument=ES 09-26", "action=BUY", "qty=1",
       "order_type=MARKET", "TIF=DAY", "take_profit=6100"),
    intent="buy", side="buy", symbol="ESU2026", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"], brackets=[{"take_profit": "6100 price"}],
)  # fmt: skip
ok(
    "ct_place_oco_bracket",
    CT_BRACKETS,
    ct("command=PLACE", "account=Sim101", "instrument=ES 09-26", "action=BUY", "qty=1",
       "order_type=MARKET", "TIF=DAY", "take_profit=6100", "stop_loss=5990"),
    intent="buy", side="buy", symbol="ESU2026", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"],
    brackets=[{"take_profit": "6100 price", "stop_loss": "5990 price"}],
)  # fmt: skip
ok(
    "ct_stop_loss_limit_and_stop",
    CT_BRACKETS,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=SELL", "qty=1",
       "order_type=MARKET", "tif=DAY", "stop_loss_limit=+12 ticks", "stop_loss_stop=+10 ticks"),
    intent="sell", side="sell", symbol="NQ1!", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"],
    brackets=[{"stop_loss": "10 ticks", "stop_limit": "12 ticks"}],
)  # fmt: skip
ok(
    "ct_percent_and_tick_levels",
    CT_PAYLOAD,
    ct("command=PLACE", "account=Sim101", "instrument=MES1!", "action=BUY", "qty=2",
       "order_type=MARKET", "tif=DAY", "take_profit=+1.5%", "stop_loss=-25 ticks"),
    intent="buy", side="buy", symbol="MES1!", order_type="market", time_in_force="day",
    quantity="2", accounts=["Sim101"],
    brackets=[{"take_profit": "1.5 percent", "stop_loss": "25 ticks"}],
)  # fmt: skip
ok(
    "ct_limit_entry",
    CT_PAYLOAD,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=BUY", "qty=1",
       "order_type=LIMIT", "limit_price=18200.25", "tif=GTC"),
    intent="buy", side="buy", symbol="NQ1!", order_type="limit", time_in_force="gtc",
    quantity="1", limit_price="18200.25", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_stop_market_entry",
    CT_API,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=SELL", "qty=1",
       "order_type=STOPMARKET", "stop_price=18100", "tif=DAY"),
    intent="sell", side="sell", symbol="NQ1!", order_type="stop", time_in_force="day",
    quantity="1", stop_price="18100", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_stop_limit_entry",
    CT_API,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=BUY", "qty=1",
       "order_type=STOPLIMIT", "stop_price=18300", "limit_price=18302", "tif=DAY"),
    intent="buy", side="buy", symbol="NQ1!", order_type="stop_limit", time_in_force="day",
    quantity="1", stop_price="18300", limit_price="18302", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_limit_with_cancel_after",
    CT_TIMEOUT,
    ct("command=PLACE", "account=Sim101", "instrument=ES 09-26", "action=BUY", "qty=1",
       "order_type=LIMIT", "limit_price=6000.25", "tif=DAY", "cancel_after=5", sep="\n"),
    intent="buy", side="buy", symbol="ESU2026", order_type="limit", time_in_force="gtd",
    expires_after_s=300, quantity="1", limit_price="6000.25", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_flatplace",
    CT_PAYLOAD,
    ct("command=FLATPLACE", "account=Sim101", "instrument=GC1!", "action=BUY", "qty=1",
       "order_type=MARKET", "tif=DAY"),
    intent="buy", side="buy", symbol="GC1!", order_type="market", time_in_force="day",
    quantity="1", flatten_first=True, accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_flatten_first_flag",
    CT_POSITIONS,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=SELL", "qty=1",
       "order_type=MARKET", "tif=DAY", "flatten_first=true"),
    intent="sell", side="sell", symbol="NQ1!", order_type="market", time_in_force="day",
    quantity="1", flatten_first=True, accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_require_market_position",
    CT_POSITIONS,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=SELL", "qty=1",
       "order_type=MARKET", "tif=DAY", "require_market_position=flat/short"),
    intent="sell", side="sell", symbol="NQ1!", order_type="market", time_in_force="day",
    quantity="1", required_positions=["flat", "short"], accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_close_position_partially",
    CT_PAYLOAD,
    ct("command=CLOSEPOSITION", "account=Sim101", "instrument=NQ1!", "qty=1"),
    intent="exit", symbol="NQ1!", quantity="1", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_reverse",
    CT_PAYLOAD,
    ct("command=REVERSE", "account=Sim101", "instrument=CL1!"),
    intent="reverse", symbol="CL1!", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_reverse_position",
    CT_PAYLOAD,
    ct("command=REVERSEPOSITION", "account=Sim101", "instrument=CL1!", "action=SELL", "qty=1",
       "order_type=MARKET", "tif=DAY"),
    intent="reverse", side="sell", symbol="CL1!", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_flatten_two_accounts",
    CT_PAYLOAD,
    ct("command=FLATTEN", "account=Sim101,Sim102", "instrument=MNQ1!"),
    intent="flat", symbol="MNQ1!", accounts=["Sim101", "Sim102"],
)  # fmt: skip
ok(
    "ct_cancel_orders",
    CT_PAYLOAD,
    ct("command=CANCELORDERS", "account=Sim101", "instrument=ES1!"),
    intent="cancel", symbol="ES1!", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_rate_limit_group_default_window",
    CT_RATE,
    ct("command=PLACE", "account=Sim101", "instrument=NQ 12-26", "action=BUY", "qty=1",
       "order_type=MARKET", "TIF=DAY", "rate_limit=1", "id=vendor-corpus-group-a"),
    intent="buy", side="buy", symbol="NQZ2026", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_rate_limit_group_with_window",
    CT_RATE,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=SELL", "qty=1",
       "order_type=MARKET", "TIF=DAY", "rate_limit=1/120", "id=vendor-corpus-group-b"),
    intent="sell", side="sell", symbol="NQ1!", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_id_alone_is_only_journaled",
    CT_RATE,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=BUY", "qty=1",
       "order_type=MARKET", "tif=DAY", "id=mystrategy"),
    intent="buy", side="buy", symbol="NQ1!", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_tradovate_trailing_stop",
    CT_TRADOVATE,
    ct("command=PLACE", "account=DEMO1234567", "instrument=MNQM6", "action=SELL", "qty=1",
       "order_type=TRAILINGSTOP", "stop_price=19450", "trail_offset=8 ticks", "tif=GTC",
       "destination=tradovate"),
    intent="sell", side="sell", symbol="MNQM6", order_type="trailing_stop",
    time_in_force="gtc", quantity="1", stop_price="19450", trail="8 ticks",
    accounts=["DEMO1234567"],
)  # fmt: skip
ok(
    "ct_comment_is_journaled",
    CT_PAYLOAD,
    ct("command=PLACE", "account=Sim101", "instrument=MES1!", "action=BUY", "qty=1",
       "order_type=MARKET", "tif=DAY", "comment=breakout long"),
    intent="buy", side="buy", symbol="MES1!", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"],
)  # fmt: skip
ok(
    "ct_sync_sell_to_flat_drops_the_bracket",
    CT_SYNC,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=SELL", "qty=1",
       "order_type=MARKET", "tif=DAY", "take_profit=40 ticks", "stop_loss=-20 ticks",
       "market_position=flat", "prev_market_position=long"),
    intent="exit", side="sell", symbol="NQ1!", order_type="market", time_in_force="day",
    quantity="1", accounts=["Sim101"], target=flat_target("long"),
)  # fmt: skip
no(
    "ct_rate_limit_of_three_per_window",
    CT_RATE,
    ct(
        "command=PLACE",
        "account=Sim101",
        "instrument=NQ1!",
        "action=BUY",
        "qty=1",
        "order_type=MARKET",
        "tif=DAY",
        "rate_limit=3/900",
        "id=three",
    ),
    "unsupported_value",
)
no(
    "ct_rate_limit_without_id",
    CT_RATE,
    ct(
        "command=PLACE",
        "account=Sim101",
        "instrument=NQ1!",
        "action=BUY",
        "qty=1",
        "order_type=MARKET",
        "tif=DAY",
        "rate_limit=1",
    ),
    "missing_field",
)
no(
    "ct_delay",
    CT_DELAY,
    ct(
        "command=PLACE",
        "account=sim101",
        "instrument=NQ 12-26",
        "action=BUY",
        "qty=1",
        "order_type=MARKET",
        "TIF=DAY",
        "delay=3",
    ),
    "unsupported_field",
)
no(
    "ct_atm_strategy_on_place",
    CT_API,
    ct(
        "command=PLACE",
        "account=Sim101",
        "instrument=NQ1!",
        "action=BUY",
        "qty=1",
        "order_type=MARKET",
        "tif=DAY",
        "strategy=MyAtmStrategy",
    ),
    "unsupported_field",
)
no(
    "ct_append_atm",
    CT_BRACKETS,
    ct(
        "command=PLACE",
        "account=Sim101",
        "instrument=NQ1!",
        "action=BUY",
        "qty=1",
        "order_type=MARKET",
        "tif=DAY",
        "take_profit=18300",
        "append_atm=true",
        "strategy=crosstrade",
    ),
    "unsupported_field",
)
no(
    "ct_cancel_after_on_a_market_order",
    CT_TIMEOUT,
    ct(
        "command=PLACE",
        "account=Sim101",
        "instrument=NQ1!",
        "action=BUY",
        "qty=1",
        "order_type=MARKET",
        "tif=DAY",
        "cancel_after=5",
    ),
    "conflicting_fields",
)
no(
    "ct_relative_limit_price",
    CT_TIMEOUT,
    ct(
        "command=PLACE",
        "account=Sim101",
        "instrument=ES 09-26",
        "action=BUY",
        "qty=1",
        "order_type=LIMIT",
        "limit_price=-10 ticks",
        "tif=DAY",
    ),
    "unsupported_value",
)
no(
    "ct_mit_order",
    CT_TRADOVATE,
    ct(
        "command=PLACE",
        "account=Sim101",
        "instrument=NQ1!",
        "action=BUY",
        "qty=1",
        "order_type=MIT",
        "limit_price=18000",
        "tif=DAY",
    ),
    "unsupported_value",
)
no(
    "ct_flatten_everything",
    CT_PAYLOAD,
    ct("command=FLATTENEVERYTHING", "account=Sim101"),
    "unsupported_command",
)
no(
    "ct_place_without_action",
    CT_PAYLOAD,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "qty=1"),
    "missing_field",
)
no(
    "ct_max_position",
    CT_POSITIONS,
    ct(
        "command=PLACE",
        "account=Sim101",
        "instrument=NQ1!",
        "action=BUY",
        "qty=1",
        "order_type=MARKET",
        "tif=DAY",
        "max_position=1",
    ),
    "unsupported_field",
)
no(
    "ct_take_profit_below_a_buy",
    CT_PAYLOAD,
    ct(
        "command=PLACE",
        "account=Sim101",
        "instrument=NQ1!",
        "action=BUY",
        "qty=1",
        "order_type=MARKET",
        "tif=DAY",
        "take_profit=-20 ticks",
    ),
    "bracket_wrong_side",
)

# --- 6. the simple shapes and the common minimal alert -------------------------------------------
ok(
    "readme_first_alert",
    README,
    {"secret": SECRET, "symbol": "MNQ1!", "action": "buy", "quantity": 1},
    intent="buy", symbol="MNQ1!", quantity="1",
)  # fmt: skip
ok(
    "minimal_sell_with_string_quantity",
    BRIDGES,
    simple(symbol="NQ1!", action="sell", quantity="2"),
    intent="sell", symbol="NQ1!", quantity="2",
)  # fmt: skip
ok(
    "minimal_action_upper_case",
    BRIDGES,
    simple(symbol="ES1!", action="BUY", quantity=1),
    intent="buy", symbol="ES1!", quantity="1",
)  # fmt: skip
ok(
    "simple_side_and_price",
    README,
    simple(symbol="ES1!", side="buy", quantity=1, price=6000.25),
    intent="buy", symbol="ES1!", quantity="1", signal_price="6000.25",
)  # fmt: skip
ok(
    "simple_contracts_alias",
    BRIDGES,
    simple(symbol="MES1!", action="long", contracts="3"),
    intent="buy", symbol="MES1!", quantity="3",
)  # fmt: skip
ok(
    "simple_qty_alias",
    BRIDGES,
    simple(symbol="MES1!", action="short", qty=2),
    intent="sell", symbol="MES1!", quantity="2",
)  # fmt: skip
ok("simple_exit", BRIDGES, simple(symbol="NQ1!", action="exit"), intent="exit", symbol="NQ1!")
ok("simple_close", BRIDGES, simple(symbol="NQ1!", action="close"), intent="close",
   symbol="NQ1!")  # fmt: skip
ok("simple_flatten_upper", BRIDGES, simple(symbol="NQ1!", action="FLATTEN"), intent="flat",
   symbol="NQ1!")  # fmt: skip
ok("simple_flat_side", BRIDGES, simple(symbol="NQ1!", side="flat"), intent="flat",
   symbol="NQ1!")  # fmt: skip
ok(
    "simple_exit_long",
    BRIDGES,
    simple(symbol="NQ1!", action="exit_long", quantity=1),
    intent="exit", side="sell", symbol="NQ1!", quantity="1",
)  # fmt: skip
ok(
    "simple_close_short",
    BRIDGES,
    simple(symbol="NQ1!", action="close_short"),
    intent="close", side="buy", symbol="NQ1!",
)  # fmt: skip
ok("simple_cancel", BRIDGES, simple(symbol="NQ1!", action="cancel"), intent="cancel",
   symbol="NQ1!")  # fmt: skip
ok(
    "simple_reverse",
    BRIDGES,
    simple(symbol="NQ1!", action="reverse", quantity=1),
    intent="reverse", symbol="NQ1!", quantity="1",
)  # fmt: skip
ok(
    "simple_add_with_side",
    BRIDGES,
    simple(symbol="NQ1!", action="add", side="buy", quantity=1),
    intent="add", side="buy", symbol="NQ1!", quantity="1",
)  # fmt: skip
ok(
    "simple_limit_at_price",
    BRIDGES,
    simple(symbol="NQ1!", action="buy", quantity=1, order_type="limit", price=18000.5),
    intent="buy", symbol="NQ1!", quantity="1", order_type="limit", limit_price="18000.5",
)  # fmt: skip
ok(
    "simple_type_stop_at_price",
    BRIDGES,
    simple(symbol="NQ1!", action="sell", quantity=1, type="STP", price=17950),
    intent="sell", symbol="NQ1!", quantity="1", order_type="stop", stop_price="17950",
)  # fmt: skip
ok(
    "simple_type_market_with_reference_price",
    BRIDGES,
    simple(symbol="NQ1!", action="buy", quantity=1, type="market", price=18000),
    intent="buy", symbol="NQ1!", quantity="1", order_type="market", signal_price="18000",
)  # fmt: skip
ok(
    "simple_limit_price_field",
    BRIDGES,
    simple(symbol="NQ1!", action="sell", quantity=1, limit_price="18010.25", tif="gtc"),
    intent="sell", symbol="NQ1!", quantity="1", order_type="limit",
    limit_price="18010.25", time_in_force="gtc",
)  # fmt: skip
ok(
    "simple_tp_sl_prices",
    BRIDGES,
    simple(symbol="NQ1!", action="buy", quantity=1, price=18000, tp=18040, sl=17980),
    intent="buy", symbol="NQ1!", quantity="1", signal_price="18000",
    brackets=[{"take_profit": "18040 price", "stop_loss": "17980 price"}],
)  # fmt: skip
ok(
    "simple_tp_sl_in_ticks",
    BRIDGES,
    simple(symbol="NQ1!", action="buy", quantity=1, take_profit="40 ticks",
           stop_loss="20 ticks"),
    intent="buy", symbol="NQ1!", quantity="1",
    brackets=[{"take_profit": "40 ticks", "stop_loss": "20 ticks"}],
)  # fmt: skip
ok(
    "simple_account",
    BRIDGES,
    simple(symbol="NQ1!", action="buy", quantity=1, account="DEMO111"),
    intent="buy", symbol="NQ1!", quantity="1", accounts=["DEMO111"],
)  # fmt: skip
ok(
    "simple_exchange_prefix",
    TV_VARIABLES,
    simple(symbol="CME_MINI:NQ1!", action="buy", quantity=1),
    intent="buy", symbol="CME_MINI:NQ1!", quantity="1",
)  # fmt: skip
ok(
    "simple_sell_to_flat_ignores_its_take_profit",
    BRIDGES + " + " + TV_VARIABLES,
    simple(symbol="NQ1!", action="sell", quantity=1, market_position="flat", tp=17900,
           sl=18100),
    intent="exit", side="sell", symbol="NQ1!", quantity="1", target=flat_target(),
)  # fmt: skip
ok(
    "simple_bare_position_flat_after_a_sell",
    BRIDGES,
    simple(symbol="NQ1!", action="sell", quantity=1, position="flat"),
    intent="exit", side="sell", symbol="NQ1!", quantity="1", target=flat_target(),
)  # fmt: skip
ok(
    "simple_sentiment_flat_after_a_buy",
    TP_SENTIMENT,
    simple(symbol="NQ1!", action="buy", sentiment="flat"),
    intent="exit", side="buy", symbol="NQ1!", target=flat_target(from_sentiment=True),
)  # fmt: skip
no(
    "ct_camel_case_position_is_not_dropped",
    CT_SYNC,
    ct("command=PLACE", "account=Sim101", "instrument=NQ1!", "action=SELL", "qty=1",
       "order_type=MARKET", "tif=DAY", "marketPosition=flat"),
    "unsupported_field",
)  # fmt: skip
ok(
    "webhook_type_entry_long",
    README,
    simple(webhook_type="TradingView", action="entry", side="long", symbol="MES1!",
           quantity="1", strategy="mes-scalper"),
    intent="buy", side="buy", symbol="MES1!", quantity="1",
)  # fmt: skip
ok(
    "webhook_type_exit_long",
    README,
    simple(webhook_type="TradingView", action="exit", side="long", symbol="MES1!",
           quantity="1"),
    intent="exit", side="sell", symbol="MES1!", quantity="1",
)  # fmt: skip
no(
    "simple_type_stop_loss_is_not_a_market_order",
    BRIDGES,
    simple(symbol="NQ1!", side="sell", type="stop_loss", price=17950, quantity=1),
    "unsupported_value",
)
no(
    "simple_type_take_profit",
    BRIDGES,
    simple(symbol="NQ1!", action="sell", order_type="take_profit", price=18100, quantity=1),
    "unsupported_value",
)
no("simple_unknown_type", BRIDGES, simple(symbol="NQ1!", action="buy", type="iceberg"),
   "invalid_choice")  # fmt: skip
no("simple_leverage", BRIDGES, simple(symbol="NQ1!", action="buy", leverage=10),
   "unsupported_field")  # fmt: skip
no(
    "simple_trailing_stop_field",
    BRIDGES,
    simple(symbol="NQ1!", action="buy", trailing_stop="10 ticks"),
    "unsupported_field",
)
no("simple_size_in_lots", BRIDGES, simple(symbol="NQ1!", action="buy", lots=1),
   "unsupported_field")  # fmt: skip
no(
    "simple_limit_without_price",
    BRIDGES,
    simple(symbol="NQ1!", action="buy", order_type="limit"),
    "missing_limit_price",
)
no("simple_unknown_action", BRIDGES, simple(symbol="NQ1!", action="hodl"), "invalid_choice")
no("simple_empty_action", BRIDGES, simple(symbol="NQ1!", action=""), "missing_field")
no(
    "simple_buy_with_side_sell",
    BRIDGES,
    simple(symbol="NQ1!", action="buy", side="sell"),
    "conflicting_side",
)
no(
    "simple_exit_with_a_take_profit",
    BRIDGES,
    simple(symbol="NQ1!", action="exit", tp=18100),
    "brackets_not_allowed",
)
no("simple_fractional_contracts", BRIDGES, simple(symbol="NQ1!", action="buy", quantity=1.5),
   "fractional_quantity")  # fmt: skip
no("simple_stock_symbol", BRIDGES, simple(symbol="AAPL", action="buy", quantity=1),
   "unknown_symbol", door=True)  # fmt: skip

# --- 7. native, the README strategy template and the allowlist ----------------------------------
ok(
    "native_readme_strategy_template_entry",
    README,
    native(intent="buy", symbol="NQ1!", quantity="1", signal_price="18000.25",
           market_position="long", position_size="1", prev_market_position="flat",
           time="2025-03-14T14:30:05Z", alert_id="vendor-corpus-Long-1"),
    intent="buy", symbol="NQ1!", quantity="1", signal_price="18000.25",
    target={"market_position": "long", "size": "1", "prev_market_position": "flat"},
)  # fmt: skip
ok(
    "native_readme_strategy_template_exit",
    README,
    native(intent="sell", symbol="NQ1!", quantity="1", signal_price="18010.25",
           market_position="flat", position_size="0", prev_market_position="long",
           time="2025-03-14T14:35:05Z", alert_id="vendor-corpus-Close-1"),
    intent="exit", side="sell", symbol="NQ1!", quantity="1", signal_price="18010.25",
    target=flat_target("long"),
)  # fmt: skip
ok(
    "native_sell_to_flat_ignores_its_bracket",
    TV_VARIABLES,
    native(intent="sell", symbol="NQ1!", quantity=1, market_position="flat",
           take_profit={"ticks": 40}, stop_loss={"ticks": 20}),
    intent="exit", side="sell", symbol="NQ1!", quantity="1", target=flat_target(),
)  # fmt: skip
no("native_typo_in_stop_loss", README, native(intent="buy", symbol="NQ1!", stop_los=20),
   "unknown_field")  # fmt: skip
ok(
    "allowlisted_root_enters",
    README,
    simple(symbol="MNQ1!", action="buy", quantity=1),
    strategy="mnq-only", intent="buy", symbol="MNQ1!", quantity="1",
)  # fmt: skip
no("allowlist_refuses_another_root", README, simple(symbol="ES1!", action="buy", quantity=1),
   "unknown_symbol", strategy="mnq-only", door=True)  # fmt: skip
no(
    "allowlist_refuses_a_reversal_on_another_root",
    README,
    tp(ticker="ES1!", action="reverse"),
    "unknown_symbol",
    strategy="mnq-only",
    door=True,
)
ok(
    "allowlist_lets_an_exit_of_a_dropped_root_through",
    README,
    tp(ticker="ES1!", action="exit"),
    strategy="mnq-only", intent="exit", symbol="ES1!",
)  # fmt: skip
ok(
    "allowlist_lets_a_sell_to_flat_of_a_dropped_root_through",
    README,
    tp(ticker="ES1!", action="sell", sentiment="flat"),
    strategy="mnq-only", intent="exit", side="sell", symbol="ES1!",
    target=flat_target(from_sentiment=True),
)  # fmt: skip
no("unknown_product_root", README, native(intent="buy", symbol="ZZ1!"), "unknown_symbol",
   door=True)  # fmt: skip
no("unknown_product_exit", README, native(intent="exit", symbol="FOO"), "unknown_symbol",
   door=True)  # fmt: skip

ACCEPTED = [case for case in CASES if case.expect is not None]
REFUSED = [case for case in CASES if case.code is not None]


def account_names() -> list[str]:
    """Name every account the corpus's alerts pick, so the test strategies trade them all."""
    names = {"DEMO10001"}
    for case in ACCEPTED:
        for selector in (case.expect or {}).get("accounts", []):
            names.add(selector.split(" x")[0])
    return sorted(names)


SECRET_ENV = "WEBHOOK_VENDOR_CORPUS"


def strategies_toml() -> str:
    """Return the strategy file both corpus tests use: ``open`` and ``mnq-only``."""
    accounts = ", ".join(f'{{ name = "{name}" }}' for name in account_names())
    blocks = ["version = 1"]
    for sid, symbols in (("open", ""), ("mnq-only", 'symbols = ["MNQ"]\n')):
        blocks.append(
            f'[strategies.{sid}]\nsecret = {{ env = "{SECRET_ENV}" }}\naccounts = [{accounts}]\n'
            f"[strategies.{sid}.risk]\n{symbols}"
            f"[strategies.{sid}.webhook]\nrate_limit_per_min = 6000\ndedupe_window_s = 0\n"
            "ip_allowlist = false\n"
        )
    return "\n".join(blocks)
