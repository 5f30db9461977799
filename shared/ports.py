"""Declare the ports: the Protocols that adapters implement and services depend on.

Services and trigger functions speak only to these types. The composition root
(``shared.container``) picks the concrete adapter: Azure Service Bus or the local
Redis-backed transport, Key Vault or the environment, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from shared.domain.broker import (
        Account,
        BracketOrderRequest,
        CashBalanceSnapshot,
        CommandAck,
        ContractSpec,
        ModifyOrderRequest,
        OcoOrderRequest,
        Order,
        OrderAck,
        OrderRequest,
        OrderState,
        OrderVersion,
        Position,
    )
    from shared.domain.symbols import SymbolRef
    from shared.services.live_state import LiveView, SettledOrder

PropertyValue = str | int | bool


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """Describe one message to put on the signals queue.

    ``message_id`` drives duplicate detection and ``session_id`` keeps one FIFO per
    account and instrument, exactly as the Service Bus queue is configured in ``infra/``.
    """

    body: bytes
    message_id: str
    session_id: str
    correlation_id: str | None = None
    content_type: str = "application/json"
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    time_to_live: timedelta | None = None
    scheduled_enqueue_time: datetime | None = None

    def __post_init__(self) -> None:
        if not self.message_id or len(self.message_id) > 128:
            raise ValueError("message_id must be 1 to 128 characters (Service Bus limit)")
        if not self.session_id or len(self.session_id) > 128:
            raise ValueError("session_id must be 1 to 128 characters (Service Bus limit)")
        if self.scheduled_enqueue_time is not None and self.scheduled_enqueue_time.tzinfo is None:
            raise ValueError("scheduled_enqueue_time must be timezone-aware")


@runtime_checkable
class SignalQueue(Protocol):
    """Put messages on the signals queue durably, or raise ``DependencyUnavailable``.

    A message whose ``message_id`` was already sent within the duplicate-detection
    window is accepted and silently dropped, as Service Bus does.
    """

    async def send(self, messages: Sequence[OutboundMessage]) -> None:
        """Enqueue all ``messages``; return only once they are durable."""
        ...

    async def close(self) -> None:
        """Release connections held by the adapter."""
        ...


class Clock(Protocol):
    """Tell the time; injected so tests control it."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware in UTC."""
        ...

    def monotonic(self) -> float:
        """Return a monotonic reading in seconds."""
        ...


class SecretStore(Protocol):
    """Look up secrets (Key Vault in Azure, the environment locally)."""

    async def get_secret(self, key_vault_name: str, env_name: str) -> str:
        """Return the secret under the name this store uses, or raise ``ConfigError``."""
        ...


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One received alert as the journal keeps it: accepted, duplicate or refused."""

    strategy_id: str
    signal_id: str
    status: str  # accepted | duplicate | refused
    received_at: datetime
    correlation_id: str
    raw_redacted: str
    reason_code: str | None = None
    reason: str | None = None
    alert_format: str | None = None
    signal_json: str | None = None
    extras_json: str | None = None
    tv_time: datetime | None = None
    client_ip: str | None = None
    messages: int = 0


class AlertJournal(Protocol):
    """Keep every received alert, findable by strategy and id."""

    async def record_alert(self, record: AlertRecord) -> None:
        """Store (or overwrite) the record of one alert."""
        ...

    async def get_alert(self, strategy_id: str, signal_id: str) -> AlertRecord | None:
        """Return the record of one alert, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Admission:
    """The gate's answer for one alert: admitted, rate-limited, or a duplicate."""

    retry_after_s: int | None = None
    duplicate_of: str | None = None

    @property
    def admitted(self) -> bool:
        """Tell whether the alert may proceed."""
        return self.retry_after_s is None and self.duplicate_of is None


class AlertGate(Protocol):
    """Rate-limit and de-duplicate alerts across every instance (Redis in production)."""

    async def admit(
        self,
        strategy_id: str,
        limit_per_min: int,
        dedupe_key: str | None,
        signal_id: str,
        ttl_s: int,
    ) -> Admission:
        """Count the alert against the strategy's limit, then claim ``dedupe_key`` (if any)."""
        ...

    async def release(self, strategy_id: str, dedupe_key: str, signal_id: str) -> None:
        """Drop a claim made for ``signal_id`` (after a failed enqueue), leaving others' alone."""
        ...


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One row of the execution ledger: a leg of a signal for an account, or its summary.

    PartitionKey = ``signal_id``; RowKey = the leg's client order id, or ``exec:{account}``
    for the per-account summary. ``status`` moves claimed → sent → acknowledged | rejected
    (then filled | cancelled, written by the worker) for legs; planned | denied | done for
    summaries.
    """

    signal_id: str
    row_key: str
    status: str
    fields: Mapping[str, str | int | bool | datetime | None] = field(default_factory=dict)


class Ledger(Protocol):
    """Claim legs exactly once and record what happened to them."""

    async def claim(self, entry: LedgerEntry) -> LedgerEntry | None:
        """Insert ``entry`` if its row does not exist; else return the existing row."""
        ...

    async def update(self, entry: LedgerEntry) -> None:
        """Merge ``entry``'s status and fields into its row (creating it if needed)."""
        ...

    async def rows(self, signal_id: str) -> list[LedgerEntry]:
        """Return every row of one signal."""
        ...

    async def claim_all(self, entries: Sequence[LedgerEntry]) -> bool:
        """Insert rows of one signal atomically; False (and nothing written) if any exists."""
        ...

    async def update_all(self, entries: Sequence[LedgerEntry]) -> None:
        """Merge rows of one signal atomically."""
        ...


