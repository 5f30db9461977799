"""Describe what the broker holds and what we ask of it, in domain language.

These are the types the planner, the executor, the timers and the worker see. They are pure,
frozen and validated at construction; prices and money are ``Decimal``, quantities ``int``.
The Tradovate adapter converts its wire shapes to and from these in exactly one place
(``shared.adapters.tradovate.parse`` and ``encode``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    """Say which way an order trades."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        """Return the other side (the side that closes a position opened by this one)."""
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """Return +1 for a buy and -1 for a sell: the sign an order adds to a position."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    """Name the order types Tradovate accepts."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"
    TRAILING_STOP_LIMIT = "trailing_stop_limit"
    MARKET_IF_TOUCHED = "market_if_touched"


_NEEDS_PRICE = frozenset(
    {
        OrderType.LIMIT,
        OrderType.STOP_LIMIT,
        OrderType.TRAILING_STOP_LIMIT,
        OrderType.MARKET_IF_TOUCHED,
    }
)
_NEEDS_STOP = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_TRAILING = frozenset({OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT})


class TimeInForce(StrEnum):
    """Say how long a working order lives."""

    DAY = "day"
    GTC = "gtc"
    GTD = "gtd"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    """Name the lifecycle states of a broker order."""

    PENDING_NEW = "pending_new"
    WORKING = "working"
    PENDING_REPLACE = "pending_replace"
    PENDING_CANCEL = "pending_cancel"
    SUSPENDED = "suspended"
    FILLED = "filled"
    COMPLETED = "completed"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_open(self) -> bool:
        """Tell whether the order can still fill or be cancelled."""
        return self in _OPEN_STATUSES


_OPEN_STATUSES = frozenset(
    {
        OrderStatus.PENDING_NEW,
        OrderStatus.WORKING,
        OrderStatus.PENDING_REPLACE,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.SUSPENDED,
    }
)


