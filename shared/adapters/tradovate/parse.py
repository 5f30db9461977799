"""Convert Tradovate wire payloads into domain types, once.

Every function takes a decoded JSON value (``Any``) or a ``Broker…`` model and returns a
domain object from ``shared.domain.broker``. Validation failures become ``BrokerRejected``
with code ``broker_bad_payload`` so a malformed answer is never mistaken for data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.adapters.tradovate import encode
from shared.adapters.tradovate import schemas as w
from shared.domain.broker import (
    Account,
    CashBalance,
    CashBalanceSnapshot,
    ChangeKind,
    CommandAck,
    Contract,
    ContractMaturity,
    EntityChange,
    ExecutionReport,
    Fill,
    Order,
    OrderAck,
    OrderCommand,
    OrderStatus,
    OrderType,
    OrderVersion,
    Position,
    Product,
    Quote,
    ServerShutdown,
    Side,
    SyncSnapshot,
    TimeInForce,
)
from shared.domain.errors import BrokerRejected

_M = TypeVar("_M", bound=BaseModel)

# The wire names are encode's, read the other way round.
SIDES: Mapping[str, Side] = {wire: side for side, wire in encode.ACTIONS.items()}
ORDER_TYPES: Mapping[str, OrderType] = {wire: kind for kind, wire in encode.ORDER_TYPES.items()}
TIMES_IN_FORCE: Mapping[str, TimeInForce] = {
    wire: tif for tif, wire in encode.TIMES_IN_FORCE.items()
}
ORDER_STATUSES: Mapping[str, OrderStatus] = {
    "PendingNew": OrderStatus.PENDING_NEW,
    "Working": OrderStatus.WORKING,
    "PendingReplace": OrderStatus.PENDING_REPLACE,
    "PendingCancel": OrderStatus.PENDING_CANCEL,
    "Suspended": OrderStatus.SUSPENDED,
    "Filled": OrderStatus.FILLED,
    "Completed": OrderStatus.COMPLETED,
    "Canceled": OrderStatus.CANCELED,
    "Rejected": OrderStatus.REJECTED,
    "Expired": OrderStatus.EXPIRED,
    "Unknown": OrderStatus.UNKNOWN,
}
CHANGE_KINDS: Mapping[str, ChangeKind] = {
    "Created": ChangeKind.CREATED,
    "Updated": ChangeKind.UPDATED,
    "Deleted": ChangeKind.DELETED,
}


def validate(model: type[_M], data: Any) -> _M:
    """Validate ``data`` as a wire model or raise ``BrokerRejected(broker_bad_payload)``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BrokerRejected(
            f"Tradovate sent an unexpected {model.__name__}: {exc.error_count()} problem(s), "
            f"first: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}",
            code="broker_bad_payload",
        ) from None


def validate_list(model: type[_M], data: Any) -> list[_M]:
    """Validate a JSON array of wire models."""
    if not isinstance(data, list):
        raise BrokerRejected(
            f"Tradovate sent {type(data).__name__} where a list of {model.__name__} was expected",
            code="broker_bad_payload",
        )
    return [validate(model, item) for item in data]


def _side(value: str) -> Side:
    try:
        return SIDES[value]
    except KeyError:
        raise BrokerRejected(f"unknown action {value!r}", code="broker_bad_payload") from None


def _status(value: str | None) -> OrderStatus:
    # An unknown status is kept as UNKNOWN rather than failing a whole snapshot.
    return ORDER_STATUSES.get(value or "Unknown", OrderStatus.UNKNOWN)


def _money(value: Decimal | None) -> Decimal:
    return Decimal(0) if value is None else value


def account(m: w.BrokerAccount) -> Account:
    """Convert an account."""
    return Account(id=m.id, name=m.name, user_id=m.userId, active=m.active, readonly=m.readonly)


def product(m: w.BrokerProduct) -> Product:
    """Convert a product."""
    return Product(
        id=m.id,
        name=m.name,
        tick_size=m.tickSize,
        value_per_point=m.valuePerPoint,
        currency_id=m.currencyId,
        description=m.description or "",
        months=m.months or "",
        is_micro=m.isMicro,
    )


def contract(m: w.BrokerContract) -> Contract:
    """Convert a contract."""
    return Contract(id=m.id, name=m.name, contract_maturity_id=m.contractMaturityId)


