"""Build broker domain objects for worker unit tests, with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from shared.domain.broker import (
    Account,
    CashBalance,
    ChangeKind,
    Contract,
    EntityChange,
    ExecutionReport,
    Fill,
    Order,
    OrderCommand,
    OrderStatus,
    OrderType,
    OrderVersion,
    Position,
    Side,
    SyncSnapshot,
)

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ACCOUNT = 10001
ES = 3001


def order(
    order_id: int,
    status: OrderStatus = OrderStatus.WORKING,
    *,
    account_id: int = ACCOUNT,
    contract_id: int = ES,
    side: Side = Side.BUY,
    oco_id: int | None = None,
    cl_ord_id: str | None = None,
) -> Order:
    return Order(
        order_id, account_id, contract_id, side, status, AT, oco_id=oco_id, cl_ord_id=cl_ord_id
    )


def version(
    version_id: int,
    order_id: int,
    qty: int = 1,
    order_type: OrderType = OrderType.MARKET,
    *,
    price: str | None = None,
    stop_price: str | None = None,
) -> OrderVersion:
    return OrderVersion(
        version_id,
        order_id,
        qty,
        order_type,
        price=None if price is None else Decimal(price),
        stop_price=None if stop_price is None else Decimal(stop_price),
    )


def command(
    command_id: int, order_id: int, cl_ord_id: str | None, kind: str = "New"
) -> OrderCommand:
    return OrderCommand(command_id, order_id, kind, "AtExecution", cl_ord_id, AT)


def fill(fill_id: int, order_id: int, qty: int, price: str, side: Side = Side.BUY) -> Fill:
    return Fill(fill_id, order_id, ES, side, qty, Decimal(price), AT)


def position(
    net_pos: int,
    net_price: str | None = None,
    *,
    account_id: int = ACCOUNT,
    contract_id: int = ES,
    position_id: int = 900,
) -> Position:
    return Position(
        position_id,
        account_id,
        contract_id,
        net_pos,
        None if net_price is None else Decimal(net_price),
        timestamp=AT,
    )


def cash(amount: str = "50000", realized: str = "0", account_id: int = ACCOUNT) -> CashBalance:
    return CashBalance(
        800 + account_id, account_id, Decimal(amount), Decimal(realized), timestamp=AT
    )


def report(report_id: int, order_id: int, exec_type: str, status: OrderStatus) -> ExecutionReport:
    return ExecutionReport(
        report_id, order_id, ACCOUNT, ES, exec_type, status, Side.BUY, timestamp=AT
    )


def change(
    entity: object, kind: ChangeKind = ChangeKind.UPDATED, entity_type: str = "x"
) -> EntityChange:
    entity_id = getattr(entity, "id", None)
    return EntityChange(entity_type, kind, entity_id, entity)  # type: ignore[arg-type]


def snapshot(**parts: object) -> SyncSnapshot:
    defaults: dict[str, object] = {
        "accounts": (Account(ACCOUNT, "DEMO10001"),),
        "contracts": (Contract(ES, "ESH6"),),
        "cash_balances": (cash(),),
    }
    defaults.update(parts)
    return SyncSnapshot(**defaults)  # type: ignore[arg-type]
