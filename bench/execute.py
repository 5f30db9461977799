"""Measure signal → order through the whole local system, beside two forwarders, in one run.

Run: ``.venv/bin/python -m bench.execute [--quick] [--alerts N] [--json FILE]``
(``python -m bench`` runs it with the other measurements and judges the targets). Three
designs take the same alerts (``bench.designs`` says how each order is timed), each on its
own accounts of one simulator:

- **Tradebridge**: the webhook's dev host → the local queue (Redis, the Service Bus
  stand-in) → the executor's dev host (its queue function alone; the timers in a dev host
  of their own, as Flex Consumption scales them apart), with the worker keeping its cache;
- **durable forwarder**: the same webhook in its own dev host → the same local queue →
  a bench-only queue function in a dev host that places each message's order at once
  (``bench/forwarders``): the design's durable hop and nothing else;
- **direct forwarder**: a dev host whose HTTP function places the alert's orders at once.

Alerts go over 10 instruments, each fanned out to 2 accounts (20 sessions): one at a time,
in blocks that rotate the designs so a busy moment of the machine falls on all three, then
bursts of 100 alerts (200 orders), also rotated, each after a pause for the last one's
aftermath (fills streamed, ledger mirrored) to settle. Tradovate requests are counted at the
simulator around each design's blocks. Then, with the timed hosts stopped: Tradebridge's
first alert on cold dev hosts (``cold_first_alert``) and, on a fresh executor host behind a
counting proxy, its Redis round trips per order (``bench.redis_rounds``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlparse

import redis

from bench import rig as rigging
from bench.common import SimAdmin, print_table, summary_ms
from bench.designs import Design, DirectForwarder, DurableForwarder, Order, Tradebridge
from bench.redis_rounds import RoundTripProxy, per_order, tally
from local.services import ReadyLineProcess

DESIGNS = ("tradebridge", "durable", "direct")
# Stages: (name, from moment, to moment); an order lacking either moment has no sample.
STAGES = (
    ("http_in", "posted", "received"),
    ("webhook_to_enqueued", "received", "enqueued"),
    ("enqueued_to_delivery", "enqueued", "delivered"),
    ("delivery_to_claimed", "delivered", "claimed"),
    ("executor_own", "delivered", "sent"),
    ("broker", "sent", "acked"),
    ("post_to_delivery", "posted", "delivered"),
)


@dataclass(frozen=True)
class Options:
    """How much to measure; ``QUICK`` is the short run."""

    single: int = 400  # alerts per design, one at a time (800 orders: a p99 is the 8th slowest)
    rounds: int = 8  # blocks per design; the designs' order rotates each block
    bursts: int = 3  # bursts per design
    burst_alerts: int = 100
    cold_runs: int = 3
    counted: int = 20  # alerts in the Redis counting pass
    alone: int = 100  # rounds timed in this process: one delivery alone, then two at once
    settle_s: float = 3.0  # pause before each burst


QUICK = Options(single=40, rounds=4, bursts=1, cold_runs=1, counted=10, alone=30)


def stage_samples(orders: Sequence[Order]) -> dict[str, list[float]]:
    """Return each stage's durations (s) over the orders that carry both its moments."""
    samples: dict[str, list[float]] = {}
    for name, start, end in STAGES:
        values = []
        for order in orders:
            moments = {**order.moments, "posted": order.posted}
            if start in moments and end in moments:
                values.append(moments[end] - moments[start])
        if values:
            samples[name] = values
    return samples


def _rotated(items: Sequence[Design], by: int) -> list[Design]:
    shift = by % len(items)
    return [*items[shift:], *items[:shift]]


def _alerts(count: int, tag: str) -> list[dict[str, object]]:
    return [
        rigging.alert(rigging.ROOTS[i % len(rigging.ROOTS)], f"{tag}-{i}") for i in range(count)
    ]


