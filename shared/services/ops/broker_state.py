"""Answer accounts, positions, working orders and balances: the worker's cache, else REST.

The worker keeps each account's positions, orders and cash in Redis (``live:{id}:*``,
``worker/documents.py``) and proves them current with ``worker:heartbeat`` (a few seconds'
TTL) and ``worker:sync`` = ``synced``. One ``MGET`` reads the flags and every document asked
for (and the contract maps, for names). The cache answers when the worker is synced, its
heartbeat is at most ``max_age_s`` old and every document is there; otherwise one Tradovate
REST call answers (``position/list``, ``order/list``, ``account/list``; a balance costs one
``cashBalance/getcashbalancesnapshot`` per account), which is also how the lean deployment
(no worker) always answers. Each answer says where it came from, how old the cache was, and
why REST was asked. Orders read from REST carry no quantity or prices (those live on order
versions, a call per order); the cache has them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared import redis_keys as keys
from shared.domain.broker import Account, CashBalanceSnapshot
from shared.domain.errors import NotFound
from shared.ports import Clock
from shared.services.contracts import strategy_roots
from shared.services.live_state import parse_document, parse_moment
from shared.services.ops.ports import BrokerReads, OpsStore
from shared.strategies import StrategyBook

DEFAULT_MAX_AGE_S = 10.0
_KINDS = {"positions": keys.live_positions, "orders": keys.live_orders, "cash": keys.live_cash}


@dataclass(frozen=True, slots=True)
class AccountRef:
    """A configured account: its name in the strategy file, its broker id, its strategies."""

    name: str
    id: int | None
    strategies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class View:
    """What one read found: the documents per account (cache), or None (use REST)."""

    documents: Mapping[int, Mapping[str, dict[str, Any]]] | None
    names: Mapping[int, str]
    meta: dict[str, Any]


def configured_accounts(strategies: StrategyBook) -> list[AccountRef]:
    """Return every account the strategy file names, once, with its strategies."""
    found: dict[str, tuple[int | None, list[str]]] = {}
    for strategy in strategies.values():
        for account in strategy.accounts:
            known_id, holders = found.get(account.name, (None, []))
            found[account.name] = (known_id or account.id, [*holders, strategy.id])
    return [AccountRef(n, i, tuple(sorted(s))) for n, (i, s) in sorted(found.items())]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def contract_names(maps: Iterable[dict[str, Any] | None]) -> dict[int, str]:
    """Map contract ids to names from contract-map documents."""
    names: dict[int, str] = {}
    for doc in maps:
        for name, entry in ((doc or {}).get("contracts") or {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("id"), int):
                names[entry["id"]] = str(name)
    return names


class BrokerState:
    """Read broker state for the accounts of one strategy book."""

    def __init__(
        self,
        strategies: StrategyBook,
        store: OpsStore,
        broker: BrokerReads,
        clock: Clock,
    ) -> None:
        self._strategies = strategies
        self._store = store
        self._broker = broker
        self._clock = clock
        self._learned_ids: dict[str, int] = {}

    def refs(self, account: str | None) -> list[AccountRef]:
        """Return the configured accounts, or the one named (404 ``unknown_account``)."""
        every = configured_accounts(self._strategies)
        if account is None:
            return every
        chosen = [ref for ref in every if ref.name == account]
        if not chosen:
            raise NotFound(
                f"no strategy trades an account named {account!r}", code="unknown_account"
            )
        return chosen

    async def resolve_ids(self, refs: Sequence[AccountRef]) -> dict[str, int]:
        """Return each account's broker id: from the strategy file, else ``account/list``
        (once per process; an account Tradovate does not list is left out)."""
        ids = {r.name: r.id for r in refs if r.id is not None}
        ids.update({r.name: i for r in refs if (i := self._learned_ids.get(r.name)) is not None})
        if len(ids) < len(refs):
            for account in await self._broker.accounts():
                self._learned_ids[account.name] = account.id
            ids.update(
                {r.name: self._learned_ids[r.name] for r in refs if r.name in self._learned_ids}
            )
        return ids

    async def read(
        self, ids: Mapping[str, int], kinds: Sequence[str], max_age_s: float, *, names: bool
    ) -> View:
        """Read the documents of ``kinds`` for ``ids`` in one round trip; decide if they answer."""
        account_ids = sorted(set(ids.values()))
        doc_keys = [_KINDS[kind](i) for i in account_ids for kind in kinds]
        roots = sorted(strategy_roots(self._strategies.values())) if names else []
        wanted = [keys.WORKER_HEARTBEAT, keys.WORKER_SYNC_STATE, *doc_keys]
        wanted += [keys.contract_map(r) for r in roots]
        reading = await self._store.read(wanted)
        heartbeat, sync = parse_document(reading.strings[0]), reading.strings[1]
        docs = [parse_document(v) for v in reading.strings[2 : 2 + len(doc_keys)]]
        name_map = contract_names(parse_document(v) for v in reading.strings[2 + len(doc_keys) :])
        now = self._clock.now()
        at = parse_moment((heartbeat or {}).get("at"))
        age_s = None if at is None else round(max(0.0, (now - at).total_seconds()), 3)
        reason = _why_not_cache(heartbeat, sync, age_s, max_age_s, docs)
        meta: dict[str, Any] = {
            "source": "cache" if reason is None else "rest",
            "age_s": age_s if reason is None else None,
            "as_of": now.isoformat(),
            "worker": {
                "state": (heartbeat or {}).get("state"),
                "sync": sync,
                "heartbeat_age_s": age_s,
            },
        }
        if reason is not None:
            meta["reason"] = reason
            return View(None, name_map, meta)
        documents: dict[int, dict[str, dict[str, Any]]] = {}
        for index, account_id in enumerate(account_ids):
            for offset, kind in enumerate(kinds):
                doc = docs[index * len(kinds) + offset]
                documents.setdefault(account_id, {})[kind] = doc or {}
        return View(documents, name_map, meta)

    # --- the endpoints ---------------------------------------------------------------------

    async def accounts(self, max_age_s: float = DEFAULT_MAX_AGE_S) -> dict[str, Any]:
        """List the configured accounts with their ids, and the broker's other accounts."""
        refs = self.refs(None)
        known = {r.name: r.id or self._learned_ids.get(r.name) for r in refs}
        ids = {name: i for name, i in known.items() if i is not None}
        if len(ids) == len(refs):
            view = await self.read(ids, ("cash",), max_age_s, names=False)
            if view.documents is not None:
                rows = [_account_row(r, ids.get(r.name), None) for r in refs]
                return {**view.meta, "accounts": rows}
            meta = view.meta
        else:
            meta = {"source": "rest", "age_s": None, "reason": "account ids are not configured"}
        broker_accounts = await self._broker.accounts()
        self._learned_ids.update({a.name: a.id for a in broker_accounts})
        by_name = {a.name: a for a in broker_accounts}
        rows = [
            _account_row(r, by_name[r.name].id if r.name in by_name else None, by_name.get(r.name))
            for r in refs
        ]
        configured = {r.name for r in refs}
        rows += [
            _account_row(AccountRef(a.name, a.id, ()), a.id, a)
            for a in broker_accounts
            if a.name not in configured
        ]
        return {**meta, "source": "rest", "accounts": rows}

    async def positions(
        self, account: str | None, max_age_s: float = DEFAULT_MAX_AGE_S, *, flat: bool = False
    ) -> dict[str, Any]:
        """List open positions (``flat``: also flat ones the cache still lists)."""
        refs = self.refs(account)
        ids = await self.resolve_ids(refs)
        view = await self.read(ids, ("positions",), max_age_s, names=True)
        by_id = {i: n for n, i in ids.items()}
        if view.documents is not None:
            rows = [
                _position_from_doc(by_id[account_id], account_id, contract_id, entry)
                for account_id, docs in view.documents.items()
                for contract_id, entry in sorted((docs["positions"].get("positions") or {}).items())
            ]
        else:
            rows = [
                {
                    "account": by_id[p.account_id],
                    "account_id": p.account_id,
                    "contract_id": p.contract_id,
                    "contract": view.names.get(p.contract_id),
                    "net_pos": p.net_pos,
                    "net_price": _text(p.net_price),
                    "bought": p.bought,
                    "sold": p.sold,
                    "timestamp": None if p.timestamp is None else p.timestamp.isoformat(),
                }
                for p in await self._broker.positions()
                if p.account_id in by_id
            ]
        shown = [r for r in rows if flat or r["net_pos"]]
        return {**view.meta, "positions": shown}

    async def orders(
        self, account: str | None, max_age_s: float = DEFAULT_MAX_AGE_S, *, every: bool = False
    ) -> dict[str, Any]:
        """List working orders (``every``: also the closed ones the source lists)."""
        refs = self.refs(account)
        ids = await self.resolve_ids(refs)
        view = await self.read(ids, ("orders",), max_age_s, names=True)
        by_id = {i: n for n, i in ids.items()}
        rows: list[dict[str, Any]] = []
        if view.documents is not None:
            for account_id, docs in view.documents.items():
                doc = docs["orders"]
                rows += [_order_from_doc(by_id[account_id], e) for e in doc.get("orders") or []]
                if every:
                    rows += [
                        {"account": by_id[account_id], "account_id": account_id, **e}
                        for e in doc.get("settled") or []
                    ]
        else:
            for o in await self._broker.orders():
                if o.account_id not in by_id or not (every or o.status.is_open):
                    continue
                rows.append(
                    {
                        "account": by_id[o.account_id],
                        "account_id": o.account_id,
                        "order_id": o.id,
                        "cl_ord_id": o.cl_ord_id,
                        "contract_id": o.contract_id,
                        "contract": view.names.get(o.contract_id),
                        "side": o.side.value,
                        "status": o.status.value,
                        "parent_id": o.parent_id,
                        "oco_id": o.oco_id,
                        "timestamp": None if o.timestamp is None else o.timestamp.isoformat(),
                    }
                )
        return {**view.meta, "orders": rows}

    async def balance(
        self, account: str | None, max_age_s: float = DEFAULT_MAX_AGE_S
    ) -> dict[str, Any]:
        """Return each account's cash, realized and open P&L and net liquidation value."""
        refs = self.refs(account)
        ids = await self.resolve_ids(refs)
        view = await self.read(ids, ("cash",), max_age_s, names=False)
        by_id = {i: n for n, i in ids.items()}
        if view.documents is not None and all(
            d["cash"].get("known") for d in view.documents.values()
        ):
            rows = [_balance_from_doc(by_id[i], i, d["cash"]) for i, d in view.documents.items()]
            return {**view.meta, "balances": rows}
        meta = view.meta
        if view.documents is not None:
            reason = "the worker has not seen a cash balance for every account"
            meta = {**meta, "source": "rest", "age_s": None, "reason": reason}
        ordered = sorted(by_id)
        snapshots = await asyncio.gather(
            *(self._broker.cash_balance_snapshot(account_id) for account_id in ordered)
        )
        rows = [
            _balance_from_rest(by_id[i], snap) for i, snap in zip(ordered, snapshots, strict=True)
        ]
        return {**meta, "balances": rows}