def maturity(m: w.BrokerContractMaturity) -> ContractMaturity:
    """Convert a contract maturity."""
    return ContractMaturity(
        id=m.id,
        product_id=m.productId,
        expiration_month=m.expirationMonth,
        expiration_date=m.expirationDate,
        first_intent_date=m.firstIntentDate,
        is_front=m.isFront,
    )


def position(m: w.BrokerPosition) -> Position:
    """Convert a position; a flat position keeps ``net_price`` None."""
    return Position(
        id=m.id,
        account_id=m.accountId,
        contract_id=m.contractId,
        net_pos=m.netPos,
        net_price=m.netPrice if m.netPos else None,
        bought=m.bought,
        sold=m.sold,
        timestamp=m.timestamp,
    )


def order(m: w.BrokerOrder) -> Order:
    """Convert an order."""
    return Order(
        id=m.id,
        account_id=m.accountId,
        contract_id=m.contractId,
        side=_side(m.action),
        status=_status(m.ordStatus),
        timestamp=m.timestamp,
        oco_id=m.ocoId,
        parent_id=m.parentId,
        linked_id=m.linkedId,
        cl_ord_id=m.clOrdId,
    )


def order_version(m: w.BrokerOrderVersion) -> OrderVersion:
    """Convert an order version."""
    return OrderVersion(
        id=m.id,
        order_id=m.orderId,
        qty=m.orderQty,
        order_type=ORDER_TYPES.get(m.orderType or ""),
        price=m.price,
        stop_price=m.stopPrice,
        # The domain's trail is a distance; the wire sign is UNCONFIRMED (encode.PegStyle).
        trail=None if m.pegDifference is None else abs(m.pegDifference),
        time_in_force=TIMES_IN_FORCE.get(m.timeInForce or ""),
    )


def command(m: w.BrokerCommand) -> OrderCommand:
    """Convert a command."""
    return OrderCommand(
        id=m.id,
        order_id=m.orderId,
        command_type=m.commandType,
        status=m.commandStatus,
        cl_ord_id=m.clOrdId,
        timestamp=m.timestamp,
    )


def execution_report(m: w.BrokerExecutionReport) -> ExecutionReport:
    """Convert an execution report."""
    return ExecutionReport(
        id=m.id,
        order_id=m.orderId,
        account_id=m.accountId,
        contract_id=m.contractId,
        exec_type=m.execType,
        status=_status(m.ordStatus),
        side=None if m.action is None else _side(m.action),
        cum_qty=m.cumQty,
        avg_price=m.avgPx,
        last_qty=m.lastQty,
        last_price=m.lastPx,
        reject_reason=m.rejectReason,
        text=m.text,
        timestamp=m.timestamp,
    )


def fill(m: w.BrokerFill) -> Fill:
    """Convert a fill."""
    return Fill(
        id=m.id,
        order_id=m.orderId,
        contract_id=m.contractId,
        side=_side(m.action),
        qty=m.qty,
        price=m.price,
        timestamp=m.timestamp,
        active=m.active,
    )


def cash_balance(m: w.BrokerCashBalance) -> CashBalance:
    """Convert a cash balance entity."""
    return CashBalance(
        id=m.id,
        account_id=m.accountId,
        amount=m.amount,
        realized_pnl=_money(m.realizedPnL),
        week_realized_pnl=_money(m.weekRealizedPnL),
        timestamp=m.timestamp,
    )


def cash_balance_snapshot(account_id: int, m: w.BrokerCashBalanceSnapshot) -> CashBalanceSnapshot:
    """Convert a cash balance snapshot; omitted fields mean zero (§3.2)."""
    return CashBalanceSnapshot(
        account_id=account_id,
        total_cash_value=_money(m.totalCashValue),
        net_liq=_money(m.netLiq),
        open_pnl=_money(m.openPnL),
        realized_pnl=_money(m.realizedPnL),
        week_realized_pnl=_money(m.weekRealizedPnL),
        total_pnl=_money(m.totalPnL),
        initial_margin=_money(m.initialMargin),
        maintenance_margin=_money(m.maintenanceMargin),
    )


def order_ack(m: w.BrokerPlaceOrderResult, cl_ord_id: str) -> OrderAck:
    """Convert a place result, insisting on an ``orderId`` (a 200 without one is a rejection)."""
    if m.orderId is None:
        raise BrokerRejected(
            m.failureText or "Tradovate accepted the request but returned no orderId",
            code=m.failureReason or "broker_no_order_id",
        )
    brackets: tuple[int, ...] = ()
    oco_id: int | None = None
    if isinstance(m, w.BrokerPlaceOsoResult):
        brackets = tuple(i for i in (m.oso1Id, m.oso2Id) if i is not None)
    if isinstance(m, w.BrokerPlaceOcoResult):
        oco_id = m.ocoId
    return OrderAck(
        order_id=m.orderId, cl_ord_id=cl_ord_id, bracket_order_ids=brackets, oco_id=oco_id
    )