class RoundTripProbe:
    """Time one Redis ``PING`` every 10 ms, from a thread of its own, while Tradebridge's
    one-at-a-time blocks run: what a single round trip to the same server costs on the same
    machine at the same moments. The executor's own time holds at least two of them (the
    facts' read, then the claim, which depends on the plan made from it)."""

    def __init__(self, redis_url: str) -> None:
        self._redis = redis.Redis.from_url(redis_url)
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            started = time.perf_counter()
            self._redis.ping()
            self.samples.append(time.perf_counter() - started)

    def start(self) -> None:
        """Start sampling (in the background)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def close(self) -> None:
        """Close the connection."""
        self._redis.close()


class RequestCounter:
    """Count the simulator's requests by design, reset before and read after each block."""

    def __init__(self, sim: SimAdmin) -> None:
        self._sim = sim
        self.requests: dict[str, Counter[str]] = {d: Counter() for d in DESIGNS}
        self.orders: Counter[str] = Counter()

    def reset(self) -> None:
        """Zero the simulator's counters."""
        self._sim.reset_stats()

    def add(self, design: str, orders: int) -> None:
        """Charge the requests since the reset to ``design``'s ``orders``."""
        self.requests[design].update(self._sim.stats()["requests"])
        self.orders[design] += orders

    def per_order(self, design: str) -> float:
        """Return requests per order for ``design``."""
        return sum(self.requests[design].values()) / max(1, self.orders[design])


async def _timed(
    designs: Sequence[Design], sim: SimAdmin, options: Options, probe: RoundTripProbe
) -> dict[str, Any]:
    """Warm every design, then run the rotated one-at-a-time blocks and bursts (the probe
    samples during Tradebridge's one-at-a-time blocks)."""
    for design in designs:
        await design.start()
        await design.burst(_alerts(len(rigging.ROOTS), f"warm-{design.name}-{time.time_ns()}"))
    await asyncio.sleep(1.0)
    counter = RequestCounter(sim)
    single: dict[str, list[Order]] = {d.name: [] for d in designs}
    bursts: dict[str, list[list[Order]]] = {d.name: [] for d in designs}
    block = math.ceil(options.single / options.rounds)
    for number in range(options.rounds):
        for design in _rotated(designs, number):
            alerts = _alerts(block, f"{design.name}-{number}-{time.time_ns()}")
            counter.reset()
            if design.name == "tradebridge":
                probe.start()
            try:
                orders = await design.one_at_a_time(alerts)
            finally:
                probe.stop()
            counter.add(design.name, len(orders))
            single[design.name] += orders
            await asyncio.sleep(0.2)
    for number in range(options.bursts):
        for design in _rotated(designs, number):
            await asyncio.sleep(options.settle_s)
            alerts = _alerts(options.burst_alerts, f"burst-{design.name}-{number}-{time.time_ns()}")
            counter.reset()
            orders = await design.burst(alerts)
            counter.add(design.name, len(orders))
            bursts[design.name].append(orders)
    return {"single": single, "bursts": bursts, "requests": counter}


def _start_all(processes: Sequence[ReadyLineProcess]) -> list[dict[str, object]]:
    """Start processes side by side (each waits for its ready line) and return the lines."""
    with ThreadPoolExecutor(len(processes)) as pool:
        return list(pool.map(lambda p: p.start(), processes))


def _sim_stamps(sim: SimAdmin) -> dict[int, float]:
    """Return each order's arrival at the simulator as it stamped it (to the millisecond)."""
    return {
        int(o["id"]): datetime.fromisoformat(str(o["timestamp"]).replace("Z", "+00:00")).timestamp()
        for o in sim.state()["orders"]
    }


