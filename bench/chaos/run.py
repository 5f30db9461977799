"""Drive the real local stack through a chaos run and collect what it left behind.

The stack is ``local.stack.Stack`` (as ``python -m local.stack`` runs it, and as
``bench/execute.py`` assembles the same parts by hand): redis-server with its append-only
file (written before each reply, so a SIGKILL loses nothing acknowledged), Azurite, the
Tradovate simulator, the WebSocket worker, and two dev hosts, the webhook in one and the
executor (queue and timer functions) in the other.
The settings are the local stack's, with the chaos strategies and a shorter session lock
when asked (a killed executor's sessions wait one lock before they move on).

Order of a run: start the stack; post the alerts while the fault schedule runs; wait
(``drain_s`` at most) until every accepted signal has a final ledger outcome for every
account of its strategy and the queue is empty; clear the simulator's faults; read the
simulator's state, the ledger rows and the queue; stop the stack.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from bench.chaos.alerts import Alert, generate
from bench.chaos.faults import FaultInjector, schedule
from bench.chaos.invariants import FINAL
from bench.chaos.post import Posted, post_streams
from bench.chaos.strategies import SECRET, SECRET_ENV, STRATEGIES_TOML, chaos_book, lanes
from bench.common import SimAdmin, stack_args, stack_settings
from shared import redis_keys
from shared.adapters.local_queue import LocalQueue
from shared.adapters.redis_ledger import decode_hash, decode_row
from shared.config import read_local_settings
from shared.ports import LedgerEntry


@dataclass(frozen=True)
class Options:
    """What one chaos run does (the command line's flags)."""

    alerts: int = 1000
    seed: int = 1
    kills: int = 4
    redis_restarts: int = 1
    socket_drops: int = 3
    worker_kills: int = 0
    rest_faults: int | None = None  # None: one per 25 alerts, at least 4
    post_s: float | None = None  # None: 0.06 s per alert, at least 20 s
    drain_s: float = 180.0
    lock_s: int = 20  # the queue's session lock (QUEUE_LOCK_DURATION_S)
    kill_down_s: float = 0.5
    redis_down_s: float = 1.0
    latency_ms: float = 20.0  # added to every order request, so a kill often lands mid-order

    @property
    def rest_fault_count(self) -> int:
        """Return how many REST faults to inject."""
        return self.rest_faults if self.rest_faults is not None else max(4, self.alerts // 25)

    @property
    def post_span_s(self) -> float:
        """Return about how long the posting lasts."""
        return self.post_s if self.post_s is not None else max(20.0, 0.06 * self.alerts)


@dataclass
class Collected:
    """Everything a run produced, for the invariant checks."""

    streams: list[list[Alert]]
    posted: list[Posted]
    faults: Counter[str]
    state: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    roots: dict[int, str] = field(default_factory=dict)
    rows: list[LedgerEntry] = field(default_factory=list)
    queue: dict[str, int] = field(default_factory=dict)
    dead_letters: list[str] = field(default_factory=list)  # "message id: reason: description"
    drain_s: float = 0.0
    wall_s: float = 0.0


def expected_pairs(posted: list[Posted]) -> list[tuple[str, str]]:
    """Return (signal, account) for every alert the webhook named a signal id for."""
    accounts: dict[str, list[str]] = {}
    for lane in lanes(chaos_book()):
        accounts.setdefault(lane.strategy, []).append(lane.account)
    return [
        (p.signal_id, account)
        for p in posted
        if p.signal_id is not None
        for account in accounts[p.alert.strategy]
    ]


def _final_count(client: redis.Redis, pairs: list[tuple[str, str]]) -> int:
    pipe = client.pipeline(transaction=False)
    for signal_id, account in pairs:
        pipe.hget(redis_keys.ledger_signal(signal_id), f"exec:{account}")
    final = 0
    for (signal_id, account), raw in zip(pairs, pipe.execute(), strict=True):
        if raw is not None and decode_row(signal_id, f"exec:{account}", raw).status in FINAL:
            final += 1
    return final


async def _queue_counts(redis_url: str) -> dict[str, int]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        return await LocalQueue(client, "signals").counts()
    finally:
        await client.aclose()


async def _dead_letters(redis_url: str) -> list[str]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        letters = await LocalQueue(client, "signals").dead_letters()
    finally:
        await client.aclose()
    return [
        f"{d.message_id} after {d.delivery_count} deliveries: {d.reason}: {d.description[:300]}"
        for d in letters
    ]


def drain(redis_url: str, pairs: list[tuple[str, str]], timeout_s: float, stall_s: float) -> float:
    """Wait until every pair has a final outcome and the queue is empty; return the wait.

    Gives up early when the queue is empty and no outcome arrived for ``stall_s``: what is
    missing then will not come (a signal the webhook acknowledged but never enqueued).
    """
    started = progress_at = time.monotonic()
    client = redis.Redis.from_url(redis_url)
    final = -1
    try:
        while time.monotonic() - started < timeout_s:
            try:
                now_final = _final_count(client, pairs)
                counts = asyncio.run(_queue_counts(redis_url))
            except redis.RedisError:
                time.sleep(0.5)  # still restarting
                continue
            if now_final != final:
                final, progress_at = now_final, time.monotonic()
            idle = counts["active"] + counts["scheduled"] == 0
            if idle and (final == len(pairs) or time.monotonic() - progress_at > stall_s):
                break
            time.sleep(0.5)
    finally:
        client.close()
    return time.monotonic() - started


def read_rows(redis_url: str, signal_ids: set[str]) -> list[LedgerEntry]:
    """Return every ledger row of these signals from Redis's working copy."""
    client = redis.Redis.from_url(redis_url)
    try:
        pipe = client.pipeline(transaction=False)
        ordered = sorted(signal_ids)
        for signal_id in ordered:
            pipe.hgetall(redis_keys.ledger_signal(signal_id))
        rows: list[LedgerEntry] = []
        for signal_id, found in zip(ordered, pipe.execute(), strict=True):
            rows += decode_hash(signal_id, found.items())[0]
        return rows
    finally:
        client.close()


async def _drive(
    options: Options, streams: list[list[Alert]], injector: FaultInjector, url_of: Any
) -> list[Posted]:
    started = time.monotonic()
    planned = schedule(
        options.seed,
        options.post_span_s,
        kills=options.kills,
        redis_restarts=options.redis_restarts,
        socket_drops=options.socket_drops,
        rest=options.rest_fault_count,
        worker_kills=options.worker_kills,
    )
    faults = asyncio.create_task(injector.run(planned, started))
    posted = await post_streams(streams, url_of)
    await faults
    return posted


def _collect(collected: Collected, sim: SimAdmin, redis_url: str, options: Options) -> None:
    pairs = expected_pairs(collected.posted)
    # Budgets still unspent apply to the drain's orders too; then the simulator is left clean.
    stall_s = options.lock_s + 10.0  # a killed executor's sessions wait one lock
    collected.drain_s = drain(redis_url, pairs, options.drain_s, stall_s)
    sim.faults(clear=True)
    collected.state = sim.state()
    collected.stats = sim.stats()
    for root in sorted({lane.root for lane in lanes(chaos_book())}):
        for listed in sim.price(root).values():
            collected.roots[int(listed["contractId"])] = root
    ids = {p for posted in collected.posted for p in (*posted.accepted, *posted.duplicates)}
    collected.rows = read_rows(redis_url, ids)
    collected.queue = asyncio.run(_queue_counts(redis_url))
    collected.dead_letters = asyncio.run(_dead_letters(redis_url))


def run(options: Options) -> Collected:
    """Start the stack, run the alerts and the faults, drain, collect, stop."""
    from local.stack import Stack

    wall = time.monotonic()
    streams = generate(chaos_book(), options.seed, options.alerts, options.post_span_s)
    with tempfile.TemporaryDirectory(prefix="tradebridge-chaos-") as folder:
        strategies = Path(folder) / "strategies.chaos.toml"
        strategies.write_text(STRATEGIES_TOML, encoding="utf-8")
        settings = stack_settings(
            Path(folder),
            strategies,
            **{SECRET_ENV: SECRET},
            QUEUE_LOCK_DURATION_S=str(options.lock_s),
            LOG_LEVEL="WARNING",
        )
        key = read_local_settings(settings)["DEVHOST_FUNCTION_KEYS"].split(",")[0]
        stack = Stack(stack_args(settings))
        try:
            urls = stack.start()
            sim = SimAdmin.of_stack(urls)
            base = f"{urls['functions']}/api/webhook"
            sim.faults(latency_ms=options.latency_ms, latency_endpoint="order/*")
            injector = FaultInjector(
                stack, sim, down_s=options.kill_down_s, redis_down_s=options.redis_down_s
            )
            posted = asyncio.run(
                _drive(options, streams, injector, lambda s: f"{base}/{s}?code={key}")
            )
            collected = Collected(streams, posted, injector.done)
            _collect(collected, sim, str(urls["redis"]), options)
            sim.close()
        finally:
            stack.stop()
    collected.wall_s = time.monotonic() - wall
    return collected