class ContractSource(Protocol):
    """Resolve a symbol (continuous, explicit or root) to a tradable contract and its spec."""

    async def resolve(self, symbol: SymbolRef) -> ContractSpec:
        """Return the contract, or raise ``InvalidSignal`` (unknown) / ``TransientError``."""
        ...


class BrokerTrading(Protocol):
    """The broker operations the executor needs (Tradovate REST in production)."""

    async def accounts(self) -> tuple[Account, ...]:
        """Return the user's accounts."""
        ...

    async def positions(self, account_id: int | None = None) -> tuple[Position, ...]:
        """Return positions, optionally of one account."""
        ...

    async def orders(self, account_id: int | None = None) -> tuple[Order, ...]:
        """Return orders, optionally of one account."""
        ...

    async def order_versions(self, order_id: int) -> tuple[OrderVersion, ...]:
        """Return an order's versions, oldest first."""
        ...

    async def order_state(self, order_id: int) -> OrderState:
        """Return an order's current status and filled quantity, read from the broker itself."""
        ...

    async def cash_balance_snapshot(self, account_id: int) -> CashBalanceSnapshot:
        """Return an account's cash balance with realized and open P&L."""
        ...

    async def orders_by_cl_ord_id(self, account_id: int) -> Mapping[str, Order]:
        """Return the account's orders keyed by the client order id they were placed with."""
        ...

    async def place_order(self, req: OrderRequest, *, lookup_first: bool = False) -> OrderAck:
        """Place one order (finding it by client order id first when asked)."""
        ...

    async def place_oco(self, req: OcoOrderRequest, *, lookup_first: bool = False) -> OrderAck:
        """Place two orders where a fill of one cancels the other."""
        ...

    async def place_bracket(
        self, req: BracketOrderRequest, *, lookup_first: bool = False
    ) -> OrderAck:
        """Place an entry with OSO brackets."""
        ...

    async def modify_order(self, req: ModifyOrderRequest) -> CommandAck:
        """Modify a working order."""
        ...

    async def cancel_order(self, order_id: int, *, cl_ord_id: str | None = None) -> CommandAck:
        """Cancel a working order."""
        ...


Events = Sequence[tuple[str, Mapping[str, Any]]]


class ExecutionStore(Protocol):
    """The small shared facts the executor reads and writes in Redis."""

    async def risk_facts(
        self, strategy_id: str, account_name: str, root: str, *, events: Events = ()
    ) -> tuple[bool, bool, bool, datetime | None]:
        """Return (global kill, strategy kill, account kill, last entry time); publish
        ``events`` (name, payload) in the same round trip."""
        ...

    async def link_orders(
        self,
        entries: Mapping[str, Mapping[str, Any]],
        stamp: tuple[str, str, datetime] | None,
        *,
        events: Events = (),
        expecting: tuple[int, int, str] | None = None,
    ) -> None:
        """Index client order ids to their signal; stamp the entry time for cooldowns;
        replace the expectation of (account id, contract id) with a document; publish
        ``events`` in the same round trip."""
        ...

    async def record_intent(
        self, strategy_id: str, account: str, root: str, net_pos: int, signal_id: str, at: datetime
    ) -> None:
        """Remember the strategy's intended position for the reconcile timer."""
        ...

    async def store_instructions(self, account_id: int, items: Mapping[str, str]) -> None:
        """Hand stop-management instructions to the worker."""
        ...

    async def publish(self, event: str, payload: Mapping[str, Any]) -> None:
        """Publish an event on its pub/sub channel."""
        ...

    async def expectation(self, account_id: int, contract_id: int) -> str | None:
        """Return what the last signal on this account and contract expects the worker's cache
        to show (``shared.services.expectation``), as stored."""
        ...

    async def expect(self, account_id: int, contract_id: int, document: str) -> None:
        """Replace that expectation."""
        ...


class LiveReader(Protocol):
    """The worker's live view of the broker (``LiveState``); None means "ask REST"."""

    async def view(self, account_id: int, contract_id: int) -> LiveView | None:
        """Return position, working orders, cash and last price in one read, or None."""
        ...

    async def settled(self, account_id: int) -> Mapping[int, SettledOrder] | None:
        """Return the account's closed orders whose fills the cached position holds, or None."""
        ...
