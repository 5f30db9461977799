"""Drive the three designs with alerts and collect each order's moments.

Every design gets the same alerts and the same two ways of posting them: one at a time (the
next alert once the last one's orders are placed, over one kept-alive connection) and a
burst (every alert at once, one connection each). An order's latency is the moment its
placeorder answer reached the process that placed it, minus the moment its alert was posted
(one machine, one clock):

- Tradebridge: the executor's ``acked_at`` in the ledger's working copy in Redis; the
  ``order.placed`` event only says when to look (a listener would time it late);
- durable forwarder: ``acked`` as its queue function pushed it to ``bench.forwarding.RECORD_KEY``;
- direct forwarder: ``acked`` in its HTTP answer.

Each order also carries the moments its design stamps on the way (epoch seconds), under the
same names for all three where they mean the same: ``received`` (the webhook has the alert),
``enqueued`` (the queue's enqueued time: the local queue keeps it to the microsecond),
``delivered`` (the queue function, or the HTTP function, started), ``claimed`` (legs claimed
in the ledger), ``sent`` (the placeorder call started), ``acked`` (its answer read).
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.forwarding import RECORD_KEY
from shared.adapters.redis_ledger import RedisLedger

# The ledger's field for each moment (summary row: received..dequeued; leg row: the rest).
LEDGER_MOMENTS = {
    "received": "received_at",
    "enqueued": "enqueued_at",
    "delivered": "dequeued_at",
    "claimed": "claimed_at",
    "sent": "sent_at",
    "acked": "acked_at",
}


@dataclass(frozen=True, slots=True)
class Order:
    """One order: when its alert was posted and the moments it passed (epoch s)."""

    posted: float
    moments: Mapping[str, float]
    order_id: int | None = None

    @property
    def latency_s(self) -> float:
        """Return post → placeorder answered, in seconds."""
        return self.moments["acked"] - self.posted


# The load generator shares the machine with the designs, so it posts with aiohttp: about a
# quarter of httpx's CPU per request, leaving more of the two cores to the designs measured.
_TIMEOUT = aiohttp.ClientTimeout(total=60)


async def _post(
    session: aiohttp.ClientSession, url: str, alert: Mapping[str, Any]
) -> tuple[float, Any]:
    posted = time.time()
    async with session.post(url, json=dict(alert)) as response:
        body = await response.read()
        if response.status not in (200, 202):
            raise RuntimeError(f"{url.split('?')[0]} answered {response.status}: {body!r}")
    return posted, json.loads(body)


async def post_burst(url: str, alerts: Sequence[Mapping[str, Any]]) -> list[tuple[float, Any]]:
    """Post every alert at once, one connection each; return (post time, answer) per alert."""
    connector = aiohttp.TCPConnector(limit=len(alerts))
    async with aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT) as session:
        return list(await asyncio.gather(*(_post(session, url, a) for a in alerts)))


class Design(ABC):
    """One design under test: an URL that takes alerts and a way to learn its orders."""

    name = ""
    orders_per_alert = 2

    def __init__(self, url: str) -> None:
        self.url = url
        self._session: aiohttp.ClientSession | None = None  # made in the loop that posts

    def _kept_alive(self) -> aiohttp.ClientSession:
        """Return the one kept-alive connection's session the alerts one at a time go on."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=1)
            self._session = aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT)
        return self._session

    async def start(self) -> None:  # noqa: B027 - most designs have nothing to prepare
        """Prepare to collect orders (before the first alert)."""

    async def one_at_a_time(self, alerts: Sequence[Mapping[str, Any]]) -> list[Order]:
        """Post each alert once the previous one's orders are placed."""
        orders: list[Order] = []
        for alert in alerts:
            posted, answer = await _post(self._kept_alive(), self.url, alert)
            key = self._key(alert, answer)
            orders += await self._orders({key: posted}, {key: answer})
        return orders

    async def burst(self, alerts: Sequence[Mapping[str, Any]]) -> list[Order]:
        """Post every alert at once; return their orders once all are placed."""
        sent = await post_burst(self.url, alerts)
        keys = [self._key(alert, answer) for alert, (_, answer) in zip(alerts, sent, strict=True)]
        return await self._orders(
            {k: at for k, (at, _) in zip(keys, sent, strict=True)},
            {k: answer for k, (_, answer) in zip(keys, sent, strict=True)},
        )

    def _key(self, alert: Mapping[str, Any], answer: Any) -> str:
        return str(answer["id"])

    @abstractmethod
    async def _orders(self, posted: dict[str, float], answers: dict[str, Any]) -> list[Order]:
        """Return the orders of the alerts posted (key → post time, key → answer body)."""

    async def aclose(self) -> None:
        """Close the design's clients."""
        if self._session is not None:
            await self._session.close()


