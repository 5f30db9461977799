"""The order engine: commands in, entities and ``props`` events out.

Event order for a new order (the public captures confirm only the first steps; the rest follows
the sequence the reference calls canonical, §4.6): order Created (PendingNew), command Created
(Pending), orderVersion Created (same id as the command), commandReport Created (RiskPassed),
executionReport Created (New), order Updated (Working); then on a fill: fill Created,
executionReport Created (Trade), order Updated (Filled), fillPair Created, position
Created/Updated, cashBalance Updated when P&L was realized. Every event carries its account so
the hub can deliver it to the sockets that synced that account.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from local.tradovate_sim.clock import SimClock, iso_ms, trade_date
from local.tradovate_sim.config import SimConfig
from local.tradovate_sim.contracts import Contract, ContractLibrary
from local.tradovate_sim.ledger import apply_fill, cash_snapshot
from local.tradovate_sim.market import Market
from local.tradovate_sim.matching import fill_price
from local.tradovate_sim.models import (
    Account,
    CashBalance,
    Command,
    CommandReport,
    ExecutionReport,
    Fill,
    FillPair,
    Order,
    OrderVersion,
    Position,
)
from local.tradovate_sim.risk import ACCESS_DENIED, check_entry, check_version
from local.tradovate_sim.trailing import TrailRules, check_modify, track
from local.tradovate_sim.validation import PlaceRequest, Rejection, VersionSpec

FIRST_ENTITY_ID = 50_000_001


@dataclass
class Event:
    """One ``props`` change for the sockets that synced ``account_id``."""

    account_id: int
    entity_type: str
    event_type: str
    entity: dict[str, Any]


class Engine:
    """All trading state of one simulation."""

    def __init__(self, config: SimConfig, library: ContractLibrary, clock: SimClock) -> None:
        self.config = config
        self.library = library
        self.clock = clock
        self._ids = itertools.count(FIRST_ENTITY_ID)
        stamp = iso_ms(clock.now())
        self.accounts = {
            a.id: Account(
                a.id,
                a.name,
                config.user_id,
                stamp,
                a.active,
                a.locked,
                a.liquidation_only,
                a.max_order_qty,
                a.max_position,
            )
            for a in config.accounts
        }
        self.market = Market(list(library.contracts.values()), config.prices)
        self.orders: dict[int, Order] = {}
        self.versions: dict[int, OrderVersion] = {}
        self.commands: dict[int, Command] = {}
        self.command_reports: dict[int, CommandReport] = {}
        self.execution_reports: dict[int, ExecutionReport] = {}
        self.fills: dict[int, Fill] = {}
        self.fill_pairs: dict[int, FillPair] = {}
        self.positions: dict[tuple[int, int], Position] = {}
        self.cash = {
            a.id: CashBalance(self.next_id(), a.id, stamp, trade_date(clock.now()), a.cash)
            for a in config.accounts
        }
        self.events: list[Event] = []
        self.moved_contracts: list[int] = []
        # Contracts an order can trade at most this many of per price move (admin-set; none
        # = unlimited). The rest of the order stays Working, partially filled, for later moves.
        self.liquidity: dict[int, int] = {}
        self._traded: set[int] = set()  # orders that traded since the last price move

    # ---- plumbing -------------------------------------------------------------------------

    def next_id(self) -> int:
        """Return the next entity id (one increasing sequence for every entity type)."""
        return next(self._ids)

    def _now(self) -> tuple[str, dict[str, int]]:
        now = self.clock.now()
        return iso_ms(now), trade_date(now)

    def _emit(self, account_id: int, entity_type: str, event_type: str, entity: Any) -> None:
        wire = entity.wire(self.config.order_has_clordid) if isinstance(entity, Order) else None
        self.events.append(Event(account_id, entity_type, event_type, wire or entity.wire()))

    def take_events(self) -> list[Event]:
        """Return and forget the events produced since the last call."""
        events, self.events = self.events, []
        return events

    def take_moved_contracts(self) -> list[int]:
        """Return and forget the contracts whose price or volume changed."""
        moved, self.moved_contracts = list(dict.fromkeys(self.moved_contracts)), []
        return moved

    @property
    def trail_rules(self) -> TrailRules:
        """Return the trailing-stop readings in force (the config can change at run time)."""
        return TrailRules.of(self.config)

    def net_positions(self) -> dict[tuple[int, int], int]:
        """Return net positions keyed by (account id, contract id)."""
        return {key: position.net_pos for key, position in self.positions.items()}

    # ---- commands -------------------------------------------------------------------------

    def place(self, request: PlaceRequest, session_id: int) -> dict[str, Any]:
        """Place one order (``order/placeorder``)."""
        account, contract = self._check_entry(request)
        order = self._open(
            account, contract, request.order_qty, request.version, request, session_id
        )
        self._arrive(order)
        return {"orderId": order.id}

    def place_oso(
        self,
        request: PlaceRequest,
        bracket1: VersionSpec,
        bracket2: VersionSpec | None,
        session_id: int,
    ) -> dict[str, Any]:
        """Place an entry whose brackets start working when it fills (``order/placeoso``)."""
        account, contract = self._check_entry(request)
        for bracket in (bracket1, bracket2):
            if bracket is not None:
                check_version(bracket, contract.product.tick_size, self.trail_rules)
        entry = self._open(
            account, contract, request.order_qty, request.version, request, session_id
        )
        brackets = [
            self._open(
                account, contract, request.order_qty, spec, request, session_id, parent=entry
            )
            for spec in (bracket1, bracket2)
            if spec is not None
        ]
        entry.bracket_ids = [b.id for b in brackets]
        if len(brackets) == 2:
            self._link_oco(brackets[0], brackets[1])
        self._arrive(entry)
        return {
            "orderId": entry.id,
            "oso1Id": brackets[0].id,
            **({"oso2Id": brackets[1].id} if len(brackets) == 2 else {}),
        }

    def place_oco(
        self, request: PlaceRequest, other: VersionSpec, session_id: int
    ) -> dict[str, Any]:
        """Place two working orders where a fill of one cancels the other (``order/placeoco``)."""
        account, contract = self._check_entry(request)
        check_version(other, contract.product.tick_size, self.trail_rules)
        first = self._open(
            account, contract, request.order_qty, request.version, request, session_id
        )
        second = self._open(account, contract, request.order_qty, other, request, session_id)
        self._link_oco(first, second)
        self._arrive(first)
        if second.working:
            self._arrive(second)
        return {"orderId": first.id, "ocoId": second.id}

    def modify(
        self,
        order_id: int,
        qty: int,
        spec: VersionSpec,
        automated: bool,
        tag50: str | None,
        session_id: int,
    ) -> dict[str, Any]:
        """Replace an order's version (``order/modifyorder``)."""
        order = self._live_order(order_id)
        account = self.accounts[order.account_id]
        if qty <= 0:
            raise Rejection("UnknownReason", "Violation: orderQty must be greater than 0")
        contract = self.library.contracts[order.contract_id]
        check_version(spec, contract.product.tick_size, self.trail_rules)
        check_modify(order, spec, self.trail_rules)
        command = self._command(order, "Modify", spec.cl_ord_id, automated, tag50, session_id)
        version = self._version(command.id, order.id, qty, spec)
        order.version = version
        self._emit(account.id, "orderVersion", "Created", version)
        self._risk_passed(order, command)
        order.resting = order.triggered = False
        order.trail = None  # a trailing order is armed again from its new version
        if order.ord_status == "Suspended":
            return {"commandId": command.id}
        self._report(order, command.id, "Replaced")
        self._emit(account.id, "order", "Updated", order)
        self._arrive(order)
        return {"commandId": command.id}

    def cancel(
        self, order_id: int, cl_ord_id: str | None, automated: bool, session_id: int
    ) -> dict[str, Any]:
        """Cancel a working or suspended order (``order/cancelorder``)."""
        order = self._live_order(order_id)
        command = self._command(order, "Cancel", cl_ord_id, automated, None, session_id)
        self._risk_passed(order, command)
        self._finish(order, command.id, "Canceled")
        return {"commandId": command.id}

    def liquidate(
        self, account_id: int, contract_id: int, admin: bool, tag50: str | None, session_id: int
    ) -> dict[str, Any]:
        """Cancel the contract's orders and flatten the position (``order/liquidateposition``)."""
        account = self.accounts.get(account_id)
        contract = self.library.contracts.get(contract_id)
        if account is None:
            raise Rejection("UnknownReason", ACCESS_DENIED)
        if contract is None:
            raise Rejection("InvalidContract", f"Unknown contract id {contract_id}")
        for order in sorted(self.orders.values(), key=lambda o: o.id):
            same = order.account_id == account_id and order.contract_id == contract_id
            if same and not order.done and order.parent_id is None:
                self.cancel(order.id, None, True, session_id)
        position = self.positions.get((account_id, contract_id))
        if position is None or position.net_pos == 0:
            raise Rejection("UnknownReason", "No position to liquidate")
        spec = VersionSpec("Sell" if position.net_pos > 0 else "Buy", "Market")
        request = PlaceRequest(
            account_id, None, contract.name, abs(position.net_pos), spec, True, tag50, None
        )
        order = self._open(account, contract, request.order_qty, spec, request, session_id)
        order.admin = admin
        self._arrive(order)
        return {"orderId": order.id}

    def set_price(self, contract_id: int, price: Decimal) -> None:
        """Move a contract's price and let working orders react to it (each trades once)."""
        self.market.move(contract_id, price)
        self.moved_contracts.append(contract_id)
        self._traded = set()
        # No order is created while prices move, so this contract's orders are listed once.
        orders = sorted(
            (o for o in self.orders.values() if o.contract_id == contract_id), key=lambda o: o.id
        )
        changed = True
        while changed:  # a fill can activate brackets or cancel OCO partners: look again
            changed = False
            for order in orders:
                if order.working and order.id not in self._traded and self._evaluate(order):
                    changed = True

    def set_liquidity(self, contract_id: int, max_qty: int | None) -> None:
        """Let an order trade at most ``max_qty`` of a contract per price move (None: all)."""
        if max_qty is None:
            self.liquidity.pop(contract_id, None)
        else:
            self.liquidity[contract_id] = max_qty

    # ---- lifecycle ------------------------------------------------------------------------

    def _check_entry(self, request: PlaceRequest) -> tuple[Account, Contract]:
        if self.config.require_is_automated and not request.is_automated:
            raise Rejection("UnknownReason", "isAutomated must be true for automated orders")
        return check_entry(
            request,
            self.accounts,
            self.library,
            self.clock.now(),
            self.config.username,
            self.net_positions(),
            self.trail_rules,
        )

    def _open(
        self,
        account: Account,
        contract: Contract,
        qty: int,
        spec: VersionSpec,
        request: PlaceRequest,
        session_id: int,
        parent: Order | None = None,
    ) -> Order:
        stamp, _ = self._now()
        order_id = self.next_id()
        command = Command(
            self.next_id(),
            order_id,
            stamp,
            "New",
            "Pending",
            self.config.user_id,
            session_id,
            request.is_automated,
            spec.cl_ord_id,
            request.activation_time,
            request.custom_tag50,
        )
        version = self._version(command.id, order_id, qty, spec)
        order = Order(
            order_id, account.id, contract.id, stamp, spec.action, version, cl_ord_id=spec.cl_ord_id
        )
        if parent is not None:
            order.parent_id = parent.id
        self.orders[order.id] = order
        self.commands[command.id] = command
        self._emit(account.id, "order", "Created", order)
        self._emit(account.id, "command", "Created", command)
        self._emit(account.id, "orderVersion", "Created", version)
        self._risk_passed(order, command)
        if parent is not None:
            order.ord_status = "Suspended"
            self._emit(account.id, "order", "Updated", order)
            return order
        order.ord_status = "Working"
        self._report(order, command.id, "New")
        self._emit(account.id, "order", "Updated", order)
        return order

    def _version(self, version_id: int, order_id: int, qty: int, spec: VersionSpec) -> OrderVersion:
        version = OrderVersion(
            version_id,
            order_id,
            qty,
            spec.order_type,
            spec.price,
            spec.stop_price,
            spec.max_show,
            spec.peg_difference,
            spec.time_in_force,
            spec.expire_time,
            spec.text,
        )
        self.versions[version.id] = version
        return version

    def _command(
        self,
        order: Order,
        kind: str,
        cl_ord_id: str | None,
        automated: bool,
        tag50: str | None,
        session_id: int,
    ) -> Command:
        stamp, _ = self._now()
        command = Command(
            self.next_id(),
            order.id,
            stamp,
            kind,
            "Pending",
            self.config.user_id,
            session_id,
            automated,
            cl_ord_id,
            None,
            tag50,
        )
        self.commands[command.id] = command
        self._emit(order.account_id, "command", "Created", command)
        return command

    def _risk_passed(self, order: Order, command: Command) -> None:
        stamp, _ = self._now()
        report = CommandReport(self.next_id(), command.id, stamp, "RiskPassed")
        self.command_reports[report.id] = report
        self._emit(order.account_id, "commandReport", "Created", report)
        command.command_status = "AtExecution"
        self._emit(order.account_id, "command", "Updated", command)

    def _report(
        self,
        order: Order,
        command_id: int,
        exec_type: str,
        last_qty: int | None = None,
        last_px: Decimal | None = None,
        text: str | None = None,
    ) -> None:
        stamp, day = self._now()
        report = ExecutionReport(
            self.next_id(),
            command_id,
            order.account_id,
            order.contract_id,
            order.id,
            stamp,
            day,
            exec_type,
            order.ord_status,
            order.action,
            order.cum_qty,
            order.avg_px,
            last_qty,
            last_px,
            text=text,
        )
        self.execution_reports[report.id] = report
        self._emit(order.account_id, "executionReport", "Created", report)

    def _live_order(self, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise Rejection("UnknownReason", f"Order {order_id} not found")
        if order.done:
            raise Rejection("TooLate", f"Order {order_id} is already {order.ord_status}")
        return order

    def _link_oco(self, first: Order, second: Order) -> None:
        first.oco_id, second.oco_id = second.id, first.id
        for order in (first, second):
            self._emit(order.account_id, "order", "Updated", order)

    def _finish(self, order: Order, command_id: int, status: str, text: str | None = None) -> None:
        order.ord_status = status
        self._report(order, command_id, status, text=text)
        self._emit(order.account_id, "order", "Updated", order)
        for child_id in order.bracket_ids:
            child = self.orders[child_id]
            if child.ord_status == "Suspended":
                self._finish(child, child.version.id, "Canceled", "Parent order canceled")

    # ---- matching -------------------------------------------------------------------------

    def _arrive(self, order: Order) -> None:
        """Evaluate an order that has just started working; IOC/FOK leftovers are canceled."""
        self.moved_contracts.append(order.contract_id)
        self._evaluate(order, arrival=True)
        if order.working and order.version.time_in_force in ("IOC", "FOK"):
            self._finish(order, order.version.id, "Canceled", "Not filled immediately")

    def _evaluate(self, order: Order, arrival: bool = False) -> bool:
        market = self.market.price(order.contract_id)
        if track(order, market):  # a trailing stop follows the market before it can trigger
            self._emit(order.account_id, "orderVersion", "Updated", order.version)
        price = fill_price(order, market, arrival)
        order.resting = True
        if price is None:
            return False
        cap = self.liquidity.get(order.contract_id)
        remaining = order.version.order_qty - order.cum_qty
        if order.version.time_in_force == "FOK" and cap is not None and cap < remaining:
            return False  # fill or kill: all of it now, or nothing
        self._fill(order, price)
        return True

    def _fill(self, order: Order, price: Decimal) -> None:
        stamp, day = self._now()
        remaining = order.version.order_qty - order.cum_qty
        qty = min(remaining, self.liquidity.get(order.contract_id, remaining))
        fill = Fill(
            self.next_id(),
            order.id,
            order.account_id,
            order.contract_id,
            stamp,
            day,
            order.action,
            qty,
            price,
        )
        self.fills[fill.id] = fill
        self._traded.add(order.id)
        before = order.avg_px * order.cum_qty if order.avg_px is not None else Decimal(0)
        order.cum_qty += qty
        order.avg_px = (before + price * qty) / order.cum_qty
        # Partly filled, an order stays Working with cumQty > 0, as Tradovate reports it.
        complete = order.cum_qty == order.version.order_qty
        order.ord_status = "Filled" if complete else "Working"
        self.market.trade(order.contract_id, qty)
        self._emit(order.account_id, "fill", "Created", fill)
        self._report(order, order.version.id, "Trade", qty, price)
        self._emit(order.account_id, "order", "Updated", order)
        self._book(order, fill)
        if not complete:
            # Brackets are sent, and an OCO partner cancelled, once the order is filled
            # (how Tradovate sizes brackets after a partial fill is not documented).
            return
        for child_id in order.bracket_ids:
            self._activate(self.orders[child_id])
        partner = self.orders.get(order.oco_id) if order.oco_id else None
        if partner is not None and not partner.done:
            self._finish(partner, partner.version.id, "Canceled", "OCO order filled")

    def _activate(self, bracket: Order) -> None:
        if bracket.ord_status != "Suspended":
            return
        bracket.ord_status = "Working"
        self._report(bracket, bracket.version.id, "New")
        self._emit(bracket.account_id, "order", "Updated", bracket)
        self._arrive(bracket)

    def _book(self, order: Order, fill: Fill) -> None:
        key = (order.account_id, order.contract_id)
        position = self.positions.get(key)
        event = "Updated"
        if position is None:
            position = Position(self.next_id(), key[0], key[1], fill.timestamp, fill.trade_date)
            self.positions[key] = position
            event = "Created"
        vpp = self.library.contracts[order.contract_id].product.value_per_point
        outcome = apply_fill(position, fill, vpp, self.next_id)
        position.timestamp = fill.timestamp
        for pair in outcome.pairs:
            self.fill_pairs[pair.id] = pair
            self._emit(order.account_id, "fillPair", "Created", pair)
        self._emit(order.account_id, "position", event, position)
        if outcome.realized != 0:
            cash = self.cash[order.account_id]
            cash.amount += outcome.realized
            cash.realized_pnl += outcome.realized
            cash.week_realized_pnl += outcome.realized
            cash.timestamp = fill.timestamp
            self._emit(order.account_id, "cashBalance", "Updated", cash)

    # ---- read models ----------------------------------------------------------------------

    def cash_snapshot(self, account_id: int) -> dict[str, Any]:
        """Return ``cashBalance/getcashbalancesnapshot`` for one account."""
        if account_id not in self.accounts:
            return {"errorText": ACCESS_DENIED}
        marks = []
        for (acc, contract_id), position in self.positions.items():
            if acc == account_id and position.net_pos != 0:
                product = self.library.contracts[contract_id].product
                marks.append((position, self.market.price(contract_id), product))
        return cash_snapshot(self.cash[account_id], marks, self.config.snapshot_omit_zero)

    def quote(self, contract: Contract, now: datetime) -> dict[str, Any]:
        """Return the current quote of a contract."""
        return self.market.quote(contract, iso_ms(now))