class ChangeKind(StrEnum):
    """Say what happened to an entity in a streamed change."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def _require_positive(name: str, value: Decimal | None) -> None:
    if value is not None and (not value.is_finite() or value <= 0):
        raise ValueError(f"{name} must be a positive finite number, got {value}")


CL_ORD_ID_MAX = 64  # Tradovate's clOrdId limit (reference §3.2 PlaceOrder)


def _check_cl_ord_id(value: str | None, *, required: bool) -> None:
    if value is None:
        if required:
            raise ValueError("cl_ord_id is required: placement is retried only with a client id")
        return
    if not 1 <= len(value) <= CL_ORD_ID_MAX or not value.isprintable():
        raise ValueError(f"cl_ord_id must be 1 to {CL_ORD_ID_MAX} printable characters")


def _check_prices(
    order_type: OrderType,
    price: Decimal | None,
    stop_price: Decimal | None,
    trail: Decimal | None,
) -> None:
    _require_positive("price", price)
    _require_positive("stop_price", stop_price)
    _require_positive("trail", trail)
    if order_type in _NEEDS_PRICE and price is None:
        raise ValueError(f"a {order_type} order needs a price")
    if order_type not in _NEEDS_PRICE and price is not None:
        raise ValueError(f"a {order_type} order takes no limit price")
    if order_type in _NEEDS_STOP and stop_price is None:
        raise ValueError(f"a {order_type} order needs a stop_price")
    if order_type in _TRAILING and trail is None and stop_price is None:
        raise ValueError(f"a {order_type} order needs a trail offset or a stop_price")
    if order_type not in _TRAILING and trail is not None:
        raise ValueError(f"a {order_type} order takes no trail offset")
    if order_type in (OrderType.MARKET, OrderType.LIMIT, OrderType.MARKET_IF_TOUCHED) and (
        stop_price is not None
    ):
        raise ValueError(f"a {order_type} order takes no stop_price")


def _check_tif(time_in_force: TimeInForce | None, expire_time: datetime | None) -> None:
    _require_aware("expire_time", expire_time)
    if time_in_force is TimeInForce.GTD and expire_time is None:
        raise ValueError("a GTD order needs an expire_time")
    if time_in_force is not TimeInForce.GTD and expire_time is not None:
        raise ValueError("expire_time is only valid with time_in_force GTD")


# --- reference data ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """Name one trading account; ``id`` (not the name) is what order calls need."""

    id: int
    name: str
    user_id: int | None = None
    active: bool = True
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class Product:
    """Describe a futures product (the root, e.g. ``NQ``) and its contract terms."""

    id: int
    name: str
    tick_size: Decimal
    value_per_point: Decimal
    currency_id: int | None = None
    description: str = ""
    months: str = ""
    is_micro: bool = False

    def __post_init__(self) -> None:
        _require_positive("tick_size", self.tick_size)
        _require_positive("value_per_point", self.value_per_point)

    @property
    def tick_value(self) -> Decimal:
        """Return the money value of one tick for one contract."""
        return self.tick_size * self.value_per_point


@dataclass(frozen=True, slots=True)
class Contract:
    """Name one tradable maturity, e.g. ``NQZ4``."""

    id: int
    name: str
    contract_maturity_id: int | None = None


@dataclass(frozen=True, slots=True)
class ContractMaturity:
    """Date one maturity of a product; ``expiration_month`` is YYYYMM."""

    id: int
    product_id: int
    expiration_month: int
    expiration_date: datetime | None = None
    first_intent_date: datetime | None = None
    is_front: bool = False

    def __post_init__(self) -> None:
        _require_aware("expiration_date", self.expiration_date)
        _require_aware("first_intent_date", self.first_intent_date)


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """Join a contract, its maturity and its product: what planning needs to size and round."""

    contract: Contract
    product: Product
    maturity: ContractMaturity | None = None

    @property
    def contract_id(self) -> int:
        """Return the contract's broker id."""
        return self.contract.id

    @property
    def symbol(self) -> str:
        """Return the contract's broker name, e.g. ``NQZ4``."""
        return self.contract.name

    @property
    def root(self) -> str:
        """Return the product root, e.g. ``NQ``."""
        return self.product.name

    @property
    def tick_size(self) -> Decimal:
        """Return the minimum price increment."""
        return self.product.tick_size

    @property
    def value_per_point(self) -> Decimal:
        """Return the money value of a one-point move for one contract."""
        return self.product.value_per_point

    @property
    def expiration(self) -> datetime | None:
        """Return when the contract expires, when known."""
        return None if self.maturity is None else self.maturity.expiration_date


# --- account state --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """Hold the broker's net position in one contract for one account."""

    id: int
    account_id: int
    contract_id: int
    net_pos: int
    net_price: Decimal | None = None
    bought: int = 0
    sold: int = 0
    timestamp: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware("timestamp", self.timestamp)

    @property
    def is_flat(self) -> bool:
        """Tell whether no contracts are held."""
        return self.net_pos == 0


@dataclass(frozen=True, slots=True)
class Order:
    """Hold an order's identity and status; price and quantity live on ``OrderVersion``."""

    id: int
    account_id: int
    contract_id: int
    side: Side
    status: OrderStatus
    timestamp: datetime | None = None
    oco_id: int | None = None
    parent_id: int | None = None
    linked_id: int | None = None
    cl_ord_id: str | None = None

    def __post_init__(self) -> None:
        _require_aware("timestamp", self.timestamp)


class OrderFate(StrEnum):
    """Say what became of an order, as far as the position is concerned."""

    OPEN = "open"  # still working: it can fill or be cancelled
    CANCELLED = "cancelled"  # closed without trading a single contract
    FILLED = "filled"  # traded, wholly or in part: the position moved
    UNKNOWN = "unknown"  # the broker does not know it, or cannot say: it may have traded


# Closed without the exchange trading it; only a fill count of zero proves nothing traded,
# because an order cancelled after a partial fill is ``Canceled`` too (reference §3.2).
_CLOSED_UNTRADED = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


