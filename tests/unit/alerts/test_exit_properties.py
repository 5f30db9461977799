"""Property: no reader turns an exit into a signal, or an order, that can add exposure.

An exit is written many ways: ``intent``/``action`` exit, close, flat, ``FLATTEN``,
``CLOSEPOSITION``, ``exit_long``, PickMyTrade ``close``, TradersPost ``sentiment: flat``, and
any buy or sell whose ``market_position`` (or ``sentiment``) after it is flat. Hypothesis
writes such alerts in every format, decorated with what real templates carry along (a
quantity, prices, order types, take profits and stop losses, previous positions), and checks
that each one is refused or read as a signal that only reduces: an exit, close, flat or a flat
target, with no bracket. Then the real planner plans it against any position and either
policy, and the position after the plan never grows and never passes flat.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.alerts import parse_alert
from shared.domain.errors import InvalidSignal
from shared.domain.planning import Book, Plan
from shared.domain.policy import OppositeSignal
from shared.domain.signal import Intent, MarketPosition, Signal
from tests.unit.planning.builders import policy, run, simulate

REDUCING = frozenset({Intent.EXIT, Intent.CLOSE, Intent.FLAT, Intent.CANCEL})
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

quantities = st.one_of(st.none(), st.integers(1, 5), st.integers(1, 5).map(str))
sides = st.sampled_from(["buy", "sell", "BUY", "Sell"])
prev_positions = st.one_of(st.none(), st.sampled_from(["long", "short", "flat", ""]))
prices = st.one_of(st.none(), st.sampled_from(["18000", "18000.25", 18010, "0"]))


@st.composite
def decorations(draw: st.DrawFn, names: dict[str, list[Any]]) -> dict[str, Any]:
    """Draw optional fields a template carries along with every order."""
    chosen: dict[str, Any] = {}
    for name, values in names.items():
        if draw(st.booleans()):
            chosen[name] = draw(st.sampled_from(values))
    return chosen


NATIVE_EXTRA = {
    "take_profit": [{"ticks": 40}, "20 ticks", 18100],
    "stop_loss": [{"ticks": 20}, "$100"],
    "signal_price": ["18000.25"],
    "order_type": ["market", "limit"],
    "limit_price": ["18005"],
    "time": ["2025-03-14T14:30:05Z"],
    "prev_position_size": ["2", 0],
}
TP_EXTRA = {
    "takeProfit": [{"amount": 40}, {"percent": 1}],
    "stopLoss": [{"type": "stop", "amount": 20}, {"type": "trailing_stop", "trailAmount": 10}],
    "signalPrice": ["18000"],
    "orderType": ["market", "limit"],
    "limitPrice": ["18005"],
    "timeInForce": ["day", "gtc"],
    "prev_market_position_size": ["1", "3"],
}
PMT_EXTRA = {
    "tp": ["0", "18100"],
    "sl": ["0", "17900"],
    "dollar_tp": ["200"],
    "breakeven": ["0", "20"],
    "trail": ["0", "1"],
    "trail_stop": ["10"],
    "order_type": ["MKT", "LMT"],
    "price": ["18000"],
    "token": ["vendor-secret"],
}
SIMPLE_EXTRA = {
    "tp": [18100, "40 ticks"],
    "sl": [17900, "20 ticks"],
    "price": ["18000"],
    "order_type": ["market", "limit"],
    "tif": ["day"],
    "prev_market_position": ["long", "short"],
}


@st.composite
def native_exits(draw: st.DrawFn) -> str:
    word = draw(st.sampled_from(["exit", "close", "flat", "EXIT", "Flat"]))
    data: dict[str, Any] = {"intent": word, "symbol": "NQ1!"}
    if draw(st.booleans()):
        data["side"] = draw(sides)
    if (q := draw(quantities)) is not None:
        data["quantity"] = q
    if draw(st.booleans()):
        data["market_position"] = "flat"
    return json.dumps({**data, **draw(decorations(NATIVE_EXTRA))})


@st.composite
def native_flat_targets(draw: st.DrawFn) -> str:
    data: dict[str, Any] = {
        "intent": draw(st.sampled_from(["buy", "sell", "{side}"])).replace("{side}", "sell"),
        "symbol": "NQ1!",
        "market_position": "flat",
    }
    if (prev := draw(prev_positions)) is not None:
        data["prev_market_position"] = prev
    if draw(st.booleans()):
        data["position_size"] = draw(st.sampled_from([0, "0", "0.0"]))
    if (q := draw(quantities)) is not None:
        data["quantity"] = q
    return json.dumps({**data, **draw(decorations(NATIVE_EXTRA))})


@st.composite
def traderspost_exits(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["exit", "sentiment", "market_position", "bullish_sell"]))
    data: dict[str, Any] = {"ticker": "NQ1!", "secret": "vendor-secret"}
    if kind == "exit":
        data["action"] = "exit"
    elif kind == "sentiment":
        data |= {"action": draw(sides).lower(), "sentiment": "flat"}
    elif kind == "market_position":
        data |= {"action": draw(sides).lower(), "market_position": "flat"}
        if (prev := draw(prev_positions)) is not None:
            data["prev_market_position"] = prev
    else:  # "bullish or flat" after a sell: a (partial) exit of a long
        data |= {"action": "sell", "sentiment": draw(st.sampled_from(["bullish", "long"]))}
    if (q := draw(quantities)) is not None:
        data["quantity"] = q
    return json.dumps({**data, **draw(decorations(TP_EXTRA))})


@st.composite
def pickmytrade_exits(draw: st.DrawFn) -> str:
    data: dict[str, Any] = {"symbol": "NQ1!", "date": "2025-04-10T14:31:00Z"}
    if draw(st.booleans()):
        data["data"] = draw(st.sampled_from(["close", "CLOSE", "flat", "FLAT"]))
    else:
        data |= {"data": draw(sides).lower(), "market_position": "flat"}
    data["quantity"] = draw(st.sampled_from(["0", "1", 2]))
    return json.dumps({**data, **draw(decorations(PMT_EXTRA))})


@st.composite
def crosstrade_exits(draw: st.DrawFn) -> str:
    command = draw(st.sampled_from(["CLOSEPOSITION", "FLATTEN", "flatten", "PLACE"]))
    pairs = ["key=vendor-secret", f"command={command}", "account=Sim101", "instrument=NQ1!"]
    if command == "PLACE":
        pairs += [f"action={draw(sides)}", "market_position=flat", "order_type=MARKET", "tif=DAY"]
        if (prev := draw(prev_positions)) not in (None, ""):
            pairs.append(f"prev_market_position={prev}")
        pairs.append(draw(st.sampled_from(["take_profit=20 ticks", "stop_loss=-10 ticks", ""])))
    if (q := draw(quantities)) is not None:
        pairs.append(f"qty={q}")
    separator = draw(st.sampled_from([";", ";\n"]))
    return separator.join(pair for pair in pairs if pair) + ";"


@st.composite
def simple_exits(draw: st.DrawFn) -> str:
    words = ["exit", "close", "flat", "flatten", "FLATTEN", "exit_long", "close_short", "Exit"]
    data: dict[str, Any] = {"symbol": "NQ1!", "secret": "vendor-secret"}
    shapes = ["action", "side", "action_side", "webhook_type", "target", "position", "sentiment"]
    shape = draw(st.sampled_from(shapes))
    if shape == "action":
        data["action"] = draw(st.sampled_from(words))
    elif shape == "side":
        data["side"] = draw(st.sampled_from(["exit", "close", "flat"]))
    elif shape in ("action_side", "webhook_type"):
        data |= {"action": draw(st.sampled_from(["exit", "close"])), "side": draw(sides)}
        if shape == "webhook_type":
            data["webhook_type"] = "TradingView"
    else:  # the position after, under any of its names
        name = {"target": "market_position"}.get(shape, shape)
        data |= {"action": draw(sides).lower(), name: "flat"}
    if (q := draw(quantities)) is not None:
        data["quantity"] = q
    return json.dumps({**data, **draw(decorations(SIMPLE_EXTRA))})


@st.composite
def native_text_exits(draw: st.DrawFn) -> str:
    lines = [f"action={draw(st.sampled_from(['exit', 'close', 'flat', 'sell']))}", "ticker=NQ1!"]
    if lines[0].endswith("sell"):
        lines.append("market_position=flat")
    if (q := draw(quantities)) is not None:
        lines.append(f"qty={q}")
    return "\n".join(lines)


exit_alerts = st.one_of(
    native_exits(),
    native_flat_targets(),
    traderspost_exits(),
    pickmytrade_exits(),
    crosstrade_exits(),
    simple_exits(),
    native_text_exits(),
)


def reduces(signal: Signal) -> bool:
    """Tell whether the signal is one the planner's rails treat as reduce-only."""
    target = signal.target
    flat = target is not None and target.market_position is MarketPosition.FLAT
    return signal.intent in REDUCING or flat