def command_ack(m: w.BrokerCommandResult) -> CommandAck:
    """Convert a modify/cancel result, insisting on a ``commandId``."""
    if m.commandId is None:
        raise BrokerRejected(
            m.failureText or "Tradovate accepted the command but returned no commandId",
            code=m.failureReason or "broker_no_command_id",
        )
    return CommandAck(command_id=m.commandId)


def quotes(data: Any) -> list[Quote]:
    """Convert the ``d`` of an ``md`` event into quotes; missing entries stay None (§4.7)."""
    event = validate(w.BrokerMdEvent, data)
    return [_quote(q) for q in event.quotes]


def _size(entry: w.BrokerQuoteEntry | None) -> int | None:
    return None if entry is None or entry.size is None else int(entry.size)


def _price(entry: w.BrokerQuoteEntry | None) -> Decimal | None:
    return None if entry is None else entry.price


def _quote(q: w.BrokerQuote) -> Quote:
    bid, offer, trade = q.entries.get("Bid"), q.entries.get("Offer"), q.entries.get("Trade")
    return Quote(
        contract_id=q.contractId,
        timestamp=q.timestamp,
        bid=_price(bid),
        bid_size=_size(bid),
        ask=_price(offer),
        ask_size=_size(offer),
        last=_price(trade),
        last_size=_size(trade),
        volume=_size(q.entries.get("TotalTradeVolume")),
    )


def shutdown(data: Any) -> ServerShutdown:
    """Convert the ``d`` of a ``shutdown`` event."""
    event = validate(w.BrokerShutdownEvent, data)
    return ServerShutdown(reason_code=event.reasonCode, reason=event.reason)


_ENTITY_PARSERS: Mapping[str, tuple[type[BaseModel], Callable[[Any], Any]]] = {
    "account": (w.BrokerAccount, account),
    "order": (w.BrokerOrder, order),
    "orderVersion": (w.BrokerOrderVersion, order_version),
    "command": (w.BrokerCommand, command),
    "executionReport": (w.BrokerExecutionReport, execution_report),
    "fill": (w.BrokerFill, fill),
    "position": (w.BrokerPosition, position),
    "cashBalance": (w.BrokerCashBalance, cash_balance),
    "contract": (w.BrokerContract, contract),
}


def entity_changes(data: Any) -> list[EntityChange]:
    """Convert the ``d`` of a ``props`` event; ``entity`` may be one object or a list (§4.5)."""
    event = validate(w.BrokerPropsEvent, data)
    kind = CHANGE_KINDS.get(event.eventType)
    if kind is None:
        raise BrokerRejected(f"unknown eventType {event.eventType!r}", code="broker_bad_payload")
    items = event.entity if isinstance(event.entity, list) else [event.entity]
    parser = _ENTITY_PARSERS.get(event.entityType)
    changes = []
    for item in items:
        raw_id = item.get("id")
        entity_id = raw_id if isinstance(raw_id, int) else None
        entity = None if parser is None else parser[1](validate(parser[0], item))
        changes.append(EntityChange(event.entityType, kind, entity_id, entity))
    return changes


def sync_snapshot(data: Any) -> SyncSnapshot:
    """Convert the ``user/syncrequest`` answer into a snapshot."""
    m = validate(w.BrokerSyncResponse, data)
    extras = m.model_extra or {}
    return SyncSnapshot(
        accounts=tuple(account(a) for a in m.accounts),
        positions=tuple(position(p) for p in m.positions),
        orders=tuple(order(o) for o in m.orders),
        order_versions=tuple(order_version(v) for v in m.orderVersions),
        commands=tuple(command(c) for c in m.commands),
        execution_reports=tuple(execution_report(r) for r in m.executionReports),
        fills=tuple(fill(f) for f in m.fills),
        cash_balances=tuple(cash_balance(c) for c in m.cashBalances),
        contracts=tuple(contract(c) for c in m.contracts),
        extra_counts={k: len(v) for k, v in extras.items() if isinstance(v, list)},
    )
