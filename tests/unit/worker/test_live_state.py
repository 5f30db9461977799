"""LiveState: the executor's read of the worker's cache, and every reason it says None."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared import redis_keys as keys
from shared.domain.broker import OrderType, Side
from shared.domain.planning.model import WorkingOrder
from shared.services.live_state import LiveState

A, C = 10001, 3001


class FakeRedis:
    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = {
            keys.WORKER_HEARTBEAT: b'{"at": "now"}',
            keys.WORKER_SYNC_STATE: b"synced",
            **(values or {}),
        }
        self.calls = 0

    async def _mget(self, names: list[str]) -> list[Any]:
        self.calls += 1
        return [self.values.get(name) for name in names]

    def mget(self, names: list[str]) -> Any:
        return self._mget(names)


def _positions(**entry: Any) -> str:
    base = {
        "net_pos": 2,
        "net_price": "6000.25",
        "bought": 2,
        "sold": 0,
        "position_id": 7,
        "timestamp": "2026-03-02T15:00:00+00:00",
    }
    return json.dumps({"as_of": "x", "positions": {str(C): {**base, **entry}}})


def _order(**entry: Any) -> dict[str, Any]:
    base = {
        "order_id": 5,
        "contract_id": C,
        "side": "sell",
        "status": "working",
        "qty": 2,
        "order_type": "stop",
        "stop_price": "5990",
        "price": None,
        "trail": None,
        "oco_id": 6,
        "parent_id": 4,
    }
    return {**base, **entry}


def _cash(**entry: Any) -> str:
    base = {
        "known": True,
        "marks_complete": True,
        "amount": "50100.00",
        "net_liq": "50300.00",
        "open_pnl": "200.00",
        "realized_pnl": "100.00",
        "week_realized_pnl": "100.00",
    }
    return json.dumps({**base, **entry})


async def test_position_with_fresh_cache_reads_the_document_in_one_round_trip() -> None:
    redis = FakeRedis({keys.live_positions(A): _positions()})
    position = await LiveState(redis).position(A, C)
    assert position is not None
    assert (position.id, position.net_pos, position.net_price) == (7, 2, Decimal("6000.25"))
    assert position.timestamp == datetime(2026, 3, 2, 15, tzinfo=UTC)
    assert redis.calls == 1


async def test_position_with_unknown_contract_is_flat_and_flat_has_no_price() -> None:
    live = LiveState(FakeRedis({keys.live_positions(A): _positions(net_pos=0, timestamp=None)}))
    flat = await live.position(A, C)
    assert flat is not None
    assert (flat.net_pos, flat.net_price, flat.timestamp) == (0, None, None)
    never = await live.position(A, 999)
    assert never is not None
    assert (never.id, never.net_pos) == (0, 0)


@pytest.mark.parametrize(
    "values",
    [
        {keys.WORKER_HEARTBEAT: None},
        {keys.WORKER_SYNC_STATE: b"syncing"},
        {keys.live_positions(A): None},
        {keys.live_positions(A): "not json"},
        {keys.live_positions(A): "[1, 2]"},
        {keys.live_positions(A): _positions(net_pos="two")},
        {keys.live_positions(A): json.dumps({"positions": {str(C): {"bought": 1}}})},
    ],
)
async def test_position_with_stale_or_broken_cache_is_none(values: dict[str, Any]) -> None:
    redis = FakeRedis({keys.live_positions(A): _positions()})
    redis.values.update(values)
    assert await LiveState(redis).position(A, C) is None


@pytest.mark.parametrize(
    ("entry", "price"),
    [
        ({"net_price": "NaN"}, None),
        ({"net_price": "x"}, None),
        ({"timestamp": "nope"}, "6000.25"),
        ({"timestamp": "2026-03-02T15:00:00"}, "6000.25"),
    ],
)
async def test_position_with_odd_values_drops_only_those_values(
    entry: dict[str, Any], price: str | None
) -> None:
    live = LiveState(FakeRedis({keys.live_positions(A): _positions(**entry)}))
    position = await live.position(A, C)
    assert position is not None
    assert position.net_price == (None if price is None else Decimal(price))


async def test_working_orders_with_fresh_cache_builds_planner_orders() -> None:
    other = _order(
        order_id=8,
        contract_id=4000,
        order_type="limit",
        price="1",
        side="buy",
        stop_price=None,
        oco_id=None,
        parent_id=None,
    )
    document = json.dumps({"orders": [_order(), other]})
    live = LiveState(FakeRedis({keys.live_orders(A): document}))
    assert await live.working_orders(A, C) == (
        WorkingOrder(5, Side.SELL, 2, OrderType.STOP, stop_price=Decimal(5990), group=6),
    )
    everything = await live.working_orders(A)
    assert everything is not None
    assert [o.order_id for o in everything] == [5, 8]
    assert everything[1].group is None


@pytest.mark.parametrize(
    "entry",
    [
        {"status": "filled"},
        {"qty": None},
        {"qty": 0},
        {"order_type": "bogus"},
        {"side": "up"},
        {"status": "nope"},
    ],
)
async def test_working_orders_with_incomplete_order_cannot_answer(entry: dict[str, Any]) -> None:
    document = json.dumps({"orders": [_order(**entry)]})
    assert await LiveState(FakeRedis({keys.live_orders(A): document})).working_orders(A) is None


async def test_working_orders_with_stale_cache_is_none() -> None:
    assert await LiveState(FakeRedis()).working_orders(A) is None


async def test_cash_with_complete_marks_returns_the_snapshot() -> None:
    cash = await LiveState(FakeRedis({keys.live_cash(A): _cash()})).cash(A)
    assert cash is not None
    assert (cash.open_pnl, cash.realized_pnl, cash.total_pnl) == (200, 100, 300)
    assert cash.day_pnl == Decimal("300.00")
    assert cash.total_cash_value == Decimal("50100.00")


@pytest.mark.parametrize(
    "entry", [{"known": False}, {"marks_complete": False}, {"open_pnl": None}, {"amount": "x"}]
)
async def test_cash_with_incomplete_document_is_none(entry: dict[str, Any]) -> None:
    assert await LiveState(FakeRedis({keys.live_cash(A): _cash(**entry)})).cash(A) is None


async def test_cash_with_stale_cache_is_none() -> None:
    assert await LiveState(FakeRedis()).cash(A) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (json.dumps({"mark": "6001.25"}), Decimal("6001.25")),
        (None, None),
        ("{", None),
        ("[]", None),
        (json.dumps({"mark": None}), None),
    ],
)
async def test_last_price_reads_the_quote_mark(raw: str | None, expected: Decimal | None) -> None:
    live = LiveState(FakeRedis({keys.quote(C): raw}))
    assert await live.last_price(C) == expected


async def test_is_live_needs_heartbeat_and_synced() -> None:
    assert await LiveState(FakeRedis()).is_live()
    assert not await LiveState(FakeRedis({keys.WORKER_SYNC_STATE: "stale"})).is_live()
    assert not await LiveState(FakeRedis({keys.WORKER_HEARTBEAT: None})).is_live()


async def test_view_with_fresh_cache_reads_every_part_in_one_round_trip() -> None:
    redis = FakeRedis(
        {
            keys.live_positions(A): _positions(),
            keys.live_orders(A): json.dumps({"orders": [_order()]}),
            keys.live_cash(A): _cash(marks_complete=False),
            keys.quote(C): json.dumps({"mark": "6001"}),
        }
    )
    view = await LiveState(redis).view(A, C)
    assert view is not None
    assert view.position is not None
    assert view.position.net_pos == 2
    assert view.working_orders is not None
    assert [o.order_id for o in view.working_orders] == [5]
    assert view.cash is None  # marks incomplete: that part alone falls back to REST
    assert view.last_price == Decimal(6001)
    assert redis.calls == 1


async def test_view_with_stale_cache_or_no_quote() -> None:
    assert await LiveState(FakeRedis({keys.WORKER_SYNC_STATE: None})).view(A, C) is None
    view = await LiveState(FakeRedis()).view(A, C)
    assert view is not None
    assert (view.position, view.working_orders, view.cash, view.last_price) == (
        None,
        None,
        None,
        None,
    )
