"""In-memory implementations of the ports, for unit tests of the use cases."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from shared.domain.errors import ConfigError, DependencyUnavailable
from shared.ports import Admission, AlertRecord, OutboundMessage


class FakeQueue:
    def __init__(self) -> None:
        self.batches: list[list[OutboundMessage]] = []
        self.fail_next: Exception | None = None

    async def send(self, messages: Sequence[OutboundMessage]) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        # Duplicate detection, as Service Bus and the local queue do it: a MessageId the
        # queue already holds is dropped.
        held = {m.message_id for m in self.messages}
        fresh = [m for m in messages if m.message_id not in held]
        if fresh:
            self.batches.append(fresh)

    async def close(self) -> None:
        return None

    @property
    def messages(self) -> list[OutboundMessage]:
        return [m for batch in self.batches for m in batch]


class FakeGate:
    def __init__(self) -> None:
        self.now = 0.0
        self.counts: dict[str, int] = {}
        self.claims: dict[str, tuple[str, float]] = {}
        self.unavailable = False

    async def admit(
        self,
        strategy_id: str,
        limit_per_min: int,
        dedupe_key: str | None,
        signal_id: str,
        ttl_s: int,
    ) -> Admission:
        if self.unavailable:
            raise DependencyUnavailable("redis down")
        window = f"{strategy_id}:{int(self.now // 60)}"
        self.counts[window] = self.counts.get(window, 0) + 1
        if self.counts[window] > limit_per_min:
            return Admission(retry_after_s=int(60 - self.now % 60) or 1)
        if dedupe_key is None:
            return Admission()
        key = f"{strategy_id}:{dedupe_key}"
        held = self.claims.get(key)
        if held is not None and held[1] > self.now:
            return Admission(duplicate_of=held[0])
        self.claims[key] = (signal_id, self.now + ttl_s)
        return Admission()

    async def release(self, strategy_id: str, dedupe_key: str, signal_id: str) -> None:
        key = f"{strategy_id}:{dedupe_key}"
        if self.claims.get(key, ("", 0.0))[0] == signal_id:
            del self.claims[key]


class FakeJournal:
    def __init__(self) -> None:
        self.records: list[AlertRecord] = []
        self.delay_s = 0.0
        self.fail = False

    async def record_alert(self, record: AlertRecord) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise DependencyUnavailable("tables down")
        self.records.append(record)

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        for record in self.records:
            if (record.strategy_id, record.signal_id) == (strategy_id, signal_id):
                return record
        return None


class FakeSecrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    async def get_secret(self, key_vault_name: str, env_name: str) -> str:
        if env_name not in self.values:
            raise ConfigError(f"secret {env_name} is not set", code="missing_secret")
        return self.values[env_name]


# --- execution -----------------------------------------------------------------------------


class FakeBroker:
    """Remembers placed orders by client order id; fills market orders at ``price``.

    ``book`` holds resting orders REST lists (any status), added with ``add_order``; a cancel
    or modify of one that is no longer open is refused as Tradovate refuses it, and so is one
    of an id in ``unknown``. ``fill_on_cancel`` fills an order just before its cancel arrives
    (the race with the exchange); ``refuse_next_command`` refuses the next cancel or modify of
    an order that is still open (say another command is pending on it).
    """

    def __init__(self, account_id: int = 10001, price: str = "21000") -> None:
        from decimal import Decimal

        self.account_id = account_id
        self.price = Decimal(price)
        self.net_pos = 0
        self.placed: dict[str, int] = {}
        self.sent: list[str] = []
        self.quantities: dict[str, int] = {}
        self.cancels: list[int] = []
        self.modifies: list[int] = []
        self.reject_next: str | None = None
        self.fail_after_place = False
        self.lookups_fail = False
        self.next_id = 5000
        self.book: dict[int, list[object]] = {}  # order id -> [Order, OrderVersion]
        self.filled: dict[int, int] = {}
        self.unknown: set[int] = set()
        self.fill_on_cancel: set[int] = set()
        self.refuse_next_command: str | None = None  # refuse a cancel/modify of an open order
        self.state_reads: list[int] = []
        self.state_fails = False
        self.position_reads = 0
        self.bought = 0
        self.sold = 0
        self.refuse_after_ack = False  # accept the next placement, then close it untraded
        self.oco: list[object] = []

    def add_order(  # type: ignore[no-untyped-def]
        self, order_id: int, side: str, qty: int, order_type: str = "limit", *, status="working",
        price: str | None = None, stop_price: str | None = None, oco_id: int | None = None,
    ) -> None:  # fmt: skip
        from decimal import Decimal

        from shared.domain.broker import Order, OrderStatus, OrderType, OrderVersion, Side

        order = Order(
            order_id, self.account_id, 777, Side(side), OrderStatus(status), oco_id=oco_id
        )
        version = OrderVersion(
            order_id, order_id, qty, OrderType(order_type),
            price=None if price is None else Decimal(price),
            stop_price=None if stop_price is None else Decimal(stop_price),
        )  # fmt: skip
        self.book[order_id] = [order, version]

    def set_status(self, order_id: int, status: str) -> None:
        import dataclasses

        from shared.domain.broker import OrderStatus

        order = self.book[order_id][0]
        self.book[order_id][0] = dataclasses.replace(order, status=OrderStatus(status))  # type: ignore[type-var]

    def fill(self, order_id: int, qty: int | None = None) -> None:
        """Trade ``qty`` (all by default) of a resting order; the position moves."""
        order, version = self.book[order_id]
        size = version.qty if qty is None else qty  # type: ignore[attr-defined]
        self.filled[order_id] = self.filled.get(order_id, 0) + size
        self._trade(size * order.side.sign)  # type: ignore[attr-defined]
        if self.filled[order_id] >= version.qty:  # type: ignore[attr-defined]
            self.set_status(order_id, "filled")

    def _trade(self, signed_qty: int) -> None:
        self.net_pos += signed_qty
        if signed_qty > 0:
            self.bought += signed_qty
        else:
            self.sold -= signed_qty

    def _refuse_unless_open(self, order_id: int) -> None:
        from shared.domain.errors import BrokerRejected

        # Shaped like the simulator's refusals (failureReason TooLate or UnknownReason).
        if order_id in self.unknown:
            raise BrokerRejected(f"Order {order_id} not found", code="UnknownReason")
        if self.refuse_next_command is not None:
            text, self.refuse_next_command = self.refuse_next_command, None
            raise BrokerRejected(text, code="AnotherCommandPending")
        if order_id in self.fill_on_cancel:
            self.fill_on_cancel.discard(order_id)
            self.fill(order_id)
        held = self.book.get(order_id)
        if held is not None and not held[0].status.is_open:  # type: ignore[attr-defined]
            status = held[0].status  # type: ignore[attr-defined]
            raise BrokerRejected(f"Order {order_id} is already {status}", code="TooLate")

    async def order_state(self, order_id: int):  # type: ignore[no-untyped-def]
        from shared.domain.broker import OrderState
        from shared.domain.errors import TransientBrokerError

        self.state_reads.append(order_id)
        if self.state_fails:
            raise TransientBrokerError("Tradovate did not answer")
        held = self.book.get(order_id)
        if held is None:
            return OrderState(order_id, None)
        filled = self.filled.get(order_id, 0)
        average = self.price if filled else None
        return OrderState(order_id, held[0].status, filled, average)  # type: ignore[attr-defined]

    async def accounts(self):  # type: ignore[no-untyped-def]
        from shared.domain.broker import Account

        return (Account(id=self.account_id, name="DEMO10001"),)

    async def positions(self, account_id: int | None = None):  # type: ignore[no-untyped-def]
        from shared.domain.broker import Position

        self.position_reads += 1
        if self.net_pos == 0 and not self.bought and not self.sold:
            return ()
        position = Position(
            id=1,
            account_id=self.account_id,
            contract_id=777,
            net_pos=self.net_pos,
            bought=self.bought,
            sold=self.sold,
        )
        return (position,)

    async def orders(self, account_id: int | None = None):  # type: ignore[no-untyped-def]
        return tuple(order for order, _ in self.book.values())

    async def order_versions(self, order_id: int):  # type: ignore[no-untyped-def]
        return tuple(self.book[order_id][1:]) if order_id in self.book else ()

    async def orders_by_cl_ord_id(self, account_id: int):  # type: ignore[no-untyped-def]
        from shared.domain.broker import Order, OrderStatus, Side
        from shared.domain.errors import TransientBrokerError

        if self.lookups_fail:
            raise TransientBrokerError("Tradovate did not answer")
        return {
            cl_ord_id: Order(order_id, self.account_id, 777, Side.BUY, OrderStatus.FILLED)
            for cl_ord_id, order_id in self.placed.items()
        }

    async def cash_balance_snapshot(self, account_id: int):  # type: ignore[no-untyped-def]
        from shared.domain.broker import CashBalanceSnapshot

        return CashBalanceSnapshot(account_id=account_id)

    async def _place(self, cl_ord_id: str, qty: int, side: str, lookup_first: bool) -> int:
        from shared.domain.errors import BrokerRejected, TransientBrokerError

        if lookup_first and cl_ord_id in self.placed:
            return self.placed[cl_ord_id]
        if self.reject_next is not None:
            text, self.reject_next = self.reject_next, None
            raise BrokerRejected(text, code="broker_rejected")
        self.next_id += 1
        self.placed[cl_ord_id] = self.next_id
        self.sent.append(cl_ord_id)
        self.quantities[cl_ord_id] = qty
        if self.refuse_after_ack:  # Tradovate's risk checks refuse it after the answer
            self.refuse_after_ack = False
            self.add_order(self.next_id, side, qty, "market", status="rejected")
            return self.next_id
        self._trade(qty if side == "buy" else -qty)
        # Placed orders fill at once; REST then knows them as filled orders.
        self.add_order(self.next_id, side, qty, "market", status="filled")
        self.filled[self.next_id] = qty
        if self.fail_after_place:
            self.fail_after_place = False
            raise TransientBrokerError("timed out waiting for the answer")
        return self.next_id

    async def place_order(self, req, *, lookup_first: bool = False):  # type: ignore[no-untyped-def]
        from shared.domain.broker import OrderAck

        order_id = await self._place(req.cl_ord_id, req.qty, str(req.side), lookup_first)
        return OrderAck(order_id=order_id, cl_ord_id=req.cl_ord_id)

    async def place_oco(self, req, *, lookup_first: bool = False):  # type: ignore[no-untyped-def]
        """Rest both orders (they fill only through ``fill``); refusable like a placement."""
        from shared.domain.broker import OrderAck
        from shared.domain.errors import BrokerRejected

        first, other = req.order, req.other
        if lookup_first and first.cl_ord_id in self.placed:
            order_id = self.placed[first.cl_ord_id]
            return OrderAck(order_id=order_id, cl_ord_id=first.cl_ord_id, oco_id=order_id + 1)
        if self.reject_next is not None:
            text, self.reject_next = self.reject_next, None
            raise BrokerRejected(text, code="broker_rejected")
        self.oco.append(req)
        ids = []
        for leg in (first, other):
            self.next_id += 1
            price = None if leg.price is None else str(leg.price)
            stop = None if leg.stop_price is None else str(leg.stop_price)
            kind = str(leg.order_type)
            side = str(leg.side)
            self.add_order(self.next_id, side, first.qty, kind, price=price, stop_price=stop)
            ids.append(self.next_id)
        self.placed[first.cl_ord_id] = ids[0]
        self.sent.append(first.cl_ord_id)
        return OrderAck(order_id=ids[0], cl_ord_id=first.cl_ord_id, oco_id=ids[1])

    async def place_bracket(self, req, *, lookup_first: bool = False):  # type: ignore[no-untyped-def]
        from shared.domain.broker import OrderAck

        entry = req.entry
        order_id = await self._place(entry.cl_ord_id, entry.qty, str(entry.side), lookup_first)
        return OrderAck(order_id=order_id, cl_ord_id=entry.cl_ord_id)

    async def modify_order(self, req):  # type: ignore[no-untyped-def]
        import dataclasses

        from shared.domain.broker import CommandAck

        self.modifies.append(req.order_id)
        self._refuse_unless_open(req.order_id)
        if req.order_id in self.book:
            version = self.book[req.order_id][1]
            self.book[req.order_id][1] = dataclasses.replace(version, qty=req.qty)  # type: ignore[type-var]
        return CommandAck(command_id=1)

    async def cancel_order(self, order_id: int, *, cl_ord_id: str | None = None):  # type: ignore[no-untyped-def]
        from shared.domain.broker import CommandAck

        self.cancels.append(order_id)
        self._refuse_unless_open(order_id)
        if order_id in self.book:
            self.set_status(order_id, "canceled")
        return CommandAck(command_id=2)


class FakeContracts:
    async def resolve(self, symbol):  # type: ignore[no-untyped-def]
        from decimal import Decimal

        from shared.domain.broker import Contract, ContractSpec, Product
        from shared.domain.errors import InvalidSignal

        if symbol.root != "MNQ":
            raise InvalidSignal(f"no contract for {symbol.root}", code="unknown_contract")
        return ContractSpec(
            contract=Contract(id=777, name="MNQZ6"),
            product=Product(
                id=7, name="MNQ", tick_size=Decimal("0.25"), value_per_point=Decimal(2)
            ),
        )


class FakeLedger:
    def __init__(self) -> None:
        self.table: dict[tuple[str, str], object] = {}
        self.fail_on_status: str | None = None
        self.writes: list[list[tuple[str, str]]] = []  # each update_all: (row, status) pairs

    async def claim(self, entry):  # type: ignore[no-untyped-def]
        key = (entry.signal_id, entry.row_key)
        if key in self.table:
            return self.table[key]
        self.table[key] = entry
        return None

    async def update(self, entry):  # type: ignore[no-untyped-def]
        import dataclasses

        if self.fail_on_status == entry.status:
            self.fail_on_status = None
            raise DependencyUnavailable("tables down")
        key = (entry.signal_id, entry.row_key)
        old = self.table.get(key)
        fields = {**(old.fields if old else {}), **entry.fields}  # type: ignore[attr-defined]
        self.table[key] = dataclasses.replace(entry, fields=fields)

    async def rows_of(self, signal_id: str):  # type: ignore[no-untyped-def]
        return [row for (sid, _), row in self.table.items() if sid == signal_id]

    async def rows(self, signal_id: str):  # type: ignore[no-untyped-def]
        return await self.rows_of(signal_id)

    async def claim_all(self, entries):  # type: ignore[no-untyped-def]
        if any((e.signal_id, e.row_key) in self.table for e in entries):
            return False
        for entry in entries:
            self.table[(entry.signal_id, entry.row_key)] = entry
        return True

    async def update_all(self, entries):  # type: ignore[no-untyped-def]
        self.writes.append([(e.row_key, e.status) for e in entries])
        if self.fail_on_status and any(e.status == self.fail_on_status for e in entries):
            self.fail_on_status = None
            raise DependencyUnavailable("tables down")
        for entry in entries:
            await self.update(entry)


class FakeStore:
    def __init__(self) -> None:
        self.kills = (False, False, False)
        self.events: list[tuple[str, dict[str, object]]] = []
        self.links: dict[str, object] = {}
        self.intents: list[tuple[str, str, str, int]] = []
        self.instructions: dict[int, dict[str, str]] = {}
        self.price = None
        self.expectations: dict[tuple[int, int], str] = {}

    async def risk_facts(self, strategy_id, account_name, root, *, events=()):  # type: ignore[no-untyped-def]
        self.events.extend((e, dict(p)) for e, p in events)
        return (*self.kills, None)

    async def link_orders(self, entries, stamp, *, events=(), expecting=None):  # type: ignore[no-untyped-def]
        self.links.update(entries)
        self.events.extend((e, dict(p)) for e, p in events)
        if expecting is not None:
            self.expectations[expecting[:2]] = expecting[2]

    async def expectation(self, account_id, contract_id):  # type: ignore[no-untyped-def]
        return self.expectations.get((account_id, contract_id))

    async def expect(self, account_id, contract_id, document):  # type: ignore[no-untyped-def]
        self.expectations[(account_id, contract_id)] = document

    async def record_intent(self, strategy_id, account, root, net_pos, signal_id, at):  # type: ignore[no-untyped-def]
        self.intents.append((strategy_id, account, root, net_pos))

    async def store_instructions(self, account_id, items):  # type: ignore[no-untyped-def]
        self.instructions.setdefault(account_id, {}).update(items)

    async def publish(self, event, payload):  # type: ignore[no-untyped-def]
        self.events.append((event, dict(payload)))


class FakeLive:
    """The worker's cache: answers only when ``fresh``; otherwise the executor asks REST."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.fresh = False
        self.reads = 0

    async def view(self, account_id, contract_id):  # type: ignore[no-untyped-def]
        from shared.domain.broker import Position
        from shared.services.live_state import LiveView

        self.reads += 1
        if not self.fresh:
            return None
        position = Position(
            id=1,
            account_id=account_id,
            contract_id=contract_id,
            net_pos=self.broker.net_pos,
            bought=self.broker.bought,
            sold=self.broker.sold,
        )
        settled = await self.settled(account_id)
        return LiveView(
            position=position, working_orders=(), cash=None, last_price=None, settled=settled
        )

    async def settled(self, account_id):  # type: ignore[no-untyped-def]
        from shared.services.live_state import SettledOrder

        if not self.fresh:
            return None
        return {
            order_id: SettledOrder(
                held[0].status,  # type: ignore[attr-defined]
                self.broker.filled.get(order_id, 0),
                fill_price=self.broker.price if self.broker.filled.get(order_id) else None,
            )
            for order_id, held in self.broker.book.items()
            if not held[0].status.is_open  # type: ignore[attr-defined]
        }
