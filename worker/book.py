"""Hold the worker's in-memory picture of the user's accounts, rebuilt from every sync.

``Book`` is pure: it takes the ``user/syncrequest`` snapshot and then each ``props`` change
and says what changed (``Effects``): which accounts' Redis documents to rewrite, which events
to publish, which fills and execution reports are new. It does no I/O, so every rule here
is unit-tested without sockets.

Tradovate spreads one order over several entities (reference §4.6): ``order`` (identity and
status), ``orderVersion`` (quantity, type and prices; the latest version wins), ``command``
(the ``clOrdId`` sits on the order's ``New`` command unless the server also echoes it on the
order). Fills and versions carry no account: they are routed through their order.

The book also says which closed orders are *settled*: their fills have reached the position
it holds. Tradovate is expected to send a fill, then the order's new status, then the
position (reference §4.6; the full sequence is UNCONFIRMED and need not arrive in one
frame), so a fill counts as applied once a position change for its account and contract
arrives in the same run of changes or a later one (``begin_run`` numbers the runs; a
snapshot is run 0 and consistent in itself). The executor
uses the settled set to tell whether the documents already show what its earlier orders did.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

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
    OrderVersion,
    Position,
    SyncSnapshot,
)

# Closed orders listed as settled per account, newest first: enough for the executor's checks,
# which only ever ask about the orders of the last signal in a session.
SETTLED_LIMIT = 100

# Statuses at which the broker has accepted an order: the moment ``order.placed`` is announced.
_ACCEPTED = frozenset(
    {
        OrderStatus.WORKING,
        OrderStatus.SUSPENDED,
        OrderStatus.PENDING_REPLACE,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.FILLED,
        OrderStatus.COMPLETED,
    }
)


@dataclass(frozen=True, slots=True)
class AccountFill:
    """Pair a fill with the order facts it needs to be recorded and linked to a signal."""

    fill: Fill
    account_id: int
    cl_ord_id: str | None


@dataclass(slots=True)
class Effects:
    """Say what one change (or a snapshot) did, for the writers to act on."""

    positions: set[int] = field(default_factory=set)
    orders: set[int] = field(default_factory=set)
    cash: set[int] = field(default_factory=set)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fills: list[AccountFill] = field(default_factory=list)
    executions: list[tuple[ExecutionReport, str | None]] = field(default_factory=list)
    unknown_fills: list[Fill] = field(default_factory=list)

    def merge(self, other: Effects) -> None:
        """Add ``other``'s effects to these."""
        self.positions |= other.positions
        self.orders |= other.orders
        self.cash |= other.cash
        self.events.extend(other.events)
        self.fills.extend(other.fills)
        self.executions.extend(other.executions)
        self.unknown_fills.extend(other.unknown_fills)

    @property
    def touched_accounts(self) -> set[int]:
        """Return every account whose documents must be rewritten."""
        return self.positions | self.orders | self.cash