def measure_designs(rig: rigging.Rig, options: Options) -> tuple[dict[str, Any], list[float]]:
    """Start the three designs' processes, run the timed part, stop Tradebridge's hosts;
    return each design's results and the probe's round trips (s)."""
    tb_env = rig.tradebridge_env()
    worker = rig.process(
        [sys.executable, "-m", "worker", "--host", "127.0.0.1", "--port", "0"], **tb_env
    )
    worker.start()  # first: it signs in and fills the cache the executor reads
    hosts = {
        "tradebridge": rig.process(rigging.devhost_command("http"), **tb_env),
        # As in Flex Consumption, where every function but HTTP's scales on instances of its
        # own: the executor's host runs the queue function alone, the timers run beside it.
        "executor": rig.process(rigging.devhost_command("queue"), **tb_env),
        "timers": rig.process(rigging.devhost_command("timer"), **tb_env),
        "durable": rig.process(rigging.devhost_command("http"), **rig.durable_env()),
        "consumer": rig.process(
            rigging.devhost_command("queue", rigging.FORWARDERS_APP), **rig.durable_env()
        ),
        "direct": rig.process(rigging.devhost_command("http", rigging.FORWARDERS_APP)),
    }
    ready = dict(zip(hosts, _start_all(list(hosts.values())), strict=True))
    code = f"?code={rigging.KEY}"
    designs: list[Design] = [
        Tradebridge(
            f"{ready['tradebridge']['functions']}/api/webhook/{rigging.TRADEBRIDGE_STRATEGY}{code}",
            rig.redis_url,
        ),
        DurableForwarder(
            f"{ready['durable']['functions']}/api/webhook/{rigging.DURABLE_STRATEGY}{code}",
            rig.redis_url,
        ),
        DirectForwarder(
            f"{ready['direct']['functions']}/api/forward/{rigging.DIRECT_STRATEGY}{code}"
        ),
    ]

    probe = RoundTripProbe(rig.redis_url)

    async def run() -> dict[str, Any]:
        try:
            return await _timed(designs, rig.sim, options, probe)
        finally:
            for design in designs:
                await design.aclose()

    try:
        timed = asyncio.run(run())
    finally:
        probe.close()
    stamps = _sim_stamps(rig.sim)
    for name in ("tradebridge", "executor", "timers"):
        hosts[name].stop()
    return _design_results(timed, stamps), probe.samples


