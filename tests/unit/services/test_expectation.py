"""The expectation a signal leaves for the next plan, and the wait for a plan's fills."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from shared.domain.broker import (
    BracketLeg,
    BracketOrderRequest,
    ModifyOrderRequest,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from shared.domain.planning.model import (
    CancelOrder,
    ModifyOrder,
    PlaceBracketOrder,
    PlaceOrder,
)
from shared.services.expectation import Expectation, expectation_after, unproven
from shared.services.live_state import LiveView, SettledOrder
from shared.services.settle import Settled, Timing, settle
from tests.fakes import FakeBroker, FakeLive


def market(qty: int, leg: str = "entry") -> PlaceOrder:
    request = OrderRequest(10001, "MNQZ6", Side.BUY, qty, OrderType.MARKET, f"cl-{leg}")
    return PlaceOrder(leg, request)


def limit(qty: int) -> PlaceOrder:
    request = OrderRequest(
        10001, "MNQZ6", Side.BUY, qty, OrderType.LIMIT, "cl-limit", price=Decimal(20900)
    )
    return PlaceOrder("entry", request)


def view(net_pos: int = 0, bought: int = 0, sold: int = 0, **parts: object) -> LiveView:
    position = Position(1, 10001, 777, net_pos, bought=bought, sold=sold)
    defaults: dict[str, object] = {"settled": {}, "parents": frozenset()}
    defaults.update(parts)
    return LiveView(position, (), None, None, **defaults)  # type: ignore[arg-type]


def test_dumps_and_loads_round_trip() -> None:
    expected = Expectation("sig", bought=3, sold=1, working={7: 2}, settled=(5,), brackets=(5,))
    assert Expectation.loads(expected.dumps()) == expected
    assert Expectation.loads(None) is None


@pytest.mark.parametrize(
    "raw", ["not json", "[]", '{"bought": 1}', '{"signal_id": "s", "bought": -1}',
            '{"signal_id": "s", "working": {"x": 1}}', '{"signal_id": "s", "sold": true}'],
)  # fmt: skip
def test_unreadable_expectation_is_unsure_never_absent(raw: str) -> None:
    loaded = Expectation.loads(raw)
    assert loaded is not None
    assert loaded.unsure
    assert unproven(view(), loaded) is not None


def test_cache_ahead_of_the_expectation_is_proven() -> None:
    expected = Expectation("s", bought=2, sold=0, settled=(5,))
    settled = {5: SettledOrder(OrderStatus.FILLED, 2), 6: SettledOrder(OrderStatus.FILLED, 1)}
    # A bracket's stop filled since: more sold than expected is newer, not older.
    assert unproven(view(1, bought=2, sold=1, settled=settled), expected) is None


@pytest.mark.parametrize(
    ("shown", "why"),
    [
        ({"bought": 1}, "fewer than"),
        ({"bought": 2, "settled": {}}, "not settled in the cache"),
        ({"bought": 2, "settled": None}, "does not list settled orders"),
    ],
)
def test_cache_missing_what_the_last_signal_did_is_not_proven(
    shown: dict[str, object], why: str
) -> None:
    expected = Expectation("s", bought=2, settled=(5,))
    parts = {"settled": {5: SettledOrder(OrderStatus.FILLED, 2)}, **shown}
    bought = int(parts.pop("bought"))  # type: ignore[call-overload]
    assert why in str(unproven(view(2, bought=bought, **parts), expected))


def test_bracket_parent_without_its_exits_in_the_cache_is_not_proven() -> None:
    expected = Expectation("s", bought=1, settled=(5,), brackets=(5,))
    settled = {5: SettledOrder(OrderStatus.FILLED, 1)}
    assert "bracket orders" in str(unproven(view(1, bought=1, settled=settled), expected))
    shown = view(1, bought=1, settled=settled, parents=frozenset({5}))
    assert unproven(shown, expected) is None


def test_expectation_after_a_plan_lists_trades_cancels_and_what_stays_working() -> None:
    seen = Expectation("s", bought=4, sold=2, working={40: 2, 41: 2, 42: 1})
    bracket = BracketOrderRequest(
        entry=OrderRequest(10001, "MNQZ6", Side.BUY, 1, OrderType.MARKET, "cl-b"),
        legs=(BracketLeg(Side.SELL, OrderType.LIMIT, price=Decimal(21100)),),
    )
    modify = ModifyOrderRequest(order_id=41, qty=1, order_type=OrderType.LIMIT,
                                price=Decimal(21100))  # fmt: skip
    legs = [
        (CancelOrder("cancel.40", 40, "cl-c"), 40),
        (ModifyOrder("modify.41", modify), 41),
        (market(2), 50),
        (limit(1), 51),
        (PlaceBracketOrder("bracket", bracket), 52),
    ]
    settled = {
        40: Settled(40, OrderStatus.CANCELED, 0, "cache"),
        50: Settled(50, OrderStatus.FILLED, 2, "cache"),
        52: Settled(52, OrderStatus.FILLED, 1, "rest"),
    }
    after = expectation_after("next", seen, legs, settled)
    assert (after.bought, after.sold) == (4, 2)  # the plan's own fills are proven by id
    assert after.working == {41: 1, 42: 1, 51: 1}
    assert sorted(after.settled) == [40, 50, 52]
    assert after.brackets == (52,)
    assert not after.unsure


def test_expectation_after_a_fill_not_confirmed_or_a_followed_plan_is_unsure() -> None:
    seen = Expectation("s")
    timeout = {50: Settled(50, None, 0, "timeout")}
    assert expectation_after("n", seen, [(market(1), 50)], timeout).unsure
    assert expectation_after("n", None, [], {}).unsure


FAST = Timing(poll_s=0.001, fill_cache_s=0.01, fill_timeout_s=0.05, rest_poll_s=0.002)


def test_settle_reads_the_cache_first_then_rest_then_gives_up() -> None:
    broker = FakeBroker()
    live = FakeLive(broker)
    broker.add_order(7, "buy", 1, "market", status="filled")
    broker.filled[7] = 1
    broker.add_order(8, "buy", 1, "limit")  # never closes

    live.fresh = True
    from_cache = asyncio.run(settle([7], 10001, live, broker, FAST))
    assert from_cache[7] == Settled(7, OrderStatus.FILLED, 1, "cache", broker.price)
    assert broker.state_reads == []

    live.fresh = False  # no worker: REST answers
    from_rest = asyncio.run(settle([7, 8], 10001, live, broker, FAST))
    assert from_rest[7].source == "rest"
    assert from_rest[8] == Settled(8, None, 0, "timeout")
    assert broker.state_reads.count(8) >= 2  # it asked again until the timeout
    assert not from_rest[8].untraded  # a timeout says nothing about the trade


def test_settle_keeps_asking_when_rest_cannot_answer_yet() -> None:
    broker = FakeBroker()
    broker.add_order(7, "buy", 1, "market", status="rejected")
    broker.state_fails = True
    result = asyncio.run(settle([7], 10001, FakeLive(broker), broker, FAST))
    assert result[7].source == "timeout"
    broker.state_fails = False
    result = asyncio.run(settle([7], 10001, FakeLive(broker), broker, FAST))
    assert result[7] == Settled(7, OrderStatus.REJECTED, 0, "rest")
    assert result[7].untraded
