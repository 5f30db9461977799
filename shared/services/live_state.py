"""Read the worker's live view of the broker from Redis, for execution's hot path.

The WebSocket worker keeps, per account, the positions, working orders and cash (with
realized and open P&L) in Redis (``shared.redis_keys``: ``live:{id}:positions|orders|cash``),
plus ``worker:heartbeat`` (expires when the worker stops) and ``worker:sync`` (``synced``
only while those documents match the broker). The orders document also lists the closed
orders whose fills the positions document already holds (``settled``): the executor checks
its last signal's orders against them before it plans from this view
(``shared.services.expectation``). Every read here fetches the document together
with both flags in one ``MGET`` and returns None unless the worker is alive and synced and
the document is complete: None means "ask the broker over REST", never "flat" or "nothing".

Example::

    live = LiveState(redis)                     # any client with ``mget`` (redis.asyncio)
    position = await live.position(10001, 3570918)
    if position is None:
        position = await rest_position(...)     # the fallback the caller owns
    view = await live.view(10001, 3570918)      # position, orders, cash, price: one MGET
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Protocol

from shared import redis_keys as keys
from shared.domain.broker import CashBalanceSnapshot, OrderStatus, OrderType, Position, Side
from shared.domain.planning.model import WorkingOrder

SYNCED = "synced"


class KeyReader(Protocol):
    """Read several string keys in one round trip (``redis.asyncio.Redis`` fits)."""

    def mget(self, keys: list[str]) -> Any:
        """Return an awaitable of the values of ``keys`` (None where missing)."""
        ...


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _decimal(raw: Any) -> Decimal | None:
    if raw is None:
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_moment(raw: Any) -> datetime | None:
    """Read an ISO-8601 time with a zone (``Z`` too) from a document; None otherwise."""
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def seconds_since(raw: Any, now: datetime) -> float | None:
    """Return how many seconds before ``now`` a document's time was (None if unreadable)."""
    moment = parse_moment(raw)
    return None if moment is None else round((now - moment).total_seconds(), 3)


def parse_document(raw: Any) -> dict[str, Any] | None:
    """Read a JSON object stored in Redis (text or bytes); None when absent or not one."""
    text = _text(raw)
    if text is None:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


@dataclass(frozen=True, slots=True)
class SettledOrder:
    """A closed order whose fills (``filled_qty`` contracts) the cached position holds."""

    status: OrderStatus
    filled_qty: int
    parent_id: int | None = None
    fill_price: Decimal | None = None  # the average of its fills, when any


@dataclass(frozen=True, slots=True)
class LiveView:
    """Everything execution needs about one account and contract, read in one round trip.

    Each part is None when the cache cannot answer it (the caller asks REST for that part).
    ``settled`` holds the account's settled orders by id (None when the worker does not list
    them); ``parents`` the ids of orders that have bracket orders in the cache, working or
    settled.
    """

    position: Position | None
    working_orders: tuple[WorkingOrder, ...] | None
    cash: CashBalanceSnapshot | None
    last_price: Decimal | None
    settled: Mapping[int, SettledOrder] | None = None
    parents: frozenset[int] = frozenset()