class Book:
    """Track accounts, orders, positions, cash and fills for every synced account."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.accounts: dict[int, Account] = {}
        self.orders: dict[int, Order] = {}
        self.versions: dict[int, OrderVersion] = {}
        self.cl_ord_ids: dict[int, str] = {}
        self._by_cl_ord_id: dict[str, int] = {}
        self.positions: dict[tuple[int, int], Position] = {}
        self.cash: dict[int, CashBalance] = {}
        self.fills: dict[int, dict[int, Fill]] = {}
        # Each order's (filled quantity, average price) once asked, until a fill of it changes:
        # the orders document lists up to SETTLED_LIMIT settled orders with theirs, and it is
        # rendered again on every change of the account.
        self._averages: dict[int, tuple[int, Decimal] | None] = {}
        self.contract_names: dict[int, str] = {}
        self._announced: set[int] = set()
        self._pending_fills: dict[int, list[Fill]] = {}
        # Settlement: the run each position last changed in and each order last filled in.
        self._run = 0
        self._position_run: dict[tuple[int, int], int] = {}
        self._fill_run: dict[int, int] = {}
        # Each account's open and closed order ids, ascending, kept as orders change: the
        # working and settled lists are read on every document write and must not sort every
        # order each time.
        self._open: dict[int, list[int]] = {}
        self._closed: dict[int, list[int]] = {}

    def _put_order(self, order: Order) -> None:
        previous = self.orders.get(order.id)
        self.orders[order.id] = order
        if previous is not None:
            self._unlist(previous)
        lists = self._open if order.status.is_open else self._closed
        bisect.insort(lists.setdefault(order.account_id, []), order.id)

    def _drop_order(self, order_id: int) -> None:
        order = self.orders.pop(order_id, None)
        if order is not None:
            self._unlist(order)

    def _unlist(self, order: Order) -> None:
        for lists in (self._open, self._closed):
            ids = lists.get(order.account_id, [])
            at = bisect.bisect_left(ids, order.id)
            if at < len(ids) and ids[at] == order.id:
                del ids[at]

    def begin_run(self) -> None:
        """Start a new run of streamed changes (one socket frame's worth, applied together)."""
        self._run += 1

    # --- snapshot -----------------------------------------------------------------------------

    def apply_snapshot(self, snapshot: SyncSnapshot) -> Effects:
        """Replace everything with ``snapshot``; fills and reports are returned for recording."""
        self._reset()  # a resync rebuilds from nothing: events missed while away are not replayed
        self._load_reference(snapshot)
        for order in snapshot.orders:
            self._put_order(order)
            self._announced.add(order.id)  # placed before this sync: no order.placed event
            if order.cl_ord_id:
                self._name(order.id, order.cl_ord_id)
        for command in snapshot.commands:
            self._note_command(command)
        for version in snapshot.order_versions:
            self._note_version(version)
        for position in snapshot.positions:
            self.positions[(position.account_id, position.contract_id)] = position
            self._position_run[(position.account_id, position.contract_id)] = 0
        for cash in snapshot.cash_balances:
            self.cash[cash.account_id] = cash
        effects = Effects()
        everyone = self.account_ids()
        effects.positions |= everyone
        effects.orders |= everyone
        effects.cash |= everyone
        for fill in snapshot.fills:
            self._add_fill(fill, effects)
        self._settle_snapshot()
        for report in snapshot.execution_reports:
            effects.executions.append((report, self.cl_ord_ids.get(report.order_id)))
        return effects

    def _settle_snapshot(self) -> None:
        # A snapshot is one consistent picture: its positions already hold its fills.
        for order_id in self._fill_run:
            filled = self.orders.get(order_id)
            if filled is not None:
                self._position_run.setdefault((filled.account_id, filled.contract_id), 0)

    def _load_reference(self, snapshot: SyncSnapshot) -> None:
        for contract in snapshot.contracts:
            self.contract_names[contract.id] = contract.name
        for account in snapshot.accounts:
            self.accounts[account.id] = account

    def add_recovered_fill(self, fill: Fill) -> Effects:
        """Take a fill found over REST after a reconnect (ignored when already known)."""
        effects = Effects()
        known = self.fills.get(fill.order_id, {})
        if fill.id not in known:
            self._add_fill(fill, effects)
            # Missed while disconnected: the snapshot taken since already holds it.
            self._fill_run[fill.order_id] = 0
            owner = self.orders.get(fill.order_id)
            if owner is not None:
                self._position_run.setdefault((owner.account_id, owner.contract_id), 0)
        return effects

    # --- changes ------------------------------------------------------------------------------

    def apply(self, change: EntityChange) -> Effects:
        """Apply one streamed change and return its effects."""
        effects = Effects()
        entity = change.entity
        deleted = change.kind is ChangeKind.DELETED
        if isinstance(entity, Order):
            self._on_order(entity, deleted, effects)
        elif isinstance(entity, OrderVersion):
            self._on_version(entity, effects)
        elif isinstance(entity, Fill):
            if not deleted:
                self._add_fill(entity, effects)
        elif isinstance(entity, Position):
            self._on_position(entity, deleted, effects)
        elif isinstance(entity, CashBalance):
            self.cash[entity.account_id] = entity
            effects.cash.add(entity.account_id)
        elif isinstance(entity, ExecutionReport):
            effects.executions.append((entity, self.cl_ord_ids.get(entity.order_id)))
        else:
            self._on_reference(entity)
        return effects

    def _on_reference(self, entity: object) -> None:
        if isinstance(entity, OrderCommand):
            self._note_command(entity)
        elif isinstance(entity, Account):
            self.accounts[entity.id] = entity
        elif isinstance(entity, Contract):
            self.contract_names[entity.id] = entity.name

    def _note_command(self, command: OrderCommand) -> None:
        # The order's own client id is the one on its New command; modify and cancel
        # commands may carry other ids that do not name the order.
        if command.command_type == "New" and command.cl_ord_id:
            self._name(command.order_id, command.cl_ord_id)

    def _name(self, order_id: int, cl_ord_id: str) -> None:
        if order_id in self.cl_ord_ids:
            return
        self.cl_ord_ids[order_id] = cl_ord_id
        # The newest order wins when a client id was (wrongly) reused.
        if order_id > self._by_cl_ord_id.get(cl_ord_id, 0):
            self._by_cl_ord_id[cl_ord_id] = order_id

    def _note_version(self, version: OrderVersion) -> bool:
        current = self.versions.get(version.order_id)
        if current is not None and current.id > version.id:
            return False  # an older version arriving late must not undo a modify
        self.versions[version.order_id] = version
        return True

    def _on_order(self, order: Order, deleted: bool, effects: Effects) -> None:
        if deleted:
            self._drop_order(order.id)
            effects.orders.add(order.account_id)
            return
        self._put_order(order)
        if order.cl_ord_id:
            self._name(order.id, order.cl_ord_id)
        effects.orders.add(order.account_id)
        if order.status in _ACCEPTED and order.id not in self._announced:
            self._announced.add(order.id)
            effects.events.append(("order.placed", self.order_payload(order)))
        for fill in self._pending_fills.pop(order.id, []):
            self._add_fill(fill, effects)

    def _on_version(self, version: OrderVersion, effects: Effects) -> None:
        if self._note_version(version):
            order = self.orders.get(version.order_id)
            if order is not None:
                effects.orders.add(order.account_id)

    def _on_position(self, position: Position, deleted: bool, effects: Effects) -> None:
        key = (position.account_id, position.contract_id)
        before = self.positions.get(key)
        if deleted:
            self.positions.pop(key, None)
        else:
            self.positions[key] = position
        self._position_run[key] = self._run
        effects.positions.add(position.account_id)
        effects.cash.add(position.account_id)  # open P&L follows the position
        payload = self.position_payload(position if not deleted else None, key)
        was_flat = before is None or before.net_pos == 0
        if not deleted and was_flat and position.net_pos != 0:
            effects.events.append(("position.opened", payload))
        effects.events.append(("position.update", payload))

    def _add_fill(self, fill: Fill, effects: Effects) -> None:
        order = self.orders.get(fill.order_id)
        if order is None:
            # Fills normally follow their order; keep one that does not until the order (or a
            # REST lookup after the sync) says which account it belongs to.
            self._pending_fills.setdefault(fill.order_id, []).append(fill)
            effects.unknown_fills.append(fill)
            return
        self.fills.setdefault(fill.order_id, {})[fill.id] = fill
        self._averages.pop(fill.order_id, None)
        self._fill_run[fill.order_id] = self._run
        effects.orders.add(order.account_id)  # its settlement waits for the position
        effects.fills.append(AccountFill(fill, order.account_id, self.cl_ord_ids.get(order.id)))

    def adopt_order(self, order: Order, cl_ord_id: str | None) -> Effects:
        """Learn an order found over REST (its fills waited for it) and return their effects."""
        effects = Effects()
        if order.id not in self.orders:
            self._put_order(order)
            self._announced.add(order.id)
        if cl_ord_id:
            self._name(order.id, cl_ord_id)
        for fill in self._pending_fills.pop(order.id, []):
            self._add_fill(fill, effects)
        return effects

    # --- reads --------------------------------------------------------------------------------

    def account_ids(self) -> set[int]:
        """Return every account the book knows."""
        ids = set(self.accounts) | set(self.cash)
        ids |= {a for a, _ in self.positions} | {o.account_id for o in self.orders.values()}
        return ids

    def open_positions(self, account_id: int | None = None) -> list[Position]:
        """Return the non-flat positions (of one account, or of all)."""
        return [
            p
            for (acc, _), p in sorted(self.positions.items())
            if p.net_pos != 0 and (account_id is None or acc == account_id)
        ]

    def working_orders(self, account_id: int | None = None) -> list[Order]:
        """Return the open orders (of one account, or of all), oldest first."""
        if account_id is not None:
            return [self.orders[i] for i in self._open.get(account_id, ())]
        return [self.orders[i] for i in sorted(i for ids in self._open.values() for i in ids)]

    def active_contracts(self) -> set[int]:
        """Return the contracts with an open position or a working order: the quotes wanted."""
        contracts = {p.contract_id for p in self.open_positions()}
        return contracts | {o.contract_id for o in self.working_orders()}

    def settled_orders(self, account_id: int) -> list[Order]:
        """Return the account's closed orders whose fills the position already holds, newest
        first (at most ``SETTLED_LIMIT``); a closed order without fills is settled at once."""
        found: list[Order] = []
        for order_id in reversed(self._closed.get(account_id, ())):
            order = self.orders[order_id]
            filled_in = self._fill_run.get(order_id)
            moved_in = self._position_run.get((account_id, order.contract_id), -1)
            if filled_in is None or moved_in >= filled_in:
                found.append(order)
                if len(found) == SETTLED_LIMIT:
                    break
        return found

    def order_by_cl_ord_id(self, cl_ord_id: str) -> Order | None:
        """Return the newest order placed with ``cl_ord_id``."""
        order_id = self._by_cl_ord_id.get(cl_ord_id)
        return None if order_id is None else self.orders.get(order_id)

    def average_fill(self, order_id: int) -> tuple[int, Decimal] | None:
        """Return (filled quantity, volume-weighted price) of an order's fills, or None."""
        if order_id in self._averages:
            return self._averages[order_id]
        fills = [f for f in self.fills.get(order_id, {}).values() if f.active]
        qty = sum(f.qty for f in fills)
        found = None if qty == 0 else (qty, sum((f.price * f.qty for f in fills), Decimal(0)) / qty)
        self._averages[order_id] = found
        return found

    def fully_filled(self, order_id: int, filled_qty: int) -> bool:
        """Tell whether ``filled_qty`` (from ``average_fill``) is all of an order's quantity
        (assumed when its terms are unknown); a partly filled order stays Working."""
        version = self.versions.get(order_id)
        return version is None or filled_qty >= version.qty

    def order_payload(self, order: Order) -> dict[str, Any]:
        """Describe an order for events and the working-orders document."""
        version = self.versions.get(order.id)
        return {
            "order_id": order.id,
            "account_id": order.account_id,
            "contract_id": order.contract_id,
            "contract": self.contract_names.get(order.contract_id),
            "cl_ord_id": self.cl_ord_ids.get(order.id),
            "side": order.side.value,
            "status": order.status.value,
            "qty": None if version is None else version.qty,
            "order_type": None if version is None or version.order_type is None
            else version.order_type.value,
            "price": decimal_text(None if version is None else version.price),
            "stop_price": decimal_text(None if version is None else version.stop_price),
            "trail": decimal_text(None if version is None else version.trail),
            "time_in_force": None if version is None or version.time_in_force is None
            else version.time_in_force.value,
            "oco_id": order.oco_id,
            "parent_id": order.parent_id,
            "timestamp": None if order.timestamp is None else order.timestamp.isoformat(),
        }  # fmt: skip

    def position_payload(self, position: Position | None, key: tuple[int, int]) -> dict[str, Any]:
        """Describe a position (None = deleted, i.e. flat) for events and documents."""
        account_id, contract_id = key
        return {
            "account_id": account_id,
            "contract_id": contract_id,
            "contract": self.contract_names.get(contract_id),
            "net_pos": 0 if position is None else position.net_pos,
            "net_price": decimal_text(None if position is None else position.net_price),
            "bought": 0 if position is None else position.bought,
            "sold": 0 if position is None else position.sold,
            "position_id": None if position is None else position.id,
            "timestamp": None
            if position is None or position.timestamp is None
            else position.timestamp.isoformat(),
        }


def decimal_text(value: Any) -> str | None:
    """Render a decimal (or None) for a document: decimals travel as strings, so no reader
    ever sees a float."""
    return None if value is None else str(value)
