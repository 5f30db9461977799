"""The REST client against the simulator: reference data, account state and every order call."""

from __future__ import annotations

from decimal import Decimal

import pytest

from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.client import TradovateClient
from shared.adapters.tradovate.errors import BrokerNotFound
from shared.domain.broker import (
    BracketLeg,
    BracketOrderRequest,
    ModifyOrderRequest,
    OcoOrderRequest,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from shared.domain.errors import BrokerRejected
from tests.integration.tradovate.conftest import front_month, requests

pytestmark = pytest.mark.integration


def _market(symbol: str, cl_ord_id: str, side: Side = Side.BUY, qty: int = 1) -> OrderRequest:
    return OrderRequest(10001, symbol, side, qty, OrderType.MARKET, cl_ord_id)


async def test_reference_data_with_simulator_resolves_front_month_spec_and_maturities(
    client: TradovateClient,
) -> None:
    rest = client.rest
    assert [a.id for a in await rest.accounts()] == [10001, 10002]
    symbol = await front_month(rest, "NQ")
    spec = await rest.contract_spec(symbol)
    assert (spec.root, spec.tick_size, spec.value_per_point) == ("NQ", Decimal("0.25"), Decimal(20))
    assert spec.expiration is not None
    assert spec.maturity is not None
    maturities = await rest.product_maturities(spec.product.id)
    assert spec.maturity.id in {m.id for m in maturities}
    assert (await rest.find_product("CL")).value_per_point == Decimal(1000)
    rolled = await rest.roll_contract(symbol)
    assert rolled.name[:-2] == "NQ"
    with pytest.raises(BrokerNotFound):
        await rest.find_contract("NQZ0X")


async def test_market_order_with_simulator_fills_and_shows_in_position_fill_and_cash(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    rest = client.rest
    symbol = await front_month(rest, "MES")
    ack = await rest.place_order(_market(symbol, "it-mkt-1", qty=2))
    assert not ack.recovered
    found = await rest.find_order_by_cl_ord_id(10001, "it-mkt-1")
    assert found is not None
    assert (found.id, found.status) == (ack.order_id, OrderStatus.FILLED)
    assert (await rest.orders_by_cl_ord_id(10001))["it-mkt-1"].id == ack.order_id
    (position,) = [p for p in await rest.positions(10001) if not p.is_flat]
    assert position.net_pos == 2
    fills = await rest.fills(ack.order_id)
    assert sum(f.qty for f in fills) == 2
    assert position.net_price == fills[0].price
    tradovate_sim.set_price(symbol, str(fills[0].price + Decimal(10)))
    snapshot = await rest.cash_balance_snapshot(10001)
    assert snapshot.open_pnl == Decimal(10) * Decimal(5) * 2  # 10 points x $5 x 2 contracts
    state_orders = tradovate_sim.state()["orders"]
    assert all(o["accountId"] == 10001 for o in state_orders)


async def test_bracket_oco_modify_cancel_liquidate_with_simulator_keep_state_consistent(
    client: TradovateClient,
) -> None:
    rest = client.rest
    symbol = await front_month(rest, "NQ")
    spec = await rest.contract_spec(symbol)
    bracket = BracketOrderRequest(
        _market(symbol, "it-oso-1"),
        (
            BracketLeg(Side.SELL, OrderType.LIMIT, price=Decimal("21100")),
            BracketLeg(Side.SELL, OrderType.STOP, stop_price=Decimal("20900")),
        ),
    )
    ack = await rest.place_bracket(bracket)
    assert len(ack.bracket_order_ids) == 2
    versions = await rest.order_versions(ack.bracket_order_ids[1])
    assert versions[-1].stop_price == Decimal("20900")
    modified = await rest.modify_order(
        ModifyOrderRequest(ack.bracket_order_ids[1], 1, OrderType.STOP, stop_price=Decimal("20950"))
    )
    assert modified.command_id > 0
    assert (await rest.order_versions(ack.bracket_order_ids[1]))[-1].stop_price == Decimal("20950")
    await rest.cancel_order(ack.bracket_order_ids[0])
    oco = await rest.place_oco(
        OcoOrderRequest(
            OrderRequest(
                10002, symbol, Side.BUY, 1, OrderType.LIMIT, "it-oco-1", price=Decimal(20000)
            ),
            BracketLeg(Side.BUY, OrderType.STOP, stop_price=Decimal(22000)),
        )
    )
    assert oco.oco_id is not None
    assert await rest.liquidate_position(10001, spec.contract_id) is not None
    positions = [p for p in await rest.positions(10001) if p.contract_id == spec.contract_id]
    assert [p.net_pos for p in positions] == [0]
    # Whether liquidation also cancels the filled entry's remaining bracket leg is the
    # simulator's concern (it currently keeps it working); the client only asks.


async def test_rejections_with_simulator_carry_failure_reason_and_are_sent_once(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    rest = client.rest
    with pytest.raises(BrokerRejected) as info:
        await rest.place_order(_market("ZZZZ9", "it-bad-contract"))
    assert info.value.code == "InvalidContract"
    symbol = await front_month(rest, "ES")
    tradovate_sim.set_account(10001, locked=True)
    with pytest.raises(BrokerRejected) as locked:
        await rest.place_order(_market(symbol, "it-locked"))
    assert locked.value.code != "broker_bad_payload"
    assert requests(tradovate_sim, "order/placeorder") == 2


async def test_lookup_first_with_existing_order_returns_it_without_placing_again(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    rest = client.rest
    symbol = await front_month(rest, "MNQ")
    first = await rest.place_order(_market(symbol, "it-redelivered"))
    again = await rest.place_order(_market(symbol, "it-redelivered"), lookup_first=True)
    assert (again.order_id, again.recovered) == (first.order_id, True)
    assert requests(tradovate_sim, "order/placeorder") == 1
