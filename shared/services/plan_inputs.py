"""Read what the executor plans from: the account's book and its risk state.

Position and working orders come from the worker's live cache when it holds both and the
view is proven current (``current_view``, ``shared.services.expectation``), else from REST
(positions, orders and each open order's latest version, read together); the cash for a
daily loss limit likewise. The kill switches and the last entry time are read by the caller,
alongside the cache. ``Basis`` records what a plan was made from, for the ledger.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from shared.domain import broker
from shared.domain.planning.model import Book, WorkingOrder
from shared.domain.policy import RiskState
from shared.domain.symbols import SymbolRef
from shared.ports import BrokerTrading, Clock, ContractSource, Events, ExecutionStore, LiveReader
from shared.services.envelope import Envelope
from shared.services.expectation import Expectation, unproven
from shared.services.live_state import LiveState, LiveView
from shared.services.settle import Timing
from shared.strategies import Strategy
from shared.structural import conforms

Facts = tuple[LiveView | None, tuple[bool, bool, bool, datetime | None], str | None]
_GUESSES = 256  # symbols whose last contract a process remembers


@runtime_checkable
class FactsStore(Protocol):
    """A store that reads everything a plan needs from Redis in one round trip."""

    async def plan_facts(
        self,
        account_id: int,
        contract_id: int,
        strategy_id: str,
        account_name: str,
        root: str,
        *,
        events: Events = (),
    ) -> tuple[LiveView | None, tuple[bool, bool, bool, datetime | None], str | None]:
        """Return the worker's view (as ``LiveState.view``), the risk facts (as
        ``risk_facts``) and the stored expectation, read at one moment, after ``events``."""
        ...


@dataclass(frozen=True, slots=True)
class Target:
    """The account, contract and strategy one delivery trades."""

    account: broker.Account
    contract: broker.ContractSpec
    strategy: Strategy


@dataclass(frozen=True, slots=True)
class Basis:
    """What one plan's book came from: the cache or REST, and what it showed."""

    source: Literal["cache", "rest"]
    position: broker.Position | None
    working: tuple[WorkingOrder, ...]
    at: datetime  # when the facts were read
    waited_ms: int = 0  # spent waiting for the cache to prove itself current
    reason: str = ""  # why the cache was not used, when it was not

    @property
    def bought(self) -> int:
        """Return the position's day count of contracts bought (0 when never traded)."""
        return 0 if self.position is None else self.position.bought

    @property
    def sold(self) -> int:
        """Return the position's day count of contracts sold (0 when never traded)."""
        return 0 if self.position is None else self.position.sold

    def seen(self, signal_id: str) -> Expectation:
        """Return what these facts showed, as an expectation a later cache must meet."""
        working = {order.order_id: order.qty for order in self.working}
        return Expectation(signal_id, bought=self.bought, sold=self.sold, working=working)

    def record(self) -> str:
        """Render the basis for the execution summary in the ledger."""
        return json.dumps(
            {
                "source": self.source,
                "net_pos": 0 if self.position is None else self.position.net_pos,
                "bought": self.bought,
                "sold": self.sold,
                "working": [order.order_id for order in self.working],
                "at": self.at.isoformat(),
                "waited_ms": self.waited_ms,
                "reason": self.reason,
            },
            separators=(",", ":"),
        )


