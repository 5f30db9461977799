"""The executor's view of Redis: kill switches, cooldown stamps, quotes, indexes, events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.adapters.redis_errors import redis_unavailable
from shared.adapters.redis_replies import optional_text
from shared.ports import Events


def _queue_events(pipe: Any, events: Events) -> None:
    for event, payload in events:
        pipe.publish(event, keys.event_message(event, payload, source="executor"))


class RedisExecutionStore:
    """Read and write the small shared facts the executor needs, one round trip where possible."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def risk_facts(
        self, strategy_id: str, account_name: str, root: str, *, events: Events = ()
    ) -> tuple[bool, bool, bool, datetime | None]:
        """Return (global kill, strategy kill, account kill, last entry time) in one MGET,
        pipelined after ``events``."""
        pipe = self._redis.pipeline(transaction=False)
        _queue_events(pipe, events)
        pipe.mget(
            keys.KILL_GLOBAL,
            keys.kill_strategy(strategy_id),
            keys.kill_account(account_name),
            keys.last_order(account_name, root),
        )
        try:
            values = (await pipe.execute(raise_on_error=False))[-1]
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc
        if isinstance(values, Exception):
            raise redis_unavailable(values) from values
        stamp = optional_text(values[3])
        return (
            values[0] is not None,
            values[1] is not None,
            values[2] is not None,
            datetime.fromisoformat(stamp) if stamp else None,
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
        pipe = self._redis.pipeline(transaction=False)
        _queue_events(pipe, events)
        for cl_ord_id, info in entries.items():
            pipe.set(keys.cl_ord_index(cl_ord_id), json.dumps(info), ex=keys.CL_ORD_INDEX_TTL_S)
        if stamp is not None:
            account, root, at = stamp
            pipe.set(keys.last_order(account, root), at.isoformat(), ex=86_400)
        if expecting is not None:
            account_id, contract_id, document = expecting
            key = keys.expectation(account_id, contract_id)
            pipe.set(key, document, ex=keys.EXPECTATION_TTL_S)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            raise redis_unavailable(exc) from exc

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
        value = json.dumps({"net_pos": net_pos, "signal_id": signal_id, "at": at.isoformat()})
        await self._redis.hset(keys.intended_positions(strategy_id), f"{account}:{root}", value)

    async def store_instructions(self, account_id: int, items: Mapping[str, str]) -> None:
        """Hand stop-management instructions (JSON per entry client order id) to the worker."""
        if items:
            mapping: dict[str | bytes, str | bytes] = {k: v for k, v in items.items()}
            await self._redis.hset(keys.management_instructions(account_id), mapping=mapping)  # type: ignore[arg-type]

    async def publish(self, event: str, payload: Mapping[str, Any]) -> None:
        """Publish an event on its channel; a dashboard missing it must not fail an order."""
        message = keys.event_message(event, payload, source="executor")
        try:
            await self._redis.publish(event, message)
        except (RedisError, OSError) as exc:
            redis_unavailable(exc)  # counted; a dashboard missing an event must not fail an order
            return