@dataclass(frozen=True, slots=True)
class OrderState:
    """Hold where one order stands at the broker now: its status and how much of it filled.

    ``status`` is None when the broker does not know the order id at all.
    """

    order_id: int
    status: OrderStatus | None
    filled_qty: int = 0
    average_price: Decimal | None = None  # of the fills, when any

    def __post_init__(self) -> None:
        if self.filled_qty < 0:
            raise ValueError("filled_qty cannot be negative")

    @property
    def fate(self) -> OrderFate:
        """Classify the order: open, closed untraded, traded, or unknown."""
        if self.status is None or self.status is OrderStatus.UNKNOWN:
            return OrderFate.UNKNOWN
        if self.status.is_open:
            return OrderFate.OPEN
        if self.status in _CLOSED_UNTRADED and self.filled_qty == 0:
            return OrderFate.CANCELLED
        return OrderFate.FILLED


@dataclass(frozen=True, slots=True)
class OrderVersion:
    """Hold one version of an order's terms (the id equals the creating command's id)."""

    id: int
    order_id: int
    qty: int
    order_type: OrderType | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    time_in_force: TimeInForce | None = None


@dataclass(frozen=True, slots=True)
class OrderCommand:
    """Record one command sent for an order (New, Modify, Cancel) and its client id."""

    id: int
    order_id: int
    command_type: str
    status: str
    cl_ord_id: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """Report what the exchange did with an order (new, trade, cancel, reject)."""

    id: int
    order_id: int
    account_id: int
    contract_id: int
    exec_type: str
    status: OrderStatus
    side: Side | None = None
    cum_qty: int = 0
    avg_price: Decimal | None = None
    last_qty: int = 0
    last_price: Decimal | None = None
    reject_reason: str | None = None
    text: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """Record one execution: quantity at a price."""

    id: int
    order_id: int
    contract_id: int
    side: Side
    qty: int
    price: Decimal
    timestamp: datetime | None = None
    active: bool = True

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError("a fill has a positive quantity")
        _require_aware("timestamp", self.timestamp)


@dataclass(frozen=True, slots=True)
class CashBalance:
    """Hold an account's cash balance entity (as streamed by the broker)."""

    id: int
    account_id: int
    amount: Decimal
    realized_pnl: Decimal = Decimal(0)
    week_realized_pnl: Decimal = Decimal(0)
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class CashBalanceSnapshot:
    """Summarise an account's money right now, including open and realized P&L."""

    account_id: int
    total_cash_value: Decimal = Decimal(0)
    net_liq: Decimal = Decimal(0)
    open_pnl: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    week_realized_pnl: Decimal = Decimal(0)
    total_pnl: Decimal = Decimal(0)
    initial_margin: Decimal = Decimal(0)
    maintenance_margin: Decimal = Decimal(0)

    @property
    def day_pnl(self) -> Decimal:
        """Return realized plus open P&L, the figure a daily loss limit compares against."""
        return self.realized_pnl + self.open_pnl


@dataclass(frozen=True, slots=True)
class Quote:
    """Hold the latest top of book and last trade for one contract; absent entries are None."""

    contract_id: int
    timestamp: datetime | None = None
    bid: Decimal | None = None
    bid_size: int | None = None
    ask: Decimal | None = None
    ask_size: int | None = None
    last: Decimal | None = None
    last_size: int | None = None
    volume: int | None = None


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """Ask for one order; invalid combinations cannot be built.

    ``cl_ord_id`` is required and deterministic (derived from the signal and account), so a
    retried or re-delivered placement can be found instead of placed twice. ``trail`` is the
    trailing offset in price units (sent as ``pegDifference``).
    """

    account_id: int
    symbol: str
    side: Side
    qty: int
    order_type: OrderType
    cl_ord_id: str
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    time_in_force: TimeInForce | None = None
    expire_time: datetime | None = None
    text: str | None = None
    account_name: str | None = None

    def __post_init__(self) -> None:
        if self.account_id <= 0:
            raise ValueError("account_id must be the broker's positive integer account id")
        if not self.symbol or len(self.symbol) > 64:
            raise ValueError("symbol must be a contract name of 1 to 64 characters")
        if self.qty <= 0:
            raise ValueError("qty must be a positive whole number of contracts")
        _check_cl_ord_id(self.cl_ord_id, required=True)
        _check_prices(self.order_type, self.price, self.stop_price, self.trail)
        _check_tif(self.time_in_force, self.expire_time)
        if self.text is not None and len(self.text) > 64:
            raise ValueError("text is limited to 64 characters")


