"""The simulator's mutable entities and their wire form (Tradovate's camelCase field names).

Each ``wire()`` is the single place where an entity becomes the JSON Tradovate would send; the
rest of the simulator works with these typed objects and ``Decimal`` amounts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


@dataclass
class Account:
    """One trading account and its risk switches."""

    id: int
    name: str
    user_id: int
    timestamp: str
    active: bool = True
    locked: bool = False
    liquidation_only: bool = False
    max_order_qty: int | None = None
    max_position: int | None = None

    def wire(self) -> dict[str, Any]:
        """Return the ``Account`` entity."""
        return {
            "id": self.id,
            "name": self.name,
            "userId": self.user_id,
            "accountType": "Customer",
            "active": self.active,
            "clearingHouseId": 2,
            "riskCategoryId": 2,
            "autoLiqProfileId": 2,
            "marginAccountType": "Speculator",
            "legalStatus": "Individual",
            "timestamp": self.timestamp,
            "readonly": False,
        }

    def risk_status_wire(self) -> dict[str, Any]:
        """Return the ``AccountRiskStatus`` entity (its id is the account id)."""
        action = "Normal"
        if self.locked:
            action = "LockTrading"
        elif self.liquidation_only:
            action = "LiquidateOnly"
        return {"id": self.id, "adminAction": action, "userTriggeredLiqOnly": False}


@dataclass
class OrderVersion:
    """Price, quantity and type of an order; a new one per modify (id = the command's id)."""

    id: int
    order_id: int
    order_qty: int
    order_type: str
    price: Decimal | None = None
    stop_price: Decimal | None = None
    max_show: int | None = None
    peg_difference: Decimal | None = None
    time_in_force: str | None = None
    expire_time: str | None = None
    text: str | None = None

    def wire(self) -> dict[str, Any]:
        """Return the ``OrderVersion`` entity."""
        return _compact(
            {
                "id": self.id,
                "orderId": self.order_id,
                "orderQty": self.order_qty,
                "orderType": self.order_type,
                "price": self.price,
                "stopPrice": self.stop_price,
                "maxShow": self.max_show,
                "pegDifference": self.peg_difference,
                "timeInForce": self.time_in_force,
                "expireTime": self.expire_time,
                "text": self.text,
            }
        )


@dataclass
class Order:
    """An order; price and quantity live on its current ``OrderVersion``."""

    id: int
    account_id: int
    contract_id: int
    timestamp: str
    action: str
    version: OrderVersion
    ord_status: str = "PendingNew"
    cl_ord_id: str | None = None
    oco_id: int | None = None
    parent_id: int | None = None
    linked_id: int | None = None
    admin: bool = False
    # Simulation state, never on the wire:
    triggered: bool = False  # a stop or stop-limit whose trigger has been hit
    resting: bool = False  # has been evaluated once; later fills happen at the limit price
    trail: Decimal | None = None  # a trailing order's distance, set when it starts working
    bracket_ids: list[int] = field(default_factory=list)
    cum_qty: int = 0
    avg_px: Decimal | None = None

    @property
    def working(self) -> bool:
        """Say whether the order can still trade."""
        return self.ord_status == "Working"

    @property
    def done(self) -> bool:
        """Say whether the order has reached a final state."""
        return self.ord_status in ("Filled", "Canceled", "Rejected", "Expired", "Completed")

    def wire(self, include_cl_ord_id: bool = False) -> dict[str, Any]:
        """Return the ``Order`` entity."""
        data = _compact(
            {
                "id": self.id,
                "accountId": self.account_id,
                "contractId": self.contract_id,
                "timestamp": self.timestamp,
                "action": self.action,
                "ordStatus": self.ord_status,
                "executionProviderId": 1,
                "ocoId": self.oco_id,
                "parentId": self.parent_id,
                "linkedId": self.linked_id,
                "admin": self.admin,
            }
        )
        if include_cl_ord_id and self.cl_ord_id is not None:
            data["clOrdId"] = self.cl_ord_id
        return data


@dataclass
class Command:
    """A request against an order (New, Modify, Cancel)."""

    id: int
    order_id: int
    timestamp: str
    command_type: str
    command_status: str
    sender_id: int
    user_session_id: int
    is_automated: bool
    cl_ord_id: str | None = None
    activation_time: str | None = None
    custom_tag50: str | None = None

    def wire(self) -> dict[str, Any]:
        """Return the ``Command`` entity."""
        return _compact(
            {
                "id": self.id,
                "orderId": self.order_id,
                "timestamp": self.timestamp,
                "clOrdId": self.cl_ord_id,
                "commandType": self.command_type,
                "commandStatus": self.command_status,
                "senderId": self.sender_id,
                "userSessionId": self.user_session_id,
                "activationTime": self.activation_time,
                "customTag50": self.custom_tag50,
                "isAutomated": self.is_automated,
            }
        )


@dataclass
class CommandReport:
    """The outcome of a command's risk check."""

    id: int
    command_id: int
    timestamp: str
    command_status: str
    ord_status: str | None = None
    reject_reason: str | None = None
    text: str | None = None

    def wire(self) -> dict[str, Any]:
        """Return the ``CommandReport`` entity."""
        return _compact(
            {
                "id": self.id,
                "commandId": self.command_id,
                "timestamp": self.timestamp,
                "commandStatus": self.command_status,
                "ordStatus": self.ord_status,
                "rejectReason": self.reject_reason,
                "text": self.text,
            }
        )


@dataclass
class ExecutionReport:
    """An exchange report about an order: New, Trade, Canceled, Replaced, Expired..."""

    id: int
    command_id: int
    account_id: int
    contract_id: int
    order_id: int
    timestamp: str
    trade_date: dict[str, int]
    exec_type: str
    ord_status: str
    action: str
    cum_qty: int
    avg_px: Decimal | None = None
    last_qty: int | None = None
    last_px: Decimal | None = None
    exec_ref_id: int | None = None
    text: str | None = None

    def wire(self) -> dict[str, Any]:
        """Return the ``ExecutionReport`` entity."""
        return _compact(
            {
                "id": self.id,
                "commandId": self.command_id,
                # Required by the spec, meaning undocumented; the report's own id as text.
                "name": str(self.id),
                "accountId": self.account_id,
                "contractId": self.contract_id,
                "timestamp": self.timestamp,
                "tradeDate": self.trade_date,
                "orderId": self.order_id,
                "execType": self.exec_type,
                "execRefId": self.exec_ref_id,
                "ordStatus": self.ord_status,
                "action": self.action,
                "cumQty": self.cum_qty,
                "avgPx": self.avg_px,
                "lastQty": self.last_qty,
                "lastPx": self.last_px,
                "text": self.text,
                "exchangeOrderId": f"SIM{self.order_id}",
            }
        )


@dataclass
class Fill:
    """One execution of an order."""

    id: int
    order_id: int
    account_id: int
    contract_id: int
    timestamp: str
    trade_date: dict[str, int]
    action: str
    qty: int
    price: Decimal
    finally_paired: bool = False

    def wire(self) -> dict[str, Any]:
        """Return the ``Fill`` entity."""
        return {
            "id": self.id,
            "orderId": self.order_id,
            "contractId": self.contract_id,
            "timestamp": self.timestamp,
            "tradeDate": self.trade_date,
            "action": self.action,
            "qty": self.qty,
            "price": self.price,
            "active": True,
            "finallyPaired": self.finally_paired,
        }


@dataclass
class FillPair:
    """A buy fill matched against a sell fill (FIFO) within one position."""

    id: int
    position_id: int
    buy_fill_id: int
    sell_fill_id: int
    qty: int
    buy_price: Decimal
    sell_price: Decimal

    def wire(self) -> dict[str, Any]:
        """Return the ``FillPair`` entity."""
        return {
            "id": self.id,
            "positionId": self.position_id,
            "buyFillId": self.buy_fill_id,
            "sellFillId": self.sell_fill_id,
            "qty": self.qty,
            "buyPrice": self.buy_price,
            "sellPrice": self.sell_price,
            "active": True,
        }


@dataclass
class Lot:
    """Open quantity left from one fill (positive long, negative short)."""

    fill_id: int
    qty: int
    price: Decimal


@dataclass
class Position:
    """Net position of one account in one contract, with FIFO lots behind ``netPrice``."""

    id: int
    account_id: int
    contract_id: int
    timestamp: str
    trade_date: dict[str, int]
    net_pos: int = 0
    bought: int = 0
    bought_value: Decimal = Decimal(0)
    sold: int = 0
    sold_value: Decimal = Decimal(0)
    lots: deque[Lot] = field(default_factory=deque)

    @property
    def net_price(self) -> Decimal | None:
        """Average price of the open lots, or None when flat."""
        if self.net_pos == 0:
            return None
        total = sum((abs(lot.qty) * lot.price for lot in self.lots), Decimal(0))
        return total / abs(self.net_pos)

    def wire(self) -> dict[str, Any]:
        """Return the ``Position`` entity (``netPrice`` absent when flat)."""
        return _compact(
            {
                "id": self.id,
                "accountId": self.account_id,
                "contractId": self.contract_id,
                "timestamp": self.timestamp,
                "tradeDate": self.trade_date,
                "netPos": self.net_pos,
                "netPrice": self.net_price,
                "bought": self.bought,
                "boughtValue": self.bought_value,
                "sold": self.sold,
                "soldValue": self.sold_value,
                "prevPos": 0,
            }
        )


@dataclass
class CashBalance:
    """Cash of one account: starting cash plus realized P&L."""

    id: int
    account_id: int
    timestamp: str
    trade_date: dict[str, int]
    amount: Decimal
    realized_pnl: Decimal = Decimal(0)
    week_realized_pnl: Decimal = Decimal(0)

    def wire(self) -> dict[str, Any]:
        """Return the ``CashBalance`` entity."""
        return {
            "id": self.id,
            "accountId": self.account_id,
            "timestamp": self.timestamp,
            "tradeDate": self.trade_date,
            "currencyId": 1,
            "amount": self.amount,
            "realizedPnL": self.realized_pnl,
            "weekRealizedPnL": self.week_realized_pnl,
        }
