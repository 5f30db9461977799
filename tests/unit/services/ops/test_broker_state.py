"""Broker state: the worker's cache when it is provably current, else one REST call."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from shared import redis_keys as keys
from shared.domain.broker import Position
from shared.domain.clock import ManualClock
from shared.domain.errors import NotFound
from shared.services.ops.broker_state import BrokerState, configured_accounts, contract_names
from tests.unit.services.ops.fakes import (
    NOW,
    FakeBrokerReads,
    FakeStore,
    book,
    documents,
    live,
    order,
)

MNQ = 3570918
POSITION = {"contract": "MNQZ6", "net_pos": 2, "net_price": "21000.25", "mark": "21010",
            "open_pnl": "40.00", "bought": 2, "sold": 0, "timestamp": NOW.isoformat()}  # fmt: skip
WORKING = {"order_id": 7, "account_id": 10001, "contract_id": MNQ, "contract": "MNQZ6",
           "cl_ord_id": "tb-x", "side": "sell", "status": "working", "qty": 2,
           "order_type": "stop", "stop_price": "20950"}  # fmt: skip
CASH = {"known": True, "amount": "50000.00", "realized_pnl": "0.00", "week_realized_pnl": "0.00",
        "open_pnl": "40.00", "total_pnl": "40.00", "net_liq": "50040.00",
        "marks_complete": True}  # fmt: skip


def state() -> tuple[BrokerState, FakeStore, FakeBrokerReads, ManualClock]:
    store, broker, clock = FakeStore(), FakeBrokerReads(), ManualClock(NOW)
    return BrokerState(book(), store, broker, clock), store, broker, clock


def cached(store: FakeStore) -> None:
    live(store)
    for account_id in (10001, 10002, 10003):
        documents(
            store,
            account_id,
            positions={"positions": {str(MNQ): POSITION} if account_id == 10001 else {}},
            orders={
                "orders": [WORKING] if account_id == 10001 else [],
                "settled": [
                    {"order_id": 5, "contract_id": MNQ, "status": "filled", "filled_qty": 2}
                ],
            },
            cash=CASH,
        )


def test_configured_accounts_merge_strategies_and_keep_a_known_id() -> None:
    refs = {r.name: r for r in configured_accounts(book())}
    assert refs["DEMO1"].strategies == ("killed", "off", "trend")
    assert refs["DEMO2"].id == 10002
    assert refs["NOID"].id is None


async def test_positions_from_a_live_synced_cache_cost_one_read_and_no_rest() -> None:
    service, store, broker, _ = state()
    cached(store)
    answer = await service.positions("DEMO1")
    assert answer["source"] == "cache"
    assert answer["age_s"] == 0
    assert answer["positions"] == [
        {"account": "DEMO1", "account_id": 10001, "contract_id": MNQ, "contract": "MNQZ6",
         "net_pos": 2, "net_price": "21000.25", "bought": 2, "sold": 0,
         "timestamp": NOW.isoformat(), "mark": "21010", "open_pnl": "40.00"}
    ]  # fmt: skip
    assert store.reads == 1
    assert broker.calls == []


async def test_positions_with_a_late_heartbeat_come_from_one_rest_call() -> None:
    service, store, broker, clock = state()
    cached(store)
    clock.advance(30)
    broker.position_list = [
        Position(1, 10001, MNQ, -1, Decimal("21000")),
        Position(2, 10009, MNQ, 5),  # an account no strategy trades: not shown
    ]
    store.strings[keys.contract_map("MNQ")] = '{"contracts": {"MNQZ6": {"id": 3570918}}}'
    answer = await service.positions(None)
    assert answer["source"] == "rest"
    assert "older than 10 s" in answer["reason"]
    assert [(p["account"], p["contract"], p["net_pos"]) for p in answer["positions"]] == [
        ("DEMO1", "MNQZ6", -1)
    ]
    assert broker.calls == ["accounts", "positions"]  # NOID has no id in the file: learned once
    await service.positions(None)
    assert broker.calls.count("accounts") == 1


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (lambda s: None, "not running"),
        (lambda s: live(s, sync="syncing"), "syncing"),
        (lambda s: (live(s), documents(s, 10001, positions={"positions": {}})), "no documents"),
    ],
)
async def test_positions_without_a_usable_cache_say_why_rest_answered(prepare, reason) -> None:  # type: ignore[no-untyped-def]
    service, store, _broker, _ = state()
    prepare(store)
    answer = await service.positions(None, flat=True)
    assert answer["source"] == "rest"
    assert reason in answer["reason"]
    assert answer["positions"] == []


async def test_max_age_zero_forces_rest_even_with_a_fresh_cache() -> None:
    service, store, _, clock = state()
    cached(store)
    clock.advance(0.5)
    assert (await service.positions("DEMO1", 0))["source"] == "rest"


async def test_unknown_account_is_not_found() -> None:
    service, _, _, _ = state()
    with pytest.raises(NotFound) as info:
        await service.positions("GHOST")
    assert info.value.code == "unknown_account"


async def test_orders_from_cache_are_working_and_with_all_also_settled() -> None:
    service, store, broker, _ = state()
    cached(store)
    working = await service.orders("DEMO1")
    assert [(o["order_id"], o["qty"], o["stop_price"]) for o in working["orders"]] == [
        (7, 2, "20950")
    ]
    every = await service.orders("DEMO1", every=True)
    assert [o["order_id"] for o in every["orders"]] == [7, 5]
    assert broker.calls == []


async def test_orders_from_rest_keep_working_ones_unless_all() -> None:
    service, _, broker, _ = state()
    broker.order_list = [order(1, 10001, MNQ), order(2, 10001, MNQ, "filled"),
                         order(3, 10009, MNQ)]  # fmt: skip
    working = await service.orders("DEMO1")
    assert [o["order_id"] for o in working["orders"]] == [1]
    assert working["orders"][0]["status"] == "working"
    every = await service.orders("DEMO1", every=True)
    assert [o["order_id"] for o in every["orders"]] == [1, 2]


async def test_balance_from_cache_and_from_rest_per_account() -> None:
    service, store, broker, clock = state()
    cached(store)
    answer = await service.balance(None)
    assert answer["source"] == "cache"
    assert {b["account"]: b["net_liq"] for b in answer["balances"]} == {
        "DEMO1": "50040.00", "DEMO2": "50040.00", "NOID": "50040.00"
    }  # fmt: skip
    clock.advance(60)
    answer = await service.balance("DEMO2")
    assert answer["source"] == "rest"
    assert answer["balances"][0]["net_liq"] == "50010"
    assert broker.calls == ["accounts", "cash:10002"]


async def test_balance_when_the_worker_has_no_cash_yet_asks_rest() -> None:
    service, store, _broker, _ = state()
    cached(store)
    documents(store, 10002, cash={"known": False})
    answer = await service.balance("DEMO2")
    assert answer["source"] == "rest"
    assert "cash balance" in answer["reason"]


async def test_accounts_from_cache_list_configured_ones_and_from_rest_all() -> None:
    service, store, _broker, clock = state()
    cached(store)
    await service.resolve_ids(service.refs(None))  # NOID's id learned from REST once
    answer = await service.accounts()
    assert answer["source"] == "cache"
    assert [a["name"] for a in answer["accounts"]] == ["DEMO1", "DEMO2", "NOID"]
    clock.advance(timedelta(minutes=1).total_seconds())
    answer = await service.accounts()
    assert answer["source"] == "rest"
    rows = {a["name"]: a for a in answer["accounts"]}
    assert rows["OTHER"]["configured"] is False
    assert rows["OTHER"]["active"] is False
    assert rows["DEMO1"]["strategies"] == ["killed", "off", "trend"]


async def test_accounts_without_configured_ids_ask_rest() -> None:
    service, store, _broker, _ = state()
    cached(store)
    answer = await service.accounts()
    assert answer["source"] == "rest"
    assert answer["reason"] == "account ids are not configured"


def test_contract_names_read_ids_from_maps_and_skip_junk() -> None:
    maps = [{"contracts": {"MNQZ6": {"id": 1}, "BAD": {"id": "x"}}}, None, {}]
    assert contract_names(maps) == {1: "MNQZ6"}
