"""The client's trailing stops at the simulator: placed as the client encodes them (stopPrice
plus a signed pegDifference, docs/reference/tradovate-trailing-stops.md), trailed when the
price moves, triggered as a stop, and trimmed by a quantity-only modify."""

from __future__ import annotations

from decimal import Decimal

import pytest

from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.client import TradovateClient
from shared.adapters.tradovate.rest import TradovateRest
from shared.domain.broker import (
    BracketLeg,
    BracketOrderRequest,
    ModifyOrderRequest,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from tests.integration.tradovate.conftest import front_month

pytestmark = pytest.mark.integration


async def _stop_of(rest: TradovateRest, order_id: int) -> tuple[Decimal | None, Decimal | None]:
    version = (await rest.order_versions(order_id))[-1]
    return version.stop_price, version.trail


async def test_client_trailing_stop_at_simulator_trails_up_then_triggers_at_the_market(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    rest = client.rest
    symbol = await front_month(rest, "NQ")  # starts at 21000
    await rest.place_order(OrderRequest(10001, symbol, Side.BUY, 2, OrderType.MARKET, "trl-in"))
    stop = OrderRequest(
        10001, symbol, Side.SELL, 2, OrderType.TRAILING_STOP, "trl-stop",
        stop_price=Decimal(20990), trail=Decimal(10),
    )  # fmt: skip
    ack = await rest.place_order(stop)
    assert await _stop_of(rest, ack.order_id) == (Decimal(20990), Decimal(10))
    tradovate_sim.set_price(symbol, "21025.5")
    assert await _stop_of(rest, ack.order_id) == (Decimal("21015.5"), Decimal(10))
    tradovate_sim.set_price(symbol, "21016")  # a dip above the stop leaves it where it was
    assert (await rest.order_state(ack.order_id)).status is OrderStatus.WORKING
    # A quantity trim restates the terms; the client signs the offset from the order's side.
    trim = ModifyOrderRequest(
        ack.order_id, 1, OrderType.TRAILING_STOP, stop_price=Decimal("21015.5"), trail=Decimal(10)
    )
    tradovate_sim.configure(trailing_modify_qty_only=True)
    await rest.modify_order(trim)
    tradovate_sim.set_price(symbol, "21015")
    state = await rest.order_state(ack.order_id)
    assert (state.status, state.filled_qty, state.average_price) == (
        OrderStatus.FILLED,
        1,
        Decimal(21015),
    )


async def test_client_bracket_with_trailing_leg_at_simulator_protects_the_fill_and_trails(
    client: TradovateClient, tradovate_sim: SimulatorServer
) -> None:
    rest = client.rest
    symbol = await front_month(rest, "MNQ")  # starts at 21000
    entry = OrderRequest(10001, symbol, Side.SELL, 1, OrderType.MARKET, "trl-br")
    legs = (
        BracketLeg(Side.BUY, OrderType.TRAILING_STOP, stop_price=Decimal(21008), trail=Decimal(8)),
        BracketLeg(Side.BUY, OrderType.LIMIT, price=Decimal(20900)),
    )
    ack = await rest.place_bracket(BracketOrderRequest(entry, legs))
    stop_id, target_id = ack.bracket_order_ids
    tradovate_sim.set_price(symbol, "20950")  # a short's stop trails the market down
    assert await _stop_of(rest, stop_id) == (Decimal(20958), Decimal(8))
    tradovate_sim.set_price(symbol, "20958")
    stopped = await rest.order_state(stop_id)
    assert (stopped.status, stopped.average_price) == (OrderStatus.FILLED, Decimal(20958))
    assert (await rest.order_state(target_id)).status is OrderStatus.CANCELED
    contract = await rest.find_contract(symbol)
    net = [p.net_pos for p in await rest.positions(10001) if p.contract_id == contract.id]
    assert net == [0]
