"""In-memory fakes of the ops ports (shared.services.ops.ports) for the use-case tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared import redis_keys as keys
from shared.domain.broker import (
    Account,
    CashBalanceSnapshot,
    Contract,
    Order,
    OrderStatus,
    Position,
    Side,
)
from shared.domain.errors import BrokerRejected, DependencyUnavailable
from shared.ports import AlertRecord, LedgerEntry, OutboundMessage
from shared.services.ops.ports import Reading, SwitchChange, SwitchResult
from shared.strategies import StrategyBook, parse_strategies

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

STRATEGIES_TOML = """
version = 1
[strategies.trend]
secret = { env = "WEBHOOK_TREND" }
accounts = [{ name = "DEMO1", id = 10001 }, { name = "DEMO2", id = 10002, multiplier = 2 }]
symbols = { NQ = "MNQ" }
[strategies.trend.risk]
symbols = ["MNQ", "ES"]
[strategies.scalp]
secret = { env = "WEBHOOK_SCALP" }
accounts = [{ name = "DEMO2", id = 10002 }, { name = "NOID" }]
[strategies.scalp.risk]
exits_outside_windows = false
[strategies.off]
secret = { env = "WEBHOOK_OFF" }
enabled = false
accounts = [{ name = "DEMO1", id = 10001 }]
[strategies.killed]
secret = { env = "WEBHOOK_KILLED" }
accounts = [{ name = "DEMO1", id = 10001 }]
[strategies.killed.risk]
kill_switch = true
"""


def book() -> StrategyBook:
    return parse_strategies(STRATEGIES_TOML, "test.toml")


class FakeStore:
    """Redis as a dict: strings, lists, sorted-set sizes, ledger hashes, published events."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        self.zsets: dict[str, int] = {}
        self.ledger: dict[str, list[LedgerEntry]] = {}
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.reads = 0
        self.fail: Exception | None = None

    def _check(self) -> None:
        self.reads += 1
        if self.fail is not None:
            raise self.fail

    async def read(
        self,
        strings: Sequence[str],
        *,
        lists: Mapping[str, int] | None = None,
        list_sizes: Sequence[str] = (),
        set_sizes: Sequence[str] = (),
    ) -> Reading:
        self._check()
        return Reading(
            tuple(self.strings.get(k) for k in strings),
            {k: tuple(self.lists.get(k, [])[:n]) for k, n in (lists or {}).items()},
            {
                **{k: len(self.lists.get(k, [])) for k in list_sizes},
                **{k: self.zsets.get(k, 0) for k in set_sizes},
            },
        )

    async def switch(self, change: SwitchChange) -> SwitchResult:
        self._check()
        old = self.strings.get(change.key)
        if change.value is None:
            if old is None:
                return SwitchResult(False, None)
            del self.strings[change.key]
        else:
            if old is not None and not change.replace:
                return SwitchResult(False, old)
            self.strings[change.key] = change.value
        self.lists.setdefault(keys.OPS_CHANGES, []).insert(0, change.journal_entry)
        self.published.append((change.channel, json.loads(change.message)))
        return SwitchResult(True, old)

    async def publish(self, channel: str, message: str) -> None:
        self.published.append((channel, json.loads(message)))

    async def ledgers(self, signal_ids: Sequence[str]) -> dict[str, list[LedgerEntry]]:
        self._check()
        return {s: list(self.ledger.get(s, [])) for s in signal_ids}

    async def map_and_quote(
        self, root: str, pick: tuple[str, str]
    ) -> tuple[str | None, str | None]:
        self._check()
        raw = self.strings.get(keys.contract_map(root))
        if raw is None:
            return None, None
        doc = json.loads(raw)
        kind, value = pick
        name = (
            value
            if kind == "name"
            else (doc["continuous"].get(value) if kind == "continuous" else doc.get("front"))
        )
        entry = doc["contracts"].get(name)
        if entry is None:
            return raw, None
        return raw, self.strings.get(keys.quote(entry["id"]))


