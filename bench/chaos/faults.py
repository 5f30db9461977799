"""Inject the chaos run's faults while the alerts flow, on a schedule drawn from the seed.

* ``kill``: SIGKILL the executor's dev host (the queue and timer functions), wait a moment,
  start it again; the sessions it held stay locked until their lock lapses, then their
  messages come back with a higher delivery count. The kill waits (up to 3 s) for the
  executor to announce orders it is about to send (``order.request``) and lands 0-30 ms
  later: between claim and placement, during the placement, or just after it.
* ``redis``: stop redis-server, alternately by SIGKILL (a crash) and SIGTERM, and start it
  again a second later on its port and append-only file; everything it acknowledged is
  replayed from the AOF. Meanwhile the webhook answers 503 and the executor's calls fail.
* ``drop``: cut every simulator WebSocket without a close frame (the worker reconnects).
* ``worker``: SIGKILL the WebSocket worker and start it again after ``worker_down_s`` (3 s by
  default: less than its heartbeat's 10 s life, so for a while the cache still reads
  ``synced`` while nothing updates it; the executor must not plan from what it no longer
  shows).
* ``5xx-before``: the next order or position request answers 500 without doing anything;
  ``5xx-after``: the next ``order/placeorder`` places the order, then answers 504 (the
  executor must find it by clOrdId rather than place it again); ``429``: the next two order
  requests are throttled; ``p-ticket``: the next placement earns a 0.5 s time penalty.

A steady latency on order requests (``Options.latency_ms``) runs underneath, so that an
executor kill often lands while an order is in flight. The REST faults are budgets the
simulator spends on the next matching requests; one is set only once the one before was
spent (or 5 s passed), and the counts reported come from the simulator's own counters.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import redis

from bench.common import SimAdmin
from local.services import ProcessGroup, RedisServer

FaultKind = Literal["kill", "redis", "drop", "worker", "5xx-before", "5xx-after", "429", "p-ticket"]
REST_FAULTS: tuple[FaultKind, ...] = ("5xx-before", "5xx-after", "429", "p-ticket")
_RESTARTS: frozenset[FaultKind] = frozenset({"kill", "redis", "worker"})
EXECUTOR = "functions-background"  # local.stack's name for the queue and timer dev host
WORKER = "worker"  # local.stack's name for the WebSocket worker

_REST_SETTINGS: dict[str, dict[str, Any]] = {
    "5xx-before": {"fail_next": 1, "error_mode": "before", "error_status": 500,
                   "error_endpoint": "order/*,position/*"},
    "5xx-after": {"fail_next": 1, "error_mode": "after", "error_status": 504,
                  "error_endpoint": "order/placeorder"},
    "429": {"throttle_next": 2, "throttle_status": 429, "throttle_endpoint": "order/*"},
    "p-ticket": {"pticket_next": 1, "pticket_time_s": 0.5,
                 "pticket_endpoint": "order/placeorder"},
}  # fmt: skip


def schedule(
    seed: int,
    span_s: float,
    *,
    kills: int,
    redis_restarts: int,
    socket_drops: int,
    rest: int,
    worker_kills: int = 0,
) -> list[tuple[float, FaultKind]]:
    """Spread the faults over ``span_s`` seconds in a seeded order, one slot each."""
    rng = random.Random(f"faults-{seed}")
    counts: tuple[tuple[FaultKind, int], ...] = (
        ("kill", kills),
        ("redis", redis_restarts),
        ("drop", socket_drops),
        ("worker", worker_kills),
    )
    kinds = [kind for kind, n in counts for _ in range(n)]
    kinds += [REST_FAULTS[i % len(REST_FAULTS)] for i in range(rest)]
    rng.shuffle(kinds)
    slot = 0.85 * span_s / max(1, len(kinds))
    return [(0.05 * span_s + slot * (i + rng.uniform(0.1, 0.9)), k) for i, k in enumerate(kinds)]


class FaultInjector:
    """Apply scheduled faults to a running stack and count what was done."""

    def __init__(
        self,
        stack: ProcessGroup,
        sim: SimAdmin,
        *,
        down_s: float = 0.5,
        redis_down_s: float = 1.0,
        worker_down_s: float = 3.0,
    ) -> None:
        self._stack = stack
        self._sim = sim
        self._down_s = down_s
        self._redis_down_s = redis_down_s
        self._worker_down_s = worker_down_s
        self._rng = random.Random(0)
        self.done: Counter[str] = Counter()

    def _when_busy(self, timeout_s: float = 3.0) -> None:
        """Return soon after the executor announces orders it is about to send."""
        client = redis.Redis.from_url(self._stack.service_of(RedisServer).url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call] # redis-py leaves it unannotated
        try:
            pubsub.subscribe("order.request")
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if pubsub.get_message(timeout=0.05) is not None:
                    self.done["kills mid-order"] += 1
                    time.sleep(self._rng.uniform(0.0, 0.03))
                    return
        finally:
            pubsub.close()
            client.close()

    def _kill(self) -> None:
        executor = self._stack.processes[EXECUTOR]
        self._when_busy()
        executor.kill()
        time.sleep(self._down_s)
        executor.start()

    def apply(self, kind: FaultKind) -> None:
        """Inject one fault now (blocking: a restart waits until the part answers again)."""
        if kind == "kill":
            self._kill()
        elif kind == "redis":
            redis_server = self._stack.service_of(RedisServer)
            redis_server.restart(hard=self.done["redis"] % 2 == 0, down_s=self._redis_down_s)
        elif kind == "drop":
            self.done["sockets dropped"] += self._sim.drop_sockets()
        elif kind == "worker":
            worker = self._stack.processes[WORKER]
            worker.kill()
            time.sleep(self._worker_down_s)
            worker.start()
        else:
            self._spent(timeout_s=5.0)
            self._sim.faults(**_REST_SETTINGS[kind])
        self.done[kind] += 1

    def _spent(self, timeout_s: float) -> None:
        """Wait (a while) until the budgets set before are spent: a new one replaces the
        old value rather than adding to it, and both 5xx modes share ``fail_next``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            live = self._sim.faults()
            if not any(live[name] for name in ("fail_next", "throttle_next", "pticket_next")):
                return
            time.sleep(0.05)

    async def _lane(self, planned: Sequence[tuple[float, FaultKind]], started: float) -> None:
        for at_s, kind in planned:
            await asyncio.sleep(max(0.0, started + at_s - time.monotonic()))
            await asyncio.to_thread(self.apply, kind)

    async def run(self, planned: Sequence[tuple[float, FaultKind]], started: float) -> None:
        """Apply each fault at its time after ``started`` (monotonic). Restarts take seconds,
        so they run in a lane of their own, one after another, and never hold up the quick
        faults (socket drops, REST budgets), which keep their times in the other lane."""
        slow = [(at_s, kind) for at_s, kind in planned if kind in _RESTARTS]
        quick = [(at_s, kind) for at_s, kind in planned if kind not in _RESTARTS]
        await asyncio.gather(self._lane(slow, started), self._lane(quick, started))
