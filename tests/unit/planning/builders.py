"""Build planning inputs for tests: one contract, one account, a fixed clock, small factories."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.domain.broker import (
    Account,
    Contract,
    ContractSpec,
    OrderRequest,
    OrderType,
    Product,
    Side,
)
from shared.domain.planning import Book, PlaceBracketOrder, PlaceOrder, Plan, WorkingOrder, plan
from shared.domain.policy import RiskState, StrategyPolicy
from shared.domain.risk import Denial
from shared.domain.signal import Intent, PriceSpec, PriceUnit, Signal
from shared.domain.symbols import parse_symbol

D = Decimal
# A Tuesday, 09:00 in Chicago: inside a regular-hours window.
NOW = datetime(2024, 11, 5, 15, 0, tzinfo=UTC)
NQ = ContractSpec(Contract(101, "NQZ4"), Product(1, "NQ", D("0.25"), D(20)))
MNQ = ContractSpec(Contract(102, "MNQZ4"), Product(2, "MNQ", D("0.25"), D(2)))
CL = ContractSpec(Contract(103, "CLF5"), Product(3, "CL", D("0.01"), D(1000)))
ACCOUNT = Account(7, "DEMO1")
SIGNAL_ID = "sig-1"


def signal(intent: Intent = Intent.BUY, symbol: str = "NQ1!", **fields: Any) -> Signal:
    """Return a signal from the tests' source with the given fields."""
    return Signal(source="test", intent=intent, symbol=parse_symbol(symbol), **fields)


def policy(**fields: Any) -> StrategyPolicy:
    """Return a strategy policy with defaults unless overridden."""
    return StrategyPolicy(strategy_id="trend", **fields)


def state(**fields: Any) -> RiskState:
    """Return a risk state at ``NOW`` unless overridden."""
    fields.setdefault("now", NOW)
    return RiskState(**fields)


def ticks(value: int | str) -> PriceSpec:
    """Return a distance in ticks."""
    return PriceSpec(D(value), PriceUnit.TICKS)


def points(value: int | str) -> PriceSpec:
    """Return a distance in points."""
    return PriceSpec(D(value), PriceUnit.POINTS)


def percent(value: int | str) -> PriceSpec:
    """Return a distance in percent of the reference price."""
    return PriceSpec(D(value), PriceUnit.PERCENT)


def dollars(value: int | str) -> PriceSpec:
    """Return a distance in dollars per contract."""
    return PriceSpec(D(value), PriceUnit.DOLLARS)


def price(value: int | str) -> PriceSpec:
    """Return an absolute price level."""
    return PriceSpec(D(value), PriceUnit.PRICE)


def working(
    order_id: int,
    side: Side,
    qty: int,
    order_type: OrderType = OrderType.LIMIT,
    **fields: Any,
) -> WorkingOrder:
    """Return a working order; a limit at 20010 or a stop at 19990 unless prices are given."""
    if order_type is OrderType.LIMIT:
        fields.setdefault("price", D(20010))
    if order_type is OrderType.STOP:
        fields.setdefault("stop_price", D(19990))
    return WorkingOrder(order_id, side, qty, order_type, **fields)


def bracket_pair(first_id: int, side: Side, qty: int) -> tuple[WorkingOrder, WorkingOrder]:
    """Return an OSO bracket's take profit and stop, grouped under the entry ``first_id - 1``."""
    return (
        working(first_id, side, qty, OrderType.LIMIT, group=first_id - 1),
        working(first_id + 1, side, qty, OrderType.STOP, group=first_id - 1),
    )


def run(
    sig: Signal,
    book: Book | None = None,
    *,
    contract: ContractSpec = NQ,
    risk: RiskState | None = None,
    pol: StrategyPolicy | None = None,
    account: Account = ACCOUNT,
) -> Plan | Denial:
    """Plan ``sig`` with the tests' defaults."""
    return plan(
        sig,
        book or Book(),
        contract,
        risk or state(),
        pol or policy(),
        account,
        signal_id=SIGNAL_ID,
    )


def planned(sig: Signal, book: Book | None = None, **kw: Any) -> Plan:
    """Plan ``sig`` and insist on a plan."""
    result = run(sig, book, **kw)
    assert isinstance(result, Plan), result
    return result


def denied(sig: Signal, book: Book | None = None, **kw: Any) -> Denial:
    """Plan ``sig`` and insist on a denial."""
    result = run(sig, book, **kw)
    assert isinstance(result, Denial), result
    return result


def entry_of(command: PlaceOrder | PlaceBracketOrder) -> OrderRequest:
    """Return the order a placement sends (the entry of a bracket order)."""
    return command.request if isinstance(command, PlaceOrder) else command.request.entry


def simulate(result: Plan) -> int:
    """Return the position once every placed order of ``result`` fills (exits excluded)."""
    position = result.position_before
    for command in result.placements:
        entry = entry_of(command)
        position += entry.qty if entry.side is Side.BUY else -entry.qty
    return position
