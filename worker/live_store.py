"""Write the worker's Redis side: live documents, liveness flags, quotes and pub/sub events.

Every write goes through here so Redis failures are counted once (``redis_errors`` metric)
and surface as ``DependencyUnavailable``; the caller keeps the affected accounts dirty and
the maintenance loop writes them again. Events are JSON ``{"type": <event>, "at": ..., ...}``
on the channel named like the event (``shared.redis_keys.EVENT_CHANNELS``); a lost event
never fails anything (pub/sub is fire and forget for dashboards).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.adapters.notify_feed import queue_feed
from shared.adapters.redis_exec import ORDERS_NOTICE_CHANNEL
from shared.domain.errors import DependencyUnavailable

logger = logging.getLogger(__name__)


_UNSEEN = object()


def _orders_account(key: str) -> str | None:
    # ``live:{account}:orders`` -> the account id; None for any other document.
    prefix, _, rest = key.partition(":")
    account, _, kind = rest.partition(":")
    if prefix != "live" or kind != "orders" or not account.isdigit():
        return None
    return account if key == keys.live_orders(int(account)) else None


def orders_notice(account_id: int, settled: Any, before: Any) -> str:
    """Return the notice for an orders document whose settled list is now ``settled``
    (``before`` when this process last wrote it): the account and the entries new to it."""
    known = (
        {e.get("order_id") for e in before if isinstance(e, dict)}
        if isinstance(before, list)
        else set()
    )
    new = (
        [e for e in settled if isinstance(e, dict) and e.get("order_id") not in known]
        if isinstance(settled, list)
        else []
    )
    return dumps({"account_id": account_id, "settled": new})


def dumps(document: Mapping[str, Any]) -> str:
    """Serialise a document compactly; decimals and times are already strings."""
    return json.dumps(document, separators=(",", ":"), default=str)


def _lost(events: list[tuple[str, Mapping[str, Any]]]) -> None:
    # Events ride on a write that failed (or on their own publish): say they are gone.
    if events:
        logger.warning("worker events were not published", extra={"count": len(events)})


class LiveStore:
    """Own the worker's Redis writes."""

    def __init__(
        self,
        redis: Redis,
        *,
        now: Callable[[], datetime],
        liveness_ttl_s: float,
        quote_ttl_s: float,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.redis = redis
        self._now = now
        self._liveness_ttl_ms = int(liveness_ttl_s * 1000)
        self._quote_ttl_ms = int(quote_ttl_s * 1000)
        self._on_error = on_error
        self._settled: dict[str, Any] = {}  # each orders document's last written settled list

    def _failed(self, what: str, exc: BaseException) -> DependencyUnavailable:
        if self._on_error is not None:
            self._on_error()
        return DependencyUnavailable(
            f"Redis {what} failed: {type(exc).__name__}", code="redis_unavailable"
        )

    async def write_documents(
        self,
        documents: Mapping[str, Mapping[str, Any]],
        events: Iterable[tuple[str, Mapping[str, Any]]] = (),
    ) -> None:
        """Replace several documents in one round trip, atomically: a reader that fetches an
        account's documents together (the executor's ``MGET``) never sees half a write. When
        an orders document's ``settled`` list changed since this process last wrote it, a
        notice goes out on ``ORDERS_NOTICE_CHANNEL`` in the same transaction: the account id
        and the entries newly listed (``orders_notice``), so a fill wait learns that its
        orders settled without reading the document. ``events`` (what the same changes
        mean, as ``publish`` sends them) go out in that transaction too, after the documents
        they describe: one round trip instead of two. If the write fails they are lost with
        it, as a failed ``publish`` loses them."""
        batch = list(events)
        if not documents:
            await self.publish(batch)
            return
        changed: dict[str, Any] = {}
        notices: list[str] = []
        for key, document in documents.items():
            account_id = _orders_account(key)
            settled = document.get("settled")
            if account_id is not None and self._settled.get(key, _UNSEEN) != settled:
                changed[key] = settled
                notices.append(orders_notice(int(account_id), settled, self._settled.get(key)))
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key, document in documents.items():
                    pipe.set(key, dumps(document))
                for notice in notices:
                    pipe.publish(ORDERS_NOTICE_CHANNEL, notice)
                self._queue_events(pipe, batch)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            _lost(batch)
            raise self._failed("document write", exc) from exc
        self._settled.update(changed)

    async def set_liveness(self, heartbeat: Mapping[str, Any], sync_state: str) -> None:
        """Refresh ``worker:heartbeat`` and ``worker:sync`` together, both expiring."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(keys.WORKER_HEARTBEAT, dumps(heartbeat), px=self._liveness_ttl_ms)
                pipe.set(keys.WORKER_SYNC_STATE, sync_state, px=self._liveness_ttl_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._failed("liveness write", exc) from exc

    async def clear_liveness(self) -> None:
        """Say at once that the cache must not be trusted (clean shutdown)."""
        try:
            await self.redis.set(keys.WORKER_SYNC_STATE, "stopped", px=self._liveness_ttl_ms)
            await self.redis.delete(keys.WORKER_HEARTBEAT)
        except (RedisError, OSError) as exc:
            raise self._failed("liveness clear", exc) from exc

    async def set_quotes(
        self,
        documents: Mapping[int, Mapping[str, Any]],
        events: Iterable[tuple[str, Mapping[str, Any]]] = (),
    ) -> None:
        """Store quote snapshots with their short TTL; ``events`` (``price.update``) go out
        in the same round trip, after them. If the write fails they are lost with it."""
        batch = list(events)
        if not documents:
            await self.publish(batch)
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for contract_id, document in documents.items():
                    pipe.set(keys.quote(contract_id), dumps(document), px=self._quote_ttl_ms)
                self._queue_events(pipe, batch)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            _lost(batch)
            raise self._failed("quote write", exc) from exc

    def _queue_events(self, pipe: Any, events: list[tuple[str, Mapping[str, Any]]]) -> None:
        """Add ``events`` to ``pipe``: each on its channel, the notifiable ones to the feed."""
        at = self._now().isoformat() if events else ""
        for name, payload in events:
            message = keys.event_message(name, payload, at=at)
            pipe.publish(name, message)
            queue_feed(pipe, name, message)

    async def publish(self, events: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Publish events on their channels (best effort: failures are logged, not raised)."""
        batch = list(events)
        if not batch:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                self._queue_events(pipe, batch)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("publish", exc)
            _lost(batch)