class Tradebridge(Design):
    """The webhook, the local queue and the executor, as deployed."""

    name = "tradebridge"

    def __init__(self, url: str, redis_url: str) -> None:
        super().__init__(url)
        self._redis = aioredis.Redis.from_url(redis_url)
        self._ledger = RedisLedger(self._redis, ttl_s=3600)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._placed: dict[str, int] = {}

    async def start(self) -> None:
        """Listen for ``order.placed`` before the first alert."""
        await self._pubsub.subscribe("order.placed")

    async def _wait_placed(self, signal_ids: set[str], timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while any(self._placed.get(s, 0) < self.orders_per_alert for s in signal_ids):
            if time.monotonic() > deadline:
                raise RuntimeError("Tradebridge did not place every order in time")
            message = await self._pubsub.get_message(timeout=1.0)
            if message is not None:
                event = json.loads(message["data"])
                if event.get("source") == "executor":  # the worker announces orders too
                    sid = str(event["signal_id"])
                    self._placed[sid] = self._placed.get(sid, 0) + 1

    async def _orders(self, posted: dict[str, float], answers: dict[str, Any]) -> list[Order]:
        await self._wait_placed(set(posted))
        orders = []
        for signal_id, at in posted.items():
            orders += await self._read(signal_id, at)
        return orders

    async def _read(self, signal_id: str, posted: float, timeout_s: float = 10) -> list[Order]:
        """Read a signal's answered orders from the ledger; the answers are recorded just
        after the event, so wait (briefly) until every order has its ``acked_at``."""
        deadline = time.monotonic() + timeout_s
        while True:
            orders = ledger_orders(await self._ledger.rows(signal_id), posted)
            if len(orders) >= self.orders_per_alert:
                return orders
            if time.monotonic() > deadline:
                raise RuntimeError(f"signal {signal_id}: only {len(orders)} orders answered")
            await asyncio.sleep(0.02)

    async def aclose(self) -> None:
        """Close the HTTP client and the Redis connections."""
        await super().aclose()
        await self._pubsub.aclose()
        await self._redis.aclose()


def ledger_orders(rows: Sequence[Any], posted: float) -> list[Order]:
    """Return a signal's answered orders from its ledger rows (``LedgerEntry``): each leg's
    moments joined with its account's summary row; legs not yet answered are left out."""
    summaries = {
        r.row_key.removeprefix("exec:"): r.fields for r in rows if r.row_key.startswith("exec:")
    }
    orders = []
    for row in rows:
        if row.row_key.startswith("exec:"):
            continue
        fields = {**summaries.get(str(row.fields.get("account")), {}), **row.fields}
        moments = {
            name: value.timestamp()
            for name, column in LEDGER_MOMENTS.items()
            if isinstance(value := fields.get(column), datetime)
        }
        if "acked" in moments:
            order_id = fields.get("order_id")
            orders.append(Order(posted, moments, order_id if isinstance(order_id, int) else None))
    return orders


class DurableForwarder(Design):
    """Tradebridge's webhook and local queue, then a function that only places the order."""

    name = "durable"

    def __init__(self, url: str, redis_url: str) -> None:
        super().__init__(url)
        self._redis = aioredis.Redis.from_url(redis_url)

    async def start(self) -> None:
        """Forget records of an earlier run."""
        await self._redis.delete(RECORD_KEY)

    async def _orders(self, posted: dict[str, float], answers: dict[str, Any]) -> list[Order]:
        wanted = self.orders_per_alert * len(posted)
        orders: list[Order] = []
        deadline = time.monotonic() + 120
        while len(orders) < wanted:
            popped = await self._redis.blpop([RECORD_KEY], timeout=1)
            if popped is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("the durable forwarder did not place every order in time")
                continue
            record = json.loads(popped[1])
            if record["signal_id"] not in posted:
                raise RuntimeError(f"an order of an alert not posted now: {record['signal_id']}")
            orders.append(forwarded_order(record, posted[record["signal_id"]]))
        return orders

    async def aclose(self) -> None:
        """Close the HTTP client and the Redis connection."""
        await super().aclose()
        await self._redis.aclose()


def forwarded_order(record: Mapping[str, Any], posted: float) -> Order:
    """Return the order a forwarder recorded (``bench.forwarding.Placed`` fields)."""
    moments = {
        "delivered": float(record["started"]),
        "sent": float(record["sent"]),
        "acked": float(record["acked"]),
    }
    if record.get("enqueued") is not None:
        moments["enqueued"] = float(record["enqueued"])
    order_id = record.get("order_id")
    return Order(posted, moments, order_id if isinstance(order_id, int) else None)


class DirectForwarder(Design):
    """An HTTP function that places the alert's orders and answers."""

    name = "direct"

    def _key(self, alert: Mapping[str, Any], answer: Any) -> str:
        return str(alert["alert_id"])

    async def _orders(self, posted: dict[str, float], answers: dict[str, Any]) -> list[Order]:
        return [
            forwarded_order(record, posted[key])
            for key, answer in answers.items()
            for record in answer["orders"]
        ]