class FactsReader:
    """Read what a plan needs from Redis in as few round trips as the store allows.

    Remembers each symbol's last resolved contract (id, product), so that the facts' read
    can go out beside the next resolution of that symbol, under that guess; the read is used
    only when the guess held.
    """

    def __init__(self, contracts: ContractSource, store: ExecutionStore, live: LiveReader) -> None:
        self._contracts = contracts
        self._store = store
        self._live = live
        self._guesses: dict[SymbolRef, tuple[int, str]] = {}

    async def resolve(
        self, env: Envelope, account_id: int, *, first: bool
    ) -> tuple[broker.ContractSpec, Facts | None]:
        """Resolve the signal's contract; on a first delivery whose symbol resolved before in
        this process, read the plan's facts at the same time under that contract, and return
        them only if the symbol still resolves to it (else None: ``read`` them after)."""
        symbol = env.signal.symbol
        guess = self._guesses.get(symbol)
        store = self._store
        if (
            guess is None
            or not first
            or not conforms(store, FactsStore)  # type: ignore[type-abstract]
            or not isinstance(self._live, LiveState)
        ):
            contract = await self._contracts.resolve(symbol)
            self._remember(symbol, contract)
            return contract, None
        contract_id, root = guess
        resolved, read = await asyncio.gather(
            self._contracts.resolve(symbol),
            store.plan_facts(account_id, contract_id, env.strategy_id, env.account, root),
            return_exceptions=True,
        )
        if isinstance(resolved, BaseException):
            raise resolved
        self._remember(symbol, resolved)
        if isinstance(read, BaseException) or (contract_id, root) != self._guesses[symbol]:
            return resolved, None  # a failed read is made again, and raises, in ``read``
        return resolved, read

    async def read(self, env: Envelope, target: Target, events: Events) -> Facts:
        """Read the worker's view, the risk facts and the expectation, after ``events``: one
        round trip when the store reads them together (``FactsStore``)."""
        store, root = self._store, target.contract.product.name
        account_id, contract_id = target.account.id, target.contract.contract.id
        if conforms(store, FactsStore) and isinstance(self._live, LiveState):  # type: ignore[type-abstract]
            # One read only when the store reads the same cache the reader does.
            return await store.plan_facts(
                account_id, contract_id, target.strategy.id, env.account, root, events=events
            )
        view, facts, stored = await asyncio.gather(
            self._live.view(account_id, contract_id),
            store.risk_facts(target.strategy.id, env.account, root, events=events),
            store.expectation(account_id, contract_id),
        )
        return view, facts, stored

    def _remember(self, symbol: SymbolRef, contract: broker.ContractSpec) -> None:
        if len(self._guesses) >= _GUESSES and symbol not in self._guesses:
            self._guesses.clear()
        self._guesses[symbol] = (contract.contract.id, contract.product.name)


async def current_view(
    live: LiveReader,
    target: Target,
    view: LiveView,
    expected: Expectation | None,
    timing: Timing,
) -> tuple[LiveView | None, int, str]:
    """Return ``view`` once it is proven current, polling the cache up to
    ``timing.view_wait_s``; else None (read REST), with the milliseconds waited and why."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    reason = unproven(view, expected)
    current: LiveView | None = view
    while reason is not None:
        if loop.time() - started >= timing.view_wait_s:
            return None, round((loop.time() - started) * 1000), reason
        await asyncio.sleep(timing.poll_s)
        current = await live.view(target.account.id, target.contract.contract.id)
        if current is None:
            return None, round((loop.time() - started) * 1000), "the worker's cache went away"
        reason = unproven(current, expected)
    return current, round((loop.time() - started) * 1000), ""


async def read_book(
    brk: BrokerTrading,
    account_id: int,
    contract: broker.ContractSpec,
    view: LiveView | None,
    at: datetime,
) -> tuple[Book, Basis]:
    """Take position and working orders from the worker's cache, else from REST."""
    position = view.position if view is not None else None
    working = view.working_orders if view is not None else None
    source: Literal["cache", "rest"] = "cache"
    if position is None or working is None:
        source = "rest"
        position, working = await _book_from_rest(brk, account_id, contract.contract.id)
    book = Book.from_broker(position, working, view.last_price if view else None)
    return book, Basis(source, position, working, at)


async def _book_from_rest(
    brk: BrokerTrading, account_id: int, cid: int
) -> tuple[broker.Position | None, tuple[WorkingOrder, ...]]:
    positions, orders = await asyncio.gather(brk.positions(account_id), brk.orders(account_id))
    position = next((p for p in positions if p.contract_id == cid), None)
    open_orders = [o for o in orders if o.contract_id == cid and o.status.is_open]
    versions = await asyncio.gather(*(brk.order_versions(o.id) for o in open_orders))
    working = tuple(
        WorkingOrder.from_broker(order, found[-1])
        for order, found in zip(open_orders, versions, strict=True)
        if found
    )
    return position, working


async def read_risk(
    brk: BrokerTrading,
    clock: Clock,
    target: Target,
    env: Envelope,
    view: LiveView | None,
    facts: tuple[bool, bool, bool, datetime | None],
) -> RiskState:
    """Gather the risk state from the kill switches, the last entry time and the cash."""
    kill_all, kill_strategy, kill_account, last_at = facts
    strategy, account_id, root = (
        target.strategy,
        target.account.id,
        target.contract.product.name,
    )
    realized = open_pnl = Decimal(0)
    if strategy.risk.daily_loss_limit is not None:
        cash = view.cash if view is not None else None
        if cash is None:
            cash = await brk.cash_balance_snapshot(account_id)
        realized, open_pnl = cash.realized_pnl, cash.open_pnl
    return RiskState(
        now=clock.now(),
        global_kill=kill_all,
        strategy_kill=kill_strategy,
        account_kill=kill_account,
        realized_pnl=realized,
        open_pnl=open_pnl,
        last_order_at={(env.account, root): last_at} if last_at else {},
    )