class FakeJournal:
    """The alert journal: records by (strategy, id); ``record_alert`` as AlertJournal too."""

    def __init__(self) -> None:
        self.records: list[AlertRecord] = []
        self.queries: list[tuple[datetime, datetime, str | None]] = []
        self.fail_writes = False

    async def record_alert(self, record: AlertRecord) -> None:
        if self.fail_writes:
            raise DependencyUnavailable("the journal could not be written")
        self.records.append(record)

    async def alerts_between(
        self, since: datetime, until: datetime, strategy_id: str | None, max_rows: int
    ) -> list[AlertRecord]:
        self.queries.append((since, until, strategy_id))
        found = [
            r for r in self.records
            if since <= r.received_at < until and strategy_id in (None, r.strategy_id)
        ]  # fmt: skip
        return found[:max_rows]

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        return next(
            (r for r in self.records if (r.strategy_id, r.signal_id) == (strategy_id, signal_id)
             and r.status != "duplicate"),
            None,
        )  # fmt: skip

    async def find_alert(self, signal_id: str) -> AlertRecord | None:
        return next(
            (r for r in self.records if r.signal_id == signal_id and r.status != "duplicate"),
            None,
        )


class FakeChanges:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = False

    async def record(self, kind: str, event_id: str, payload: Mapping[str, Any]) -> None:
        if self.fail:
            raise DependencyUnavailable("the event journal could not be written")
        self.rows.append((kind, event_id, dict(payload)))


class FakeBrokerReads:
    """Tradovate REST reads, counted."""

    def __init__(self) -> None:
        self.account_list = [
            Account(10001, "DEMO1"),
            Account(10002, "DEMO2"),
            Account(10003, "NOID"),
            Account(10009, "OTHER", active=False),
        ]
        self.position_list: list[Position] = []
        self.order_list: list[Order] = []
        self.contracts = {3570918: "MNQZ6", 3570919: "ESZ6"}
        self.calls: list[str] = []

    async def accounts(self) -> tuple[Account, ...]:
        self.calls.append("accounts")
        return tuple(self.account_list)

    async def positions(self, account_id: int | None = None) -> tuple[Position, ...]:
        self.calls.append("positions")
        return tuple(self.position_list)

    async def orders(self, account_id: int | None = None) -> tuple[Order, ...]:
        self.calls.append("orders")
        return tuple(self.order_list)

    async def cash_balance_snapshot(self, account_id: int) -> CashBalanceSnapshot:
        self.calls.append(f"cash:{account_id}")
        from decimal import Decimal

        return CashBalanceSnapshot(account_id=account_id, total_cash_value=Decimal("50000"),
                                   net_liq=Decimal("50010"), open_pnl=Decimal("10"))  # fmt: skip

    async def contract(self, contract_id: int) -> Contract:
        self.calls.append(f"contract:{contract_id}")
        if contract_id not in self.contracts:
            raise BrokerRejected("no such contract", code="broker_not_found")
        return Contract(contract_id, self.contracts[contract_id])


def order(order_id: int, account_id: int, contract_id: int, status: str = "working") -> Order:
    return Order(order_id, account_id, contract_id, Side.BUY, OrderStatus(status))


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, messages: Sequence[OutboundMessage]) -> None:
        self.sent.extend(messages)

    async def close(self) -> None:
        return None


def live(store: FakeStore, *, at: datetime = NOW, sync: str = "synced") -> None:
    """Make the worker look alive and synced as of ``at``."""
    store.strings[keys.WORKER_HEARTBEAT] = json.dumps({"at": at.isoformat(), "state": "live"})
    store.strings[keys.WORKER_SYNC_STATE] = sync


def documents(store: FakeStore, account_id: int, **docs: dict[str, Any]) -> None:
    """Store the worker's documents of one account (positions, orders, cash)."""
    makers = {"positions": keys.live_positions, "orders": keys.live_orders, "cash": keys.live_cash}
    for kind, doc in docs.items():
        store.strings[makers[kind](account_id)] = json.dumps({"as_of": NOW.isoformat(), **doc})