def _why_not_cache(
    heartbeat: dict[str, Any] | None,
    sync: str | None,
    age_s: float | None,
    max_age_s: float,
    docs: Sequence[dict[str, Any] | None],
) -> str | None:
    if heartbeat is None:
        return "the worker is not running (no heartbeat)"
    if sync != "synced":
        return f"the worker's cache is {sync or 'not synced'}"
    if age_s is None or age_s > max_age_s:
        return f"the worker's heartbeat is older than {max_age_s:g} s"
    if any(doc is None for doc in docs):
        return "the worker holds no documents for an account asked for"
    return None


def _account_row(ref: AccountRef, account_id: int | None, broker: Account | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": ref.name,
        "id": account_id,
        "configured": bool(ref.strategies),
        "strategies": list(ref.strategies),
    }
    if broker is not None:
        row["active"] = bool(broker.active)
        row["readonly"] = bool(broker.readonly)
    return row


def _position_from_doc(
    account: str, account_id: int, contract_id: str, entry: dict[str, Any]
) -> dict[str, Any]:
    return {
        "account": account,
        "account_id": account_id,
        "contract_id": int(contract_id),
        "contract": entry.get("contract"),
        "net_pos": int(entry.get("net_pos") or 0),
        "net_price": entry.get("net_price"),
        "bought": entry.get("bought"),
        "sold": entry.get("sold"),
        "timestamp": entry.get("timestamp"),
        "mark": entry.get("mark"),
        "open_pnl": entry.get("open_pnl"),
    }