@dataclass(frozen=True, slots=True)
class BracketLeg:
    """Describe one exit attached to an entry (no quantity: the broker uses the entry's)."""

    side: Side
    order_type: OrderType
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    time_in_force: TimeInForce | None = None
    cl_ord_id: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.order_type is OrderType.MARKET:
            raise ValueError("a bracket leg must rest: use a limit, stop or trailing type")
        _check_cl_ord_id(self.cl_ord_id, required=False)
        _check_prices(self.order_type, self.price, self.stop_price, self.trail)
        if self.time_in_force is TimeInForce.GTD:
            raise ValueError("GTD bracket legs are not supported")


@dataclass(frozen=True, slots=True)
class BracketOrderRequest:
    """Ask for an entry with one or two exits that rest once it fills (OCO-linked when two)."""

    entry: OrderRequest
    legs: tuple[BracketLeg, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.legs) <= 2:
            raise ValueError("a bracket has one or two legs")
        for leg in self.legs:
            if leg.side is not self.entry.side.opposite:
                raise ValueError("bracket legs must trade the opposite side of the entry")


@dataclass(frozen=True, slots=True)
class OcoOrderRequest:
    """Ask for two orders where a fill of one cancels the other."""

    order: OrderRequest
    other: BracketLeg


@dataclass(frozen=True, slots=True)
class ModifyOrderRequest:
    """Change a working order; quantity and type must be restated even for a price change."""

    order_id: int
    qty: int
    order_type: OrderType
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    time_in_force: TimeInForce | None = None
    cl_ord_id: str | None = None

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError("qty must be a positive whole number of contracts")
        _check_cl_ord_id(self.cl_ord_id, required=False)
        _check_prices(self.order_type, self.price, self.stop_price, self.trail)


# --- results and events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderAck:
    """Confirm an order the broker accepted; ``recovered`` means it was found, not placed now."""

    order_id: int
    cl_ord_id: str
    bracket_order_ids: tuple[int, ...] = ()
    oco_id: int | None = None
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class CommandAck:
    """Confirm a modify, cancel or liquidate command the broker accepted."""

    command_id: int


@dataclass(frozen=True, slots=True)
class EntityChange:
    """Say that the broker created, updated or deleted one entity of the user's data.

    ``entity`` is the parsed domain object when the type is one Tradebridge tracks, else None
    (``entity_type`` and ``entity_id`` still say what changed).
    """

    entity_type: str
    kind: ChangeKind
    entity_id: int | None
    entity: (
        Account
        | Order
        | OrderVersion
        | OrderCommand
        | ExecutionReport
        | Fill
        | Position
        | CashBalance
        | Contract
        | None
    ) = None


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    """Warn that the broker is about to close the socket (maintenance or a quota)."""

    reason_code: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SyncSnapshot:
    """Hold the full state ``user/syncrequest`` returns, from which live state is rebuilt."""

    accounts: tuple[Account, ...] = ()
    positions: tuple[Position, ...] = ()
    orders: tuple[Order, ...] = ()
    order_versions: tuple[OrderVersion, ...] = ()
    commands: tuple[OrderCommand, ...] = ()
    execution_reports: tuple[ExecutionReport, ...] = ()
    fills: tuple[Fill, ...] = ()
    cash_balances: tuple[CashBalance, ...] = ()
    contracts: tuple[Contract, ...] = ()
    extra_counts: Mapping[str, int] = field(default_factory=dict)
