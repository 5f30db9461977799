"""Property tests: positions, fills and cash stay consistent over random order sequences."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.tradovate_sim import SimConfig, SimulatorServer
from local.tradovate_sim.clock import SimClock
from local.tradovate_sim.contracts import ContractLibrary
from local.tradovate_sim.engine import Engine
from local.tradovate_sim.ledger import open_pnl
from local.tradovate_sim.validation import PlaceRequest, VersionSpec
from tests.sim.conftest import ACCOUNT_ID, front, order

ROOTS = ("ES", "NQ", "CL")
ACCOUNTS = (10001, 10002)

orders = st.tuples(
    st.just("order"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(ROOTS),
    st.sampled_from(("Buy", "Sell")),
    st.integers(1, 5),
    st.sampled_from(("Market", "Limit", "Stop")),
    st.integers(-4, 4),
)
moves = st.tuples(st.just("price"), st.sampled_from(ROOTS), st.integers(-8, 8))
steps = st.lists(st.one_of(orders, moves), min_size=1, max_size=25)


def _engine() -> Engine:
    clock = SimClock(datetime(2025, 7, 1, 15, tzinfo=UTC))
    return Engine(SimConfig(), ContractLibrary(clock.now()), clock)


def _run(engine: Engine, plan: list[tuple[Any, ...]]) -> None:
    products = [engine.library.product(root) for root in ROOTS]
    fronts = {
        p.name: engine.library.front(p, engine.clock.now()) for p in products if p is not None
    }
    for step in plan:
        contract = fronts[step[1] if step[0] == "price" else step[2]]
        assert contract is not None
        tick = contract.product.tick_size
        market = engine.market.price(contract.id)
        if step[0] == "price":
            engine.set_price(contract.id, market + step[2] * tick)
            continue
        _, account, _, action, qty, kind, offset = step
        level = market + offset * tick
        spec = VersionSpec(
            action,
            kind,
            price=level if kind == "Limit" else None,
            stop_price=level if kind == "Stop" else None,
        )
        # Every generated request is valid, so a Rejection here fails the test.
        engine.place(PlaceRequest(account, None, contract.name, qty, spec, True, None, None), 1)
        engine.take_events()


def _check(engine: Engine) -> None:
    signed: dict[tuple[int, int], int] = defaultdict(int)
    cash_flow: dict[int, Decimal] = defaultdict(Decimal)
    for fill in engine.fills.values():
        qty = fill.qty if fill.action == "Buy" else -fill.qty
        signed[(fill.account_id, fill.contract_id)] += qty
        contract = engine.library.contracts[fill.contract_id]
        mark = engine.market.price(contract.id)
        cash_flow[fill.account_id] += (mark - fill.price) * qty * contract.product.value_per_point
    for key, position in engine.positions.items():
        assert position.net_pos == signed[key]
        assert position.net_pos == position.bought - position.sold
        assert sum(lot.qty for lot in position.lots) == position.net_pos
        if position.net_pos:
            assert all((lot.qty > 0) == (position.net_pos > 0) for lot in position.lots)
    for account_id, cash in engine.cash.items():
        open_total = sum(
            (
                open_pnl(
                    p,
                    engine.market.price(p.contract_id),
                    engine.library.contracts[p.contract_id].product.value_per_point,
                )
                for p in engine.positions.values()
                if p.account_id == account_id
            ),
            Decimal(0),
        )
        assert cash.realized_pnl + open_total == cash_flow[account_id]
        assert cash.amount == Decimal(50000) + cash.realized_pnl
        snapshot = engine.cash_snapshot(account_id)
        assert snapshot["netLiq"] == cash.amount + open_total
    for order_ in engine.orders.values():
        fills = [f for f in engine.fills.values() if f.order_id == order_.id]
        assert (order_.ord_status == "Filled") == bool(fills)
        assert sum(f.qty for f in fills) in (0, order_.version.order_qty)
        if order_.working and order_.version.order_type == "Limit":
            market = engine.market.price(order_.contract_id)
            limit = order_.version.price
            assert limit is not None
            assert limit < market if order_.action == "Buy" else limit > market


@settings(max_examples=300, deadline=None)
@given(plan=steps)
def test_engine_with_random_orders_keeps_positions_fills_and_cash_consistent(
    plan: list[tuple[Any, ...]],
) -> None:
    engine = _engine()
    _run(engine, plan)
    _check(engine)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(("Buy", "Sell")), st.integers(1, 3), st.integers(-6, 6)),
        min_size=1,
        max_size=6,
    )
)
def test_rest_with_random_market_orders_reports_consistent_position_and_snapshot(
    sim: SimulatorServer, api: httpx.Client, plan: list[tuple[str, int, int]]
) -> None:
    sim.reset()
    login = api.post(
        "/auth/accesstokenrequest",
        json={"name": "sim-trader", "password": "sim-password", "cid": 8, "sec": "sim-api-secret"},
    ).json()
    api.headers["Authorization"] = f"Bearer {login['accessToken']}"
    es = front(api, "ES")
    price = Decimal("6000")
    for action, qty, ticks in plan:
        price += ticks * Decimal("0.25")
        sim.set_price(es["name"], str(price))
        assert (
            "orderId" in api.post("/order/placeorder", json=order(es["name"], action, qty)).json()
        )
    fills = api.get("/fill/list").json()
    net = sum(f["qty"] if f["action"] == "Buy" else -f["qty"] for f in fills)
    flow = (
        sum(
            (price - Decimal(str(f["price"]))) * (f["qty"] if f["action"] == "Buy" else -f["qty"])
            for f in fills
        )
        * 50
    )
    positions = api.get("/position/list").json()
    assert positions[0]["netPos"] == net
    snapshot = api.post("/cashBalance/getcashbalancesnapshot", json={"accountId": ACCOUNT_ID})
    body: dict[str, Any] = snapshot.json()
    total = Decimal(str(body.get("realizedPnL", 0))) + Decimal(str(body.get("openPnL", 0)))
    assert total == flow
    assert Decimal(str(body["netLiq"])) == Decimal(50000) + flow