@SETTINGS
@given(
    exit_alerts,
    st.integers(-6, 6),
    st.sampled_from(list(OppositeSignal)),
    st.booleans(),
)
def test_exit_alert_in_any_format_never_reads_or_plans_as_added_exposure(
    raw: str, net_pos: int, opposite: OppositeSignal, allow_add: bool
) -> None:
    try:
        signal = parse_alert(raw).signal
    except InvalidSignal:
        return  # refusing is always safe (the codes are checked by the corpus tests)
    assert reduces(signal), (raw, signal)
    assert signal.brackets == ()
    assert signal.intent not in (Intent.BUY, Intent.SELL, Intent.ADD, Intent.REVERSE)
    pol = policy(opposite_signal=opposite, allow_add=allow_add, default_quantity=Decimal(2))
    result = run(signal, Book(net_pos=net_pos, last_price=Decimal(18000)), pol=pol)
    if not isinstance(result, Plan):
        return  # a denial places nothing
    after = result.position_after
    assert abs(after) <= abs(net_pos), (raw, net_pos, after)
    assert after * net_pos >= 0, (raw, net_pos, after)
    filled = simulate(result)
    assert abs(filled) <= abs(net_pos), (raw, net_pos, filled)
    assert filled * net_pos >= 0, (raw, net_pos, filled)


@settings(max_examples=200, deadline=None)
@given(exit_alerts)
def test_exit_alert_never_carries_a_target_on_the_other_side_of_flat(raw: str) -> None:
    try:
        signal = parse_alert(raw).signal
    except InvalidSignal:
        return
    target = signal.target
    # A partial exit may keep a target on the side it leaves; nothing reads as a new side.
    if target is not None and target.market_position is not MarketPosition.FLAT:
        assert signal.intent is Intent.EXIT
        assert signal.side is not None
        assert signal.side.sign != (1 if target.market_position is MarketPosition.LONG else -1)
