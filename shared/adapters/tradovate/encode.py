"""Turn domain requests into Tradovate request bodies; the one owner of outbound serialisation.

Trailing stops (docs/reference/tradovate-trailing-stops.md): Tradovate documents ``stopPrice``
as required for ``TrailingStop``/``TrailingStopLimit`` and the order as keeping the distance
between the market and that stop; ``pegDifference`` is the trailing offset, and its sign is
UNCONFIRMED. The domain's ``trail`` is a positive distance; ``PegStyle`` says how it goes on the
wire, by default signed like FIX tag 211 ("amount (signed) added to the price of the peg"):
negative for a sell stop, which trails below the market, positive for a buy stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.adapters.tradovate import schemas as w
from shared.domain.broker import (
    BracketLeg,
    BracketOrderRequest,
    ModifyOrderRequest,
    OcoOrderRequest,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)

ACTIONS: Mapping[Side, w.WireAction] = {Side.BUY: "Buy", Side.SELL: "Sell"}
ORDER_TYPES: Mapping[OrderType, w.WireOrderType] = {
    OrderType.MARKET: "Market",
    OrderType.LIMIT: "Limit",
    OrderType.STOP: "Stop",
    OrderType.STOP_LIMIT: "StopLimit",
    # Spelled correctly: one official tutorial misspells it "TralingStop" (reference §6 item 11).
    OrderType.TRAILING_STOP: "TrailingStop",
    OrderType.TRAILING_STOP_LIMIT: "TrailingStopLimit",
    OrderType.MARKET_IF_TOUCHED: "MIT",
}
TIMES_IN_FORCE: Mapping[TimeInForce, w.WireTimeInForce] = {
    TimeInForce.DAY: "Day",
    TimeInForce.GTC: "GTC",
    TimeInForce.GTD: "GTD",
    TimeInForce.IOC: "IOC",
    TimeInForce.FOK: "FOK",
}


class PegStyle(StrEnum):
    """Say how a trailing distance is sent as ``pegDifference`` (its sign is UNCONFIRMED)."""

    SIGNED = "signed"  # FIX tag 211: negative for a sell stop, positive for a buy stop
    UNSIGNED = "unsigned"  # the distance itself, positive for either side
    OMIT = "omit"  # left out when stopPrice is sent: the stop's distance is the trail


def peg_difference(
    side: Side, trail: Decimal | None, stop_price: Decimal | None, style: PegStyle
) -> Decimal | None:
    """Return the ``pegDifference`` to send for a trailing distance, or None to send none."""
    if trail is None or (style is PegStyle.OMIT and stop_price is not None):
        return None
    return -trail if style is not PegStyle.UNSIGNED and side is Side.SELL else trail


def _tif(value: TimeInForce | None) -> w.WireTimeInForce | None:
    return None if value is None else TIMES_IN_FORCE[value]


def _order_fields(req: OrderRequest, peg: PegStyle) -> dict[str, Any]:
    expire = None
    if req.expire_time is not None:
        expire = req.expire_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        "accountSpec": req.account_name,
        # The integer entity id, never the account name or the user id (reference §6 item 3).
        "accountId": req.account_id,
        "clOrdId": req.cl_ord_id,
        "action": ACTIONS[req.side],
        "symbol": req.symbol,
        "orderQty": req.qty,
        "orderType": ORDER_TYPES[req.order_type],
        "price": req.price,
        "stopPrice": req.stop_price,
        "pegDifference": peg_difference(req.side, req.trail, req.stop_price, peg),
        "timeInForce": _tif(req.time_in_force),
        "expireTime": expire,
        "text": req.text,
    }


def _leg(leg: BracketLeg, peg: PegStyle) -> w.BrokerRestrainedOrderVersion:
    return w.BrokerRestrainedOrderVersion(
        action=ACTIONS[leg.side],
        orderType=ORDER_TYPES[leg.order_type],
        clOrdId=leg.cl_ord_id,
        price=leg.price,
        stopPrice=leg.stop_price,
        pegDifference=peg_difference(leg.side, leg.trail, leg.stop_price, peg),
        timeInForce=_tif(leg.time_in_force),
        text=leg.text,
    )


def place_order(req: OrderRequest, peg: PegStyle = PegStyle.SIGNED) -> dict[str, Any]:
    """Return the ``order/placeorder`` body."""
    return w.BrokerPlaceOrder(**_order_fields(req, peg)).wire()


def place_oso(req: BracketOrderRequest, peg: PegStyle = PegStyle.SIGNED) -> dict[str, Any]:
    """Return the ``order/placeoso`` body."""
    second = _leg(req.legs[1], peg) if len(req.legs) > 1 else None
    return w.BrokerPlaceOso(
        **_order_fields(req.entry, peg), bracket1=_leg(req.legs[0], peg), bracket2=second
    ).wire()


def place_oco(req: OcoOrderRequest, peg: PegStyle = PegStyle.SIGNED) -> dict[str, Any]:
    """Return the ``order/placeoco`` body."""
    return w.BrokerPlaceOco(**_order_fields(req.order, peg), other=_leg(req.other, peg)).wire()


def modify_order(
    req: ModifyOrderRequest, side: Side | None = None, peg: PegStyle = PegStyle.SIGNED
) -> dict[str, Any]:
    """Return the ``order/modifyorder`` body (``side`` signs a trailing offset).

    A modify request does not carry the order's side, so a trailing offset that is sent signed
    needs it from the caller.
    """
    sell, buy = (peg_difference(s, req.trail, req.stop_price, peg) for s in (Side.SELL, Side.BUY))
    if side is None and sell != buy:
        raise ValueError("modifying a trailing offset needs the order's side to sign it")
    return w.BrokerModifyOrder(
        orderId=req.order_id,
        orderQty=req.qty,
        orderType=ORDER_TYPES[req.order_type],
        clOrdId=req.cl_ord_id,
        price=req.price,
        stopPrice=req.stop_price,
        pegDifference=sell if side is Side.SELL else buy,
        timeInForce=_tif(req.time_in_force),
    ).wire()


def cancel_order(order_id: int, cl_ord_id: str | None = None) -> dict[str, Any]:
    """Return the ``order/cancelorder`` body."""
    return w.BrokerCancelOrder(orderId=order_id, clOrdId=cl_ord_id).wire()


def liquidate_position(account_id: int, contract_id: int) -> dict[str, Any]:
    """Return the ``order/liquidateposition`` body."""
    return w.BrokerLiquidatePosition(accountId=account_id, contractId=contract_id).wire()


def sync_request(
    user_ids: tuple[int, ...] = (), account_ids: tuple[int, ...] = (), split: bool | None = None
) -> dict[str, Any]:
    """Return the ``user/syncrequest`` body (users and/or accounts, §4.6)."""
    if not user_ids and not account_ids:
        raise ValueError("user/syncrequest needs at least one user id or account id")
    return w.BrokerSyncRequest(
        users=list(user_ids) or None, accounts=list(account_ids) or None, splitResponses=split
    ).wire()