_ORDER_FIELDS = (
    "order_id", "cl_ord_id", "contract_id", "contract", "side", "status", "qty", "order_type",
    "price", "stop_price", "trail", "time_in_force", "parent_id", "oco_id", "timestamp",
)  # fmt: skip


def _order_from_doc(account: str, entry: dict[str, Any]) -> dict[str, Any]:
    row = {"account": account, "account_id": entry.get("account_id")}
    row.update({name: entry.get(name) for name in _ORDER_FIELDS})
    return row


def _balance_from_rest(account: str, snap: CashBalanceSnapshot) -> dict[str, Any]:
    return {
        "account": account,
        "account_id": snap.account_id,
        "amount": str(snap.total_cash_value),
        "realized_pnl": str(snap.realized_pnl),
        "week_realized_pnl": str(snap.week_realized_pnl),
        "open_pnl": str(snap.open_pnl),
        "total_pnl": str(snap.total_pnl),
        "net_liq": str(snap.net_liq),
        "marks_complete": True,
    }


def _balance_from_doc(account: str, account_id: int, doc: dict[str, Any]) -> dict[str, Any]:
    names = ("amount", "realized_pnl", "week_realized_pnl", "open_pnl", "total_pnl", "net_liq")
    row: dict[str, Any] = {"account": account, "account_id": account_id}
    row.update({name: doc.get(name) for name in names})
    row["marks_complete"] = bool(doc.get("marks_complete"))
    return row
