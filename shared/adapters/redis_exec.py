"""The executor's view of Redis: kill switches, cooldown stamps, quotes, indexes, events.

The hot path is a few round trips (``docs/architecture.md``, *Redis round trips per
order*): ``plan_facts`` reads the worker's view, the risk facts and the expectation in one
``MGET``; ``claim_with`` and ``update_with`` send a ledger script (``RedisLedger``) with the
store's own writes in one pipeline; ``OrderNotices`` wakes the fill wait when the worker
rewrites an account's settled orders. The pipelines that deliveries of one instance start in
the same event-loop turn travel as one (``shared.adapters.redis_batch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.adapters.notify_feed import queue_feed
from shared.adapters.redis_batch import PipelineBatcher
from shared.adapters.redis_errors import redis_unavailable
from shared.adapters.redis_ledger import RedisLedger
from shared.adapters.redis_replies import optional_text
from shared.ports import Events, Ledger, LedgerEntry
from shared.services.live_state import LiveState, LiveView, SettledOrder, settled_order
from shared.services.store_writes import StoreWrites

# The worker publishes a notice here in the transaction that rewrites an account's orders
# document with new settled entries (``worker.live_store.orders_notice``): the account id and
# those entries. The executor's fill wait wakes on it and takes the entries from it.
ORDERS_NOTICE_CHANNEL = "live:orders:notice"

log = logging.getLogger(__name__)


def _queue_events(pipe: Any, events: Events) -> None:
    for event, payload in events:
        message = keys.event_message(event, payload, source="executor")
        pipe.publish(event, message)
        queue_feed(pipe, event, message)  # notifiable events also go to the feed, same trip


class _Prefetched:
    """Answer ``LiveState``'s one ``MGET`` with values already read in a larger one."""

    def __init__(self, values: list[Any]) -> None:
        self._values = values

    async def mget(self, names: list[str]) -> list[Any]:
        return self._values


def _intent(
    strategy_id: str, account: str, root: str, net_pos: int, signal_id: str, at: datetime
) -> tuple[str, str, str]:
    # The reconcile timer's hash of intended positions: key, field, JSON value.
    value = json.dumps({"net_pos": net_pos, "signal_id": signal_id, "at": at.isoformat()})
    return keys.intended_positions(strategy_id), f"{account}:{root}", value


def _raise_errors(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, Exception):
            raise redis_unavailable(result) from result


def risk_fact_keys(strategy_id: str, account_name: str, root: str) -> list[str]:
    """Return the keys of the risk facts (``risk_facts``), in their order: the kill switches
    (global, strategy, account) and the entry stamp."""
    return [
        keys.KILL_GLOBAL,
        keys.kill_strategy(strategy_id),
        keys.kill_account(account_name),
        keys.last_order(account_name, root),
    ]


_VIEW_KEYS = 6  # heartbeat, sync state, positions, orders, cash, quote


def plan_fact_keys(
    account_id: int, contract_id: int, strategy_id: str, account_name: str, root: str
) -> list[str]:
    """Return the keys a plan reads in its one ``MGET`` (``plan_facts``), in its order: the
    worker's liveness and its view (heartbeat, sync state, positions, orders, cash, quote),
    the risk facts (``risk_fact_keys``) and, last, the expectation."""
    return [
        keys.WORKER_HEARTBEAT,
        keys.WORKER_SYNC_STATE,
        keys.live_positions(account_id),
        keys.live_orders(account_id),
        keys.live_cash(account_id),
        keys.quote(contract_id),
        *risk_fact_keys(strategy_id, account_name, root),
        keys.expectation(account_id, contract_id),
    ]