def _design_results(timed: Mapping[str, Any], stamps: Mapping[int, float]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in DESIGNS:
        single: list[Order] = timed["single"][name]
        runs: list[list[Order]] = timed["bursts"][name]
        burst = [o for run in runs for o in run]
        at_sim = [
            stamps[o.order_id] - o.posted
            for o in single
            if o.order_id is not None and o.order_id in stamps
        ]
        results[name] = {
            "one_at_a_time": [o.latency_s for o in single],
            "burst": [o.latency_s for o in burst],
            "burst_p99_by_run": [summary_ms([o.latency_s for o in run])["p99"] for run in runs],
            "burst_last_order": [max(o.latency_s for o in run) for run in runs],
            "stages": stage_samples(single),
            "burst_stages": stage_samples(burst),
            "post_to_sim_stamp": at_sim,
            "tradovate_requests_per_order": timed["requests"].per_order(name),
            "tradovate_requests": dict(timed["requests"].requests[name]),
            "orders_one_at_a_time": len(single),
            "orders_burst": len(burst),
        }
    return results


def cold_first_alert(rig: rigging.Rig, runs: int) -> list[dict[str, float]]:
    """Start Tradebridge's webhook and executor hosts afresh, post one alert as soon as both
    are ready, and time its first order; ``runs`` times, each on new processes."""
    results = []
    for number in range(runs):
        tb_env = rig.tradebridge_env()
        hook = rig.process(rigging.devhost_command("http"), **tb_env)
        executor = rig.process(rigging.devhost_command("queue"), **tb_env)
        spawned = time.time()
        ready = _start_all([hook, executor])
        both_ready = time.time()
        url = (
            f"{ready[0]['functions']}/api/webhook/{rigging.TRADEBRIDGE_STRATEGY}?code={rigging.KEY}"
        )

        async def first(url: str = url, number: int = number) -> list[Order]:
            design = Tradebridge(url, rig.redis_url)
            try:
                await design.start()
                return await design.one_at_a_time(_alerts(1, f"cold-{number}-{time.time_ns()}"))
            finally:
                await design.aclose()

        orders = asyncio.run(first())
        first_acked = min(o.moments["acked"] for o in orders)
        results.append(
            {
                "start_to_ready_s": both_ready - spawned,
                "start_to_first_order_s": first_acked - spawned,
                "request_to_first_order_s": first_acked - orders[0].posted,
            }
        )
        hook.stop()
        executor.stop()
    return results


def count_redis(rig: rigging.Rig, counted: int) -> dict[str, Any]:
    """Count the executor's Redis round trips per order behind ``RoundTripProxy``: a fresh
    webhook host, and an executor host (queue functions only, so no timer runs inside the
    count) whose ``REDIS_URL`` is the proxy; warmed with one alert per instrument first."""
    upstream = urlparse(rig.redis_url)
    proxy = RoundTripProxy(upstream.hostname or "127.0.0.1", upstream.port or 6379)
    proxied = f"redis://127.0.0.1:{proxy.start()}/0"
    tb_env = rig.tradebridge_env()
    hook = rig.process(rigging.devhost_command("http"), **tb_env)
    executor = rig.process(rigging.devhost_command("queue"), **{**tb_env, "REDIS_URL": proxied})
    ready = _start_all([hook, executor])
    url = f"{ready[0]['functions']}/api/webhook/{rigging.TRADEBRIDGE_STRATEGY}?code={rigging.KEY}"

    async def run() -> tuple[float, float, list[tuple[float, float]], int]:
        design = Tradebridge(url, rig.redis_url)
        try:
            await design.start()
            await design.one_at_a_time(_alerts(len(rigging.ROOTS), f"count-warm-{time.time_ns()}"))
            await asyncio.sleep(0.5)  # the warm-up's last record and completion
            since = time.time()
            windows, orders = [], 0
            for alert in _alerts(counted, f"count-{time.time_ns()}"):
                placed = await design.one_at_a_time([alert])
                windows.append((placed[0].posted, max(o.moments["acked"] for o in placed)))
                orders += len(placed)
            await asyncio.sleep(0.5)  # the last alert's record and completion
            return since, time.time(), windows, orders
        finally:
            await design.aclose()

    try:
        since, until, windows, orders = asyncio.run(run())
        trips = proxy.trips(since, until)
    finally:
        hook.stop()
        executor.stop()
        proxy.stop()
    return {**per_order(trips, windows, orders), "orders": orders, "breakdown": tally(trips)}


def executor_alone(
    rig: rigging.Rig, deliveries: int
) -> tuple[list[float], list[float], list[float]]:
    """Time the executor's own work (delivery start → Tradovate call, as the ledger stamps it)
    in this process, with the worker, Redis and the simulator of the rig and no dev host or
    queue beside it, in alternating rounds: one delivery alone, then an alert's two deliveries
    (both accounts) started together, as the dev host starts them. Returns seconds (alone,
    each delivery of the pairs, and the CPU time this thread spent on each delivery alone up
    to its first Tradovate request), warm-up left out."""
    saved = dict(os.environ)
    os.environ.update({**rig.env, **rig.tradebridge_env()})
    try:
        return asyncio.run(_executor_alone(deliveries))
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def _executor_alone(deliveries: int) -> tuple[list[float], list[float], list[float]]:
    from decimal import Decimal

    from shared.config import Settings
    from shared.container import Container
    from shared.domain.alerts import parse_alert
    from shared.domain.planning.model import is_leg_of
    from shared.services.envelope import Envelope
    from shared.services.execute import Delivery

    container = Container(Settings())
    executor = container.executor
    # The thread's CPU clock at each order request: against the clock at the delivery's
    # start, it tells how much of a delivery's own time is this process's work (the rest
    # is waiting for Redis). Instance attributes shadow the client's methods.
    requested: list[float] = []
    rest: Any = container.tradovate.rest
    for name in ("place_order", "place_bracket"):
        setattr(rest, name, _cpu_stamped(getattr(rest, name), requested))
    warm = len(rigging.ROOTS)
    alone: list[float] = []
    paired: list[float] = []
    alone_cpu: list[float] = []
    try:
        for n in range(warm + 2 * deliveries):
            alert = rigging.alert(rigging.ROOTS[n % len(rigging.ROOTS)], f"alone-{n}")
            signal_id = f"{time.time_ns():032x}"[-32:]
            signal = parse_alert(json.dumps(alert)).signal
            accounts = rigging.TRADEBRIDGE_ACCOUNTS[: 2 if n % 2 else 1]
            envelopes = [
                Envelope(
                    signal_id=signal_id,
                    strategy_id=rigging.TRADEBRIDGE_STRATEGY,
                    account=name,
                    account_id=ident,
                    multiplier=Decimal(1),
                    alert_format="native",
                    received_at=datetime.now(UTC),
                    correlation_id=signal_id,
                    signal=signal,
                )
                for ident, name in accounts
            ]
            requested.clear()
            started_cpu = time.thread_time()
            await asyncio.gather(
                *(executor.execute(Delivery(e, f"{signal_id}:{e.account}", 1)) for e in envelopes)
            )
            if n >= warm and len(envelopes) == 1 and requested:
                alone_cpu.append(requested[0] - started_cpu)
            rows = await container.ledger.rows(signal_id)
            for envelope in envelopes if n >= warm else ():
                summary = next(r for r in rows if r.row_key == f"exec:{envelope.account}")
                sent = min(
                    r.fields["sent_at"]
                    for r in rows
                    if is_leg_of(r.row_key, signal_id, envelope.account)
                )
                own = (sent - summary.fields["dequeued_at"]).total_seconds()
                (paired if len(envelopes) > 1 else alone).append(own)
            await asyncio.sleep(0.02)  # the next alert comes after this one's aftermath
    finally:
        await container.aclose()
    return alone, paired, alone_cpu


def _cpu_stamped(call: Any, stamps: list[float]) -> Any:
    async def stamped(*args: Any, **kwargs: Any) -> Any:
        stamps.append(time.thread_time())
        return await call(*args, **kwargs)

    return stamped


# The floor's claim does what the ledger's claim does (refuse when a row exists, else write
# the rows and a TTL) on a bench key of its own, so the real ledger, its mirror to Table
# storage and the executor's expectations are left untouched.
_FLOOR_CLAIM = """
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then return 0 end
end
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], 600)
return 1
"""


def round_trip_floor(rig: rigging.Rig, deliveries: int) -> tuple[list[float], list[float]]:
    """Time the executor's two Redis round trips before a Tradovate call with no work between
    or around them, in this process against the rig's Redis (the worker still running):
    the pipelined event and ``MGET`` of the eleven keys a plan reads, then a claim script
    with the writes that precede the call, with payloads of the sizes Tradebridge sends.
    Alternating rounds as in ``executor_alone``: one alone, then two started together, whose
    round trips go out together as the executor's do (``PipelineBatcher``). Returns seconds
    (alone, and each of the pairs). No implementation of this design with redis-py spends
    less on its round trips here; the rest of the executor's own time is its work."""
    return asyncio.run(_round_trip_floor(rig.redis_url, deliveries))


async def _round_trip_floor(redis_url: str, deliveries: int) -> tuple[list[float], list[float]]:
    import redis.asyncio as aioredis

    from shared import redis_keys as keys
    from shared.adapters.redis_batch import PipelineBatcher
    from shared.adapters.redis_exec import plan_fact_keys

    client = aioredis.from_url(redis_url)
    batcher = PipelineBatcher(client)
    try:
        claim = await client.script_load(_FLOOR_CLAIM)
        quotes = [k async for k in client.scan_iter(match=keys.QUOTE_PREFIX + "*")]
        contract_id = int(quotes[0].decode().rsplit(":", 1)[1]) if quotes else 0
        ident, name = rigging.TRADEBRIDGE_ACCOUNTS[0]
        facts = plan_fact_keys(
            ident, contract_id, rigging.TRADEBRIDGE_STRATEGY, name, rigging.ROOTS[0]
        )
        # Sizes as Tradebridge's own: the trade.signal event, the summary row with its plan
        # and basis, one leg row, the clOrdId link, the entry stamp, the expectation and the
        # order.request event.
        event, summary, leg, link, stamp, expected, request = (
            "e" * 300, "s" * 1500, "l" * 400, "c" * 150, "t" * 32, "x" * 300, "r" * 400
        )  # fmt: skip

        async def one(tag: str) -> float:
            started = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            pipe.publish("bench:floor:events", event)
            pipe.mget(*facts)
            await batcher.execute(pipe)
            pipe = client.pipeline(transaction=False)
            pipe.evalsha(claim, 1, f"bench:floor:{tag}", "exec", summary, "leg", leg)
            pipe.set(f"bench:floor:link:{tag}", link, ex=600)
            pipe.set("bench:floor:stamp", stamp, ex=600)
            pipe.set("bench:floor:expected", expected, ex=600)
            pipe.publish("bench:floor:events", request)
            await batcher.execute(pipe)
            return time.perf_counter() - started

        warm = len(rigging.ROOTS)
        alone: list[float] = []
        paired: list[float] = []
        for n in range(warm + 2 * deliveries):
            tag = f"{time.time_ns():x}"
            took = await asyncio.gather(*(one(f"{tag}:{k}") for k in range(1 + n % 2)))
            if n >= warm:
                (paired if len(took) > 1 else alone).extend(took)
            await asyncio.sleep(0.02)
        return alone, paired
    finally:
        await client.aclose()


def run(options: Options) -> dict[str, Any]:
    """Run every end-to-end measurement on one rig; return the raw results."""
    with rigging.rig() as rig:
        designs, pings = measure_designs(rig, options)
        cold = cold_first_alert(rig, options.cold_runs)
        redis_counts = count_redis(rig, options.counted)
        alone, paired, alone_cpu = executor_alone(rig, options.alone)
        floor_alone, floor_pair = round_trip_floor(rig, options.alone)
    return {
        "options": asdict(options),
        "designs": designs,
        "cold_first_alert": cold,
        "cold_first_alert_median": {key: median(r[key] for r in cold) for key in cold[0]}
        if cold
        else {},
        "redis": redis_counts,
        "redis_ping": pings,
        "executor_alone": alone,
        "executor_pair": paired,
        "executor_alone_cpu": alone_cpu,
        "floor_alone": floor_alone,
        "floor_pair": floor_pair,
    }


def print_results(results: Mapping[str, Any]) -> None:
    """Print the three designs' latencies and Tradebridge's stages."""
    designs = results["designs"]
    for mode, label in (("one_at_a_time", "one alert at a time"), ("burst", "burst")):
        rows = []
        for p in ("p50", "p90", "p99"):
            tb = summary_ms(designs["tradebridge"][mode])[p]
            rows.append((f"{p} vs durable", summary_ms(designs["durable"][mode])[p], tb, "ms"))
            rows.append((f"{p} vs direct", summary_ms(designs["direct"][mode])[p], tb, "ms"))
        print_table(f"signal → order, {label}", rows, columns=("baseline", "tradebridge"))
    print("\nstages, one alert at a time (ms: p50 / p99)")
    for name, _, _ in STAGES:
        cells = []
        for design in DESIGNS:
            samples = designs[design]["stages"].get(name)
            at = summary_ms(samples) if samples else None
            cells.append(f"{at['p50']:7.2f} / {at['p99']:7.2f}" if at else f"{'-':>17}")
        print(f"| {name:<22} | " + " | ".join(cells) + " |")
    redis = results["redis"]
    print(
        f"\nexecutor Redis per order: {redis['round_trips']:.2f} round trips, "
        f"{redis['commands']:.2f} commands (local queue's own: {redis['queue_round_trips']:.2f} "
        f"round trips, not counted); Tradovate requests per order: "
        + ", ".join(f"{d} {designs[d]['tradovate_requests_per_order']:.3f}" for d in DESIGNS)
    )
    references = (
        ("executor_alone", "executor own time in one process, one delivery at a time"),
        ("executor_pair", "executor own time in one process, two at once"),
        ("executor_alone_cpu", "  of it this thread's CPU, one delivery at a time"),
        ("floor_alone", "floor (the two round trips, no work), one at a time"),
        ("floor_pair", "floor (the two round trips, no work), two at once"),
    )
    for key, what in references:
        if results.get(key):
            own = summary_ms(results[key])
            print(f"{what}: p50 {own['p50']:.2f} ms, p99 {own['p99']:.2f} ms")
    if results.get("redis_ping"):
        ping = summary_ms(results["redis_ping"])
        print(
            f"one Redis round trip (PING) during Tradebridge's blocks: p50 {ping['p50']:.2f} ms, "
            f"p99 {ping['p99']:.2f} ms"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the end-to-end measurements, print them, and write the raw results if asked."""
    parser = argparse.ArgumentParser(prog="python -m bench.execute", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument(
        "--alerts", type=int, default=None, help="alerts per design one at a time, and per burst"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the raw results here")
    args = parser.parse_args(argv)
    options = QUICK if args.quick else Options()
    if args.alerts is not None:
        options = replace(options, single=args.alerts, burst_alerts=args.alerts)
    results = run(options)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    print_results(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