class LiveState:
    """Answer position, working-order and cash questions from the worker's cache, or None."""

    def __init__(self, redis: KeyReader) -> None:
        self._redis = redis

    async def _raw(self, names: list[str]) -> Sequence[Any] | None:
        """Return the stored values, or None unless the worker is alive and synced."""
        values: Sequence[Any] = await self._redis.mget(
            [keys.WORKER_HEARTBEAT, keys.WORKER_SYNC_STATE, *names]
        )
        if _text(values[0]) is None or _text(values[1]) != SYNCED:
            return None
        return values[2:]

    async def _documents(self, names: list[str]) -> list[dict[str, Any] | None] | None:
        """Return the parsed documents, or None unless the worker is alive and synced."""
        values = await self._raw(names)
        return None if values is None else [parse_document(raw) for raw in values]

    async def _document(self, key: str) -> dict[str, Any] | None:
        documents = await self._documents([key])
        return None if documents is None else documents[0]

    async def is_live(self) -> bool:
        """Tell whether the worker is alive and its documents match the broker."""
        return await self._documents([]) is not None

    async def view(self, account_id: int, contract_id: int) -> LiveView | None:
        """Return position, working orders (on the contract), cash and last price at once."""
        values = await self._raw(
            [
                keys.live_positions(account_id),
                keys.live_orders(account_id),
                keys.live_cash(account_id),
                keys.quote(contract_id),
            ]
        )
        if values is None:
            return None
        positions, cash, quote = (parse_document(values[i]) for i in (0, 2, 3))
        orders = orders_read(account_id, values[1])
        return LiveView(
            position=_position(positions, account_id, contract_id),
            working_orders=_working_orders(orders.document, contract_id),
            cash=_cash(cash, account_id),
            last_price=None if quote is None else _decimal(quote.get("mark")),
            settled=orders.settled,
            parents=orders.parents,
        )

    async def settled(self, account_id: int) -> Mapping[int, SettledOrder] | None:
        """Return the account's settled orders by id, or None unless the worker is live and
        lists them."""
        values = await self._raw([keys.live_orders(account_id)])
        return None if values is None else orders_read(account_id, values[0]).settled

    async def position(self, account_id: int, contract_id: int) -> Position | None:
        """Return the account's position in the contract (flat with id 0 if never traded)."""
        document = await self._document(keys.live_positions(account_id))
        return _position(document, account_id, contract_id)

    async def working_orders(
        self, account_id: int, contract_id: int | None = None
    ) -> tuple[WorkingOrder, ...] | None:
        """Return the account's open orders (on one contract, or all) as the planner sees them."""
        return _working_orders(await self._document(keys.live_orders(account_id)), contract_id)

    async def cash(self, account_id: int) -> CashBalanceSnapshot | None:
        """Return the account's balance with realized and open P&L (None if marks are missing)."""
        return _cash(await self._document(keys.live_cash(account_id)), account_id)

    async def last_price(self, contract_id: int) -> Decimal | None:
        """Return the contract's latest mark from its quote snapshot, or None when expired."""
        values: Sequence[Any] = await self._redis.mget([keys.quote(contract_id)])
        document = parse_document(values[0])
        return None if document is None else _decimal(document.get("mark"))