class RedisExecutionStore:
    """Read and write the small shared facts the executor needs, one round trip where possible."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._batcher = PipelineBatcher(client)
        self._notices: OrderNotices | None = None

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
        """Return the worker's view, the risk facts and the stored expectation, read in one
        ``MGET`` (one moment for all of them), pipelined after ``events``."""
        names = plan_fact_keys(account_id, contract_id, strategy_id, account_name, root)
        values = await self._mget_after(events, names)
        view = await LiveState(_Prefetched(values[:_VIEW_KEYS])).view(account_id, contract_id)
        return view, _risk_flags(values[_VIEW_KEYS:-1]), optional_text(values[-1])

    async def _mget_after(self, events: Events, names: list[str]) -> list[Any]:
        """Publish ``events``, then ``MGET`` ``names``, in one pipeline; return the values."""
        pipe = self._redis.pipeline(transaction=False)
        _queue_events(pipe, events)
        pipe.mget(*names)
        try:
            values = (await self._batcher.execute(pipe))[-1]
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        if isinstance(values, Exception):
            raise redis_unavailable(values) from values
        return list(values)

    def _queue_writes(self, pipe: Any, writes: StoreWrites) -> None:
        _queue_events(pipe, writes.events)
        for cl_ord_id, info in writes.links.items():
            pipe.set(keys.cl_ord_index(cl_ord_id), json.dumps(info), ex=keys.CL_ORD_INDEX_TTL_S)
        if writes.stamp is not None:
            account, root, at = writes.stamp
            pipe.set(keys.last_order(account, root), at.isoformat(), ex=86_400)
        if writes.expecting is not None:
            account_id, contract_id, document = writes.expecting
            key = keys.expectation(account_id, contract_id)
            pipe.set(key, document, ex=keys.EXPECTATION_TTL_S)
        if writes.intent is not None:
            pipe.hset(*_intent(*writes.intent))
        if writes.instructions is not None and writes.instructions[1]:
            account_id, items = writes.instructions
            pipe.hset(keys.management_instructions(account_id), mapping=dict(items))

    def _batched(self, ledger: Ledger) -> RedisLedger | None:
        # One pipeline only when the ledger lives on this store's server.
        if isinstance(ledger, RedisLedger) and ledger.client is self._redis:
            return ledger
        return None

    async def claim_with(
        self, ledger: Ledger, entries: list[LedgerEntry], writes: StoreWrites
    ) -> bool:
        """Claim ``entries`` in the ledger (all or none) and make ``writes``, in one round
        trip when the ledger shares this server; return whether the claim succeeded."""
        batched = self._batched(ledger)
        if batched is None:
            claimed = await ledger.claim_all(entries)
            await self._write(writes)
            return claimed
        pipe = self._redis.pipeline(transaction=False)
        batched.queue_claim_all(pipe, entries)
        self._queue_writes(pipe, writes)
        try:
            results = await self._batcher.execute(pipe)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        _raise_errors(results[1:])
        return await batched.claim_all_result(entries, results[0])

    async def update_with(
        self, ledger: Ledger, entries: list[LedgerEntry], writes: StoreWrites
    ) -> None:
        """Merge ``entries`` into the ledger and make ``writes``, in one round trip when the
        ledger shares this server."""
        batched = self._batched(ledger)
        if batched is None:
            await ledger.update_all(entries)
            await self._write(writes)
            return
        pipe = self._redis.pipeline(transaction=False)
        if entries:
            batched.queue_merge(pipe, entries)
        self._queue_writes(pipe, writes)
        try:
            results = await self._batcher.execute(pipe)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        _raise_errors(results[1:] if entries else results)
        if entries:
            await batched.merge_result(entries, results[0])

    async def _write(self, writes: StoreWrites) -> None:
        pipe = self._redis.pipeline(transaction=False)
        self._queue_writes(pipe, writes)
        if len(pipe) == 0:
            return
        try:
            _raise_errors(await self._batcher.execute(pipe))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc

    def order_notices(self) -> OrderNotices:
        """Return this process's subscription to the worker's orders-document notices."""
        if self._notices is None:
            self._notices = OrderNotices(self._redis)
        return self._notices

    async def risk_facts(
        self, strategy_id: str, account_name: str, root: str, *, events: Events = ()
    ) -> tuple[bool, bool, bool, datetime | None]:
        """Return (global kill, strategy kill, account kill, last entry time) in one MGET,
        pipelined after ``events``."""
        return _risk_flags(
            await self._mget_after(events, risk_fact_keys(strategy_id, account_name, root))
        )

    async def link_orders(
        self,
        entries: Mapping[str, Mapping[str, Any]],
        stamp: tuple[str, str, datetime] | None,
        *,
        events: Events = (),
        expecting: tuple[int, int, str] | None = None,
    ) -> None:
        """Index client order ids to their signal, stamp the entry time, replace the
        expectation (account id, contract id, document) and publish ``events``, in one
        pipeline."""
        await self._write(
            StoreWrites(events=events, links=entries, stamp=stamp, expecting=expecting)
        )

    async def expectation(self, account_id: int, contract_id: int) -> str | None:
        """Return the stored expectation for one account and contract (None if none)."""
        try:
            raw = await self._redis.get(keys.expectation(account_id, contract_id))
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        return optional_text(raw)

    async def expect(self, account_id: int, contract_id: int, document: str) -> None:
        """Replace the expectation for one account and contract."""
        key = keys.expectation(account_id, contract_id)
        try:
            await self._redis.set(key, document, ex=keys.EXPECTATION_TTL_S)
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc

    async def record_intent(
        self, strategy_id: str, account: str, root: str, net_pos: int, signal_id: str, at: datetime
    ) -> None:
        """Remember the position the strategy intends, for the reconcile timer."""
        await self._redis.hset(*_intent(strategy_id, account, root, net_pos, signal_id, at))

    async def store_instructions(self, account_id: int, items: Mapping[str, str]) -> None:
        """Hand stop-management instructions (JSON per entry client order id) to the worker."""
        if items:
            mapping: dict[str | bytes, str | bytes] = {k: v for k, v in items.items()}
            await self._redis.hset(keys.management_instructions(account_id), mapping=mapping)  # type: ignore[arg-type]

    async def publish(self, event: str, payload: Mapping[str, Any]) -> None:
        """Publish an event on its channel; a dashboard missing it must not fail an order."""
        message = keys.event_message(event, payload, source="executor")
        pipe = self._redis.pipeline(transaction=False)
        pipe.publish(event, message)
        queue_feed(pipe, event, message)  # notifiable events also go to the feed, same trip
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            redis_unavailable(exc)  # counted; a dashboard missing an event must not fail an order
            return


class EventWake:
    """One fill wait's wake-up: set when the worker rewrites its account's orders.

    ``known`` answers from the settled entries the notices carried (kept per account by the
    process's subscription, so a notice that came before this wait began counts too), only
    those that arrived once the wait's orders had been sent: a notice from before cannot be
    about them, even were an order id ever seen again (a simulator reset reuses them);
    ``covered`` says the subscription was up, without a break, since before the wait's
    orders were sent, so an order missing from those entries has not settled yet as far as
    the notices tell. ``read_wanted`` is set by a notice that carried no entries (a worker
    of an older release): the waiter reads the document then.
    """

    def __init__(
        self,
        recent: Mapping[int, tuple[float, SettledOrder]] | None = None,
        *,
        covered: bool = False,
        since: float | None = None,
    ) -> None:
        self.event = asyncio.Event()
        self._recent = recent if recent is not None else {}
        self._since = since
        self.covered = covered
        self.read_wanted = False

    def known(self, order_ids: Iterable[int]) -> dict[int, SettledOrder]:
        """Return the entries the notices listed for ``order_ids`` (those settled), of the
        notices that arrived after the orders were sent (all, when that is not known)."""
        found: dict[int, SettledOrder] = {}
        for order_id in order_ids:
            held = self._recent.get(order_id)
            if held is not None and (self._since is None or held[0] >= self._since):
                found[order_id] = held[1]
        return found

    async def wait(self, timeout_s: float) -> bool:
        """Wait until a notice arrives (True) or ``timeout_s`` passes (False); re-arm."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout_s)
        except TimeoutError:
            return False
        self.event.clear()
        return True


# Settled entries kept per account from notices: far more than one signal's orders.
_RECENT_PER_ACCOUNT = 512


class OrderNotices:
    """Wake fill waits when the worker rewrites an account's orders document, and keep the
    settled entries its notices carry.

    One pub/sub connection per process, opened on the first wait and kept. Each notice names
    the account and the orders newly listed as settled (``worker.live_store.orders_notice``),
    published in the transaction that writes the document, so an entry from a notice is as
    good as one read from the document. A wait registers before its caller reads the cache,
    so a notice published between that read and the wait still wakes it. A lost connection
    is logged, ``up_since`` is cleared (the entries kept stay true, but absences no longer
    prove anything) and the next wait opens it again; a caller never waits on a notice
    longer than its own bound before it reads the cache anyway.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._waiters: dict[int, set[EventWake]] = {}
        # account -> order id -> (epoch s the notice arrived, the entry it carried)
        self._recent: dict[int, dict[int, tuple[float, SettledOrder]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.up_since: float | None = None  # epoch s the current subscription was confirmed

    @contextlib.asynccontextmanager
    async def watch(self, account_id: int, since: float | None = None) -> AsyncIterator[EventWake]:
        """Yield a wake-up for ``account_id``'s notices while the block runs; ``since``
        (epoch s) is when the awaited orders were first sent, if known."""
        await self._listening()
        up = self.up_since
        covered = up is not None and since is not None and up <= since
        recent = self._recent.setdefault(account_id, {})
        wake = EventWake(recent, covered=covered, since=since)
        self._waiters.setdefault(account_id, set()).add(wake)
        try:
            yield wake
        finally:
            waiting = self._waiters.get(account_id)
            if waiting is not None:
                waiting.discard(wake)
                if not waiting:
                    del self._waiters[account_id]

    async def aclose(self) -> None:
        """Drop the subscription (a later wait opens it again)."""
        task, self._task = self._task, None
        self.up_since = None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listening(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        subscribed: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self.up_since = None
        self._task = loop.create_task(self._listen(subscribed))
        try:
            # Bounded: a wait without notices still ends by its own bound.
            await asyncio.wait_for(asyncio.shield(subscribed), 0.5)
        except TimeoutError:
            log.info("orders notices not subscribed yet")

    async def _listen(self, subscribed: asyncio.Future[None]) -> None:
        # A connection pool of its own: closing the shared client's pool while this task
        # blocks reading its connection can hang (redis-py waits for the transport to close),
        # so the shared client never holds this connection and this task closes its own.
        shared = self._redis.connection_pool
        pool = aioredis.ConnectionPool(
            connection_class=shared.connection_class, **shared.connection_kwargs
        )
        client = aioredis.Redis(connection_pool=pool)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(ORDERS_NOTICE_CHANNEL)
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message.get("type") in ("subscribe", b"subscribe"):
                    self.up_since = time.time()
                    if not subscribed.done():
                        subscribed.set_result(None)
                elif message.get("type") in ("message", b"message"):
                    self._arrived(message.get("data"))
        except (RedisError, OSError) as exc:
            if not subscribed.done():
                subscribed.set_result(None)  # the waiters go on with their own bound
            log.info("orders notices connection lost: %s", type(exc).__name__)
        finally:
            self.up_since = None
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call] # redis-py leaves it unannotated
            with contextlib.suppress(RedisError, OSError):
                await client.aclose(close_connection_pool=True)

    def _arrived(self, data: Any) -> None:
        account_id, entries = _read_notice(optional_text(data) or "")
        if account_id is None:
            return
        if entries is not None:
            recent = self._recent.setdefault(account_id, {})
            arrived = time.time()
            for order_id, entry in entries.items():
                recent.pop(order_id, None)  # re-inserted: the newest stay last
                recent[order_id] = (arrived, entry)
            while len(recent) > _RECENT_PER_ACCOUNT:
                del recent[next(iter(recent))]  # the oldest first: dicts keep insertion order
        for wake in self._waiters.get(account_id, ()):
            if entries is None:
                wake.read_wanted = True
            wake.event.set()


def _read_notice(text: str) -> tuple[int | None, dict[int, SettledOrder] | None]:
    """Return a notice's account and settled entries (entries None: the notice carried none
    this reader understands, as an older worker's bare account id; the waiter reads)."""
    if text.isdigit():
        return int(text), None
    try:
        notice = json.loads(text)
        account_id = int(notice["account_id"])
    except (TypeError, ValueError, KeyError):
        return None, None
    try:
        return account_id, {int(e["order_id"]): settled_order(e) for e in notice["settled"]}
    except (TypeError, ValueError, KeyError, AttributeError):
        return account_id, None


def _risk_flags(values: Sequence[Any]) -> tuple[bool, bool, bool, datetime | None]:
    """Read (global kill, strategy kill, account kill, last entry time) from the four values
    of the kill-switch and last-order keys, in that order."""
    stamp = optional_text(values[3])
    return (
        values[0] is not None,
        values[1] is not None,
        values[2] is not None,
        datetime.fromisoformat(stamp) if stamp else None,
    )