def _position(
    document: dict[str, Any] | None, account_id: int, contract_id: int
) -> Position | None:
    if document is None:
        return None
    entry = (document.get("positions") or {}).get(str(contract_id))
    if entry is None:
        return Position(id=0, account_id=account_id, contract_id=contract_id, net_pos=0)
    try:
        net_pos = int(entry["net_pos"])
        return Position(
            id=int(entry.get("position_id") or 0),
            account_id=account_id,
            contract_id=contract_id,
            net_pos=net_pos,
            net_price=_decimal(entry.get("net_price")) if net_pos else None,
            bought=int(entry.get("bought") or 0),
            sold=int(entry.get("sold") or 0),
            timestamp=parse_moment(entry.get("timestamp")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _working_orders(
    document: dict[str, Any] | None, contract_id: int | None
) -> tuple[WorkingOrder, ...] | None:
    if document is None:
        return None
    found: list[WorkingOrder] = []
    for entry in document.get("orders") or []:
        if contract_id is not None and entry.get("contract_id") != contract_id:
            continue
        order = _working_order(entry)
        if order is None:
            return None  # an order without its terms yet: the cache cannot answer
        found.append(order)
    return tuple(found)


# Settled entries parsed before, by their raw fields: an orders document lists up to a hundred
# settled orders and is read several times per message (the plan's view, each fill wait), and
# entries rarely change once listed, so each is parsed once per process instead of per read.
_SETTLED_PARSED: dict[tuple[Any, ...], SettledOrder] = {}
_SETTLED_PARSED_MAX = 4096


def settled_order(entry: dict[str, Any]) -> SettledOrder:
    """Parse one entry of an orders document's ``settled`` list (raises when unreadable)."""
    raw = (
        entry["status"],
        entry.get("filled_qty"),
        entry.get("parent_id"),
        entry.get("fill_price"),
    )
    known = _SETTLED_PARSED.get(raw)
    if known is not None:
        return known
    status, filled_qty, parent, fill_price = raw
    parsed = SettledOrder(
        status=OrderStatus(status),
        filled_qty=int(filled_qty or 0),
        parent_id=None if parent is None else int(parent),
        fill_price=_decimal(fill_price),
    )
    if len(_SETTLED_PARSED) >= _SETTLED_PARSED_MAX:
        _SETTLED_PARSED.clear()
    _SETTLED_PARSED[raw] = parsed
    return parsed


@dataclass(frozen=True, slots=True)
class OrdersRead:
    """An orders document as read (treat as read-only: reads of the same value share it), and
    what the executor derives from it: its settled orders by id, and the bracket parents."""

    document: dict[str, Any] | None
    settled: Mapping[int, SettledOrder] | None
    parents: frozenset[int]


# The last orders document read per account, with what was derived from it. In a burst every
# delivery for an account reads the same document until the worker rewrites it, and parsing
# it (up to a hundred settled entries) was the largest part of reading the view; a value
# equal to the last one (compared byte for byte) is not parsed again. One entry per account.
_ORDERS_READ: dict[int, tuple[Any, OrdersRead]] = {}


def orders_read(account_id: int, raw: Any) -> OrdersRead:
    """Return the orders document ``raw`` (as stored) parsed, reusing the last parse of an
    equal value for the same account."""
    last = _ORDERS_READ.get(account_id)
    if last is not None and raw is not None and last[0] == raw:
        return last[1]
    document = parse_document(raw)
    settled = _settled(document)
    read = OrdersRead(
        document,
        None if settled is None else MappingProxyType(settled),
        _parents(document),
    )
    _ORDERS_READ[account_id] = (raw, read)
    return read


def _settled(document: dict[str, Any] | None) -> dict[int, SettledOrder] | None:
    if document is None or not isinstance(document.get("settled"), list):
        return None
    found: dict[int, SettledOrder] = {}
    for entry in document["settled"]:
        try:
            found[int(entry["order_id"])] = settled_order(entry)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None  # a document this reader does not understand proves nothing
    return found


def _parents(document: dict[str, Any] | None) -> frozenset[int]:
    if document is None:
        return frozenset()
    entries = [*(document.get("orders") or []), *(document.get("settled") or [])]
    found: set[int] = set()
    for entry in entries:
        parent = entry.get("parent_id") if isinstance(entry, dict) else None
        if isinstance(parent, int):
            found.add(parent)
    return frozenset(found)


def _cash(document: dict[str, Any] | None, account_id: int) -> CashBalanceSnapshot | None:
    if document is None or not document.get("known") or not document.get("marks_complete"):
        return None
    names = ("amount", "net_liq", "open_pnl", "realized_pnl", "week_realized_pnl")
    parsed = [_decimal(document.get(name)) for name in names]
    values = [value for value in parsed if value is not None]
    if len(values) != len(names):
        return None
    amount, net_liq, opened, realized, week = values
    return CashBalanceSnapshot(
        account_id=account_id,
        total_cash_value=amount,
        net_liq=net_liq,
        open_pnl=opened,
        realized_pnl=realized,
        week_realized_pnl=week,
        total_pnl=realized + opened,
    )


_SIDES = {side.value: side for side in Side}
_TYPES = {kind.value: kind for kind in OrderType}


def _working_order(entry: dict[str, Any]) -> WorkingOrder | None:
    try:
        if not OrderStatus(entry["status"]).is_open:
            return None
        qty, kind = entry.get("qty"), _TYPES.get(entry.get("order_type") or "")
        if not isinstance(qty, int) or qty <= 0 or kind is None:
            return None
        return WorkingOrder(
            order_id=int(entry["order_id"]),
            side=_SIDES[entry["side"]],
            qty=qty,
            order_type=kind,
            price=_decimal(entry.get("price")),
            stop_price=_decimal(entry.get("stop_price")),
            trail=_decimal(entry.get("trail")),
            group=entry.get("oco_id") or entry.get("parent_id"),
        )
    except (KeyError, TypeError, ValueError):
        return None
