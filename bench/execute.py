"""Benchmark signal → order latency through the whole local system, beside a direct forwarder.

Run: ``.venv/bin/python -m bench.execute [--alerts 100]``. Starts redis-server, Azurite, the
Tradovate simulator, the worker and two dev hosts (the webhook in one, the executor in the
other, as Azure runs them), warms each instrument's contract map, then posts alerts spread
over 10 instruments, each fanned out to 2 accounts: one at a time (the next once the last
one's orders are placed), then all at once. Latency per order = the executor's clock when
Tradovate acknowledged it (the ledger's ``acked_at``) minus the time the alert was posted
(same machine, same clock); the ``order.placed`` events only say when to look, as a busy
listener would time them late. One at a time, it also prints where an order's time goes:
each step the ledger stamps (webhook received, enqueued, delivery started, claimed, sent,
answered) as p50/p99 ms after the post. Round trips per order are counted at the
simulator (REST requests) and at Redis (commands processed).

Baseline, same run, same simulator: a direct forwarder — an HTTP endpoint that places each
alert's two orders at Tradovate and answers — with the same burst; its latency per order is
post → placeorder answered. Target (issue 5): p99 < 25 ms and at most 1.5 times the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis
import redis.asyncio as aioredis
from aiohttp import web

from bench.common import SimAdmin, print_table, summary_ms
from local.services import AzuriteTables, ReadyLineProcess, RedisServer
from shared.adapters.redis_ledger import RedisLedger

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-function-key"
SECRET = "bench-secret-value"  # noqa: S105 - a throwaway value for a local run
ROOTS = ["MNQ", "ES", "MES", "NQ", "RTY", "M2K", "YM", "MYM", "CL", "MCL"]
PRICES = {"MNQ": 21000, "NQ": 21000, "ES": 6000, "MES": 6000, "RTY": 2300, "M2K": 2300,
          "YM": 44000, "MYM": 44000, "CL": 70, "MCL": 70}  # fmt: skip
STRATEGIES = """version = 1
[strategies.bench]
secret = { env = "WEBHOOK_BENCH" }
accounts = [{ name = "DEMO10001", id = 10001 }, { name = "DEMO10002", id = 10002 }]
[strategies.bench.behaviour]
allow_add = true
[strategies.bench.risk]
max_alert_age_s = 600
[strategies.bench.webhook]
rate_limit_per_min = 6000
dedupe_window_s = 0
ip_allowlist = false
"""


def _alert(root: str, n: int) -> dict[str, Any]:
    return {"secret": SECRET, "intent": "buy", "symbol": f"{root}1!", "quantity": 1,
            "price": PRICES[root], "alert_id": f"bench-{root}-{n}-{time.time_ns()}"}  # fmt: skip


async def _post_burst(url: str, alerts: list[dict[str, Any]]) -> list[tuple[float, dict[str, Any]]]:
    """Post every alert at once; return (wall-clock send time, answer) per alert."""
    limits = httpx.Limits(max_connections=len(alerts))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(alert: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            sent = time.time()
            response = await client.post(url, json=alert)
            assert response.status_code in (200, 202), response.text
            return sent, dict(response.json())

        return list(await asyncio.gather(*(one(a) for a in alerts)))


# The steps the ledger stamps on each order's way (the summary's and the leg's row).
STEPS = (
    ("received_at", "webhook has the alert"),
    ("enqueued_at", "on the queue (stamped to the ms)"),
    ("dequeued_at", "delivery started"),
    ("claimed_at", "plan made, legs claimed"),
    ("sent_at", "Tradovate call started"),
    ("acked_at", "Tradovate answered"),
)


async def _one_at_a_time(
    url: str, alerts: list[dict[str, Any]], watcher: PlacedWatcher, redis_url: str
) -> list[dict[str, float]]:
    """Post each alert once the previous one's orders were placed, over one kept-alive
    connection (as the baseline does); return each order's steps in seconds after the post."""
    orders: list[dict[str, float]] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for alert in alerts:
            sent = time.time()
            response = await client.post(url, json=alert)
            assert response.status_code == 202, response.text
            signal_id = response.json()["id"]
            watcher.wait({signal_id}, 2)
            for steps in await ledger_steps(redis_url, signal_id):
                orders.append({name: at - sent for name, at in steps.items()})
    return orders


async def ledger_steps(redis_url: str, signal_id: str) -> list[dict[str, float]]:
    """Return when each order of a signal passed each step (epoch s), from the ledger's
    working copy; the event listener only says when to look. Orders not yet answered are
    left out."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        rows = await RedisLedger(client, ttl_s=60).rows(signal_id)
    finally:
        await client.aclose()
    summaries = {
        r.row_key.removeprefix("exec:"): r.fields for r in rows if r.row_key.startswith("exec:")
    }
    orders = []
    for row in rows:
        if row.row_key.startswith("exec:"):
            continue
        fields = {**summaries.get(str(row.fields.get("account")), {}), **row.fields}
        stamps = {
            name: moment.timestamp()
            for name, _ in STEPS
            if isinstance(moment := fields.get(name), datetime)
        }
        if "acked_at" in stamps:
            orders.append(stamps)
    return orders


class PlacedWatcher:
    """Record when each ``order.placed`` event arrives (the executor publishes it on the ack)."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe("order.placed")
        self.seen: dict[str, list[float]] = {}

    def wait(self, signal_ids: set[str], per_signal: int, timeout_s: float = 120) -> None:
        """Read events until every signal id has ``per_signal`` placements."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(len(self.seen.get(s, ())) >= per_signal for s in signal_ids):
                return
            message = self._pubsub.get_message(timeout=0.05)
            if message is not None:
                event = json.loads(message["data"])
                if event.get("source") == "executor":  # the worker announces orders too
                    self.seen.setdefault(event["signal_id"], []).append(time.time())
        raise RuntimeError("not every order was placed in time")

    def close(self) -> None:
        """Stop listening."""
        self._pubsub.close()
        self._client.close()


class CommandCounter:
    """Count the Redis commands each named client sends, through ``MONITOR`` (which lists
    a script's call once, not the commands inside it, and a pipeline's commands singly).

    Used only in an untimed pass: ``MONITOR`` slows Redis down."""

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self._lines: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        client = redis.Redis.from_url(self._url)
        with client.monitor() as monitor:
            self._ready.set()
            connection = monitor.connection
            while not self._stop.is_set():
                if connection is None or not connection.can_read(timeout=0.05):
                    continue
                command = monitor.next_command()
                address = f"{command['client_address']}:{command['client_port']}"
                self._lines.append((address, str(command["command"]).split(" ")[0].upper()))
        client.close()

    def __enter__(self) -> CommandCounter:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        time.sleep(0.2)  # let the last commands arrive
        self._stop.set()
        self._thread.join(5)

    def by_client(self) -> dict[str, int]:
        """Return command counts by client name (connections still open now)."""
        client = redis.Redis.from_url(self._url)
        names = {c["addr"]: c["name"] for c in client.client_list()}
        client.close()
        counts: dict[str, int] = {}
        for address, command in self._lines:
            if command in {"CLIENT", "HELLO"}:  # connection set-up, not work
                continue
            name = names.get(address) or "other"
            counts[name] = counts.get(name, 0) + 1
        return counts


def run_system(sim: SimAdmin, env: dict[str, str], n: int) -> dict[str, Any]:
    """Measure the full system: one alert at a time, then a burst; latencies in seconds."""
    # As in Azure (Flex Consumption scales HTTP and each Service Bus function as separate
    # instance groups), the webhook and the executor run in two processes.
    devhost = [sys.executable, "-m", "local.devhost", "--port", "0", "--settings", "/nonexistent"]

    # Each process names its Redis connections, so the counting pass can tell them apart.
    def named(name: str) -> dict[str, str]:
        return {**os.environ, **env, "REDIS_URL": f"{env['REDIS_URL']}?client_name={name}"}

    host = ReadyLineProcess([*devhost, "--only", "http"], env=named("tb-webhook"))
    executor = ReadyLineProcess([*devhost, "--only", "queue,timer"], env=named("tb-executor"))
    worker = ReadyLineProcess(
        [sys.executable, "-m", "worker", "--host", "127.0.0.1", "--port", "0"],
        env=named("tb-worker"),
    )
    worker.start()
    executor.start()
    url = f"{host.start()['functions']}/api/webhook/bench?code={KEY}"
    watcher = PlacedWatcher(env["REDIS_URL"])
    try:
        warm = asyncio.run(_post_burst(url, [_alert(root, -1) for root in ROOTS]))
        watcher.wait({a["id"] for _, a in warm}, 2)  # contract maps, token, connections
        time.sleep(0.5)
        single = asyncio.run(
            _one_at_a_time(
                url, [_alert(ROOTS[i % len(ROOTS)], i) for i in range(n)], watcher, env["REDIS_URL"]
            )
        )
        sim.reset_stats()
        burst = asyncio.run(_post_burst(url, [_alert(ROOTS[i % len(ROOTS)], i) for i in range(n)]))
        watcher.wait({a["id"] for _, a in burst}, 2)
        rest_per_order = int(sim.stats()["total_requests"]) / (2 * n)
        burst_lat = [
            steps["acked_at"] - sent
            for sent, a in burst
            for steps in asyncio.run(ledger_steps(env["REDIS_URL"], a["id"]))
        ]
        counted = 20  # untimed: MONITOR slows Redis down
        time.sleep(1.0)  # let the burst's last writes (worker, ledger mirror) settle
        with CommandCounter(env["REDIS_URL"]) as counter:
            asyncio.run(
                _one_at_a_time(
                    url, [_alert(ROOTS[i % 10], 1000 + i) for i in range(counted)], watcher,
                    env["REDIS_URL"],
                )
            )  # fmt: skip
        counts = counter.by_client()
        return {
            "single": [steps["acked_at"] for steps in single],
            "steps": single,
            "burst": burst_lat,
            "burst_span": max(burst_lat),
            "rest_per_order": rest_per_order,
            "redis_per_alert": counts.get("tb-webhook", 0) / counted,
            "redis_per_order": counts.get("tb-executor", 0) / (2 * counted),
            "redis_worker_per_order": counts.get("tb-worker", 0) / (2 * counted),
        }
    finally:
        watcher.close()
        host.stop()
        executor.stop()
        worker.stop()


async def _forwarder(sim: SimAdmin) -> tuple[web.AppRunner, str]:
    """Start the baseline: HTTP in, two placeorders out (one per account), then answer."""
    client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200))
    login = await client.post(
        f"{sim.base_url}/auth/accesstokenrequest",
        json={"name": "sim-trader", "password": "sim-password", "cid": 8,
              "sec": "sim-api-secret", "appId": "bench", "appVersion": "1", "deviceId": "fwd"},
    )  # fmt: skip
    token = login.json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    names = {root: sim.price(root) for root in ROOTS}

    async def handle(request: web.Request) -> web.Response:
        alert = await request.json()
        root = alert["symbol"].rstrip("1!")
        listed = list(names[root])  # oldest first; the first may have expired
        contract = listed[1] if len(listed) > 1 else listed[0]
        body = {"action": "Buy", "symbol": contract, "orderQty": 1,
                "orderType": "Market", "isAutomated": True}  # fmt: skip
        done = await asyncio.gather(
            *(client.post(f"{sim.base_url}/order/placeorder", headers=headers,
                          json={**body, "accountId": acct}) for acct in (10001, 10002))
        )  # fmt: skip
        return web.json_response({"orders": [r.json().get("orderId") for r in done]})

    app = web.Application()
    app.router.add_post("/forward", handle)
    app.on_cleanup.append(lambda _: client.aclose())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/forward"


def run_baseline(sim: SimAdmin, n: int) -> dict[str, Any]:
    """Measure the direct forwarder, one alert at a time and then a burst; latency = answered."""

    async def main() -> dict[str, Any]:
        runner, url = await _forwarder(sim)
        try:
            await _post_burst(url, [_alert(root, -2) for root in ROOTS])  # warm up
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=n)) as c:

                async def one(alert: dict[str, Any]) -> float:
                    started = time.time()
                    await c.post(url, json=alert)
                    return time.time() - started

                single = [await one(_alert(ROOTS[i % len(ROOTS)], i)) for i in range(n)]
                alerts = [_alert(ROOTS[i % len(ROOTS)], i) for i in range(n)]
                burst = await asyncio.gather(*(one(a) for a in alerts))
            # Two orders per alert, answered together.
            return {
                "single": [x for x in single for _ in range(2)],
                "burst": [x for x in burst for _ in range(2)],
                "burst_span": max(burst),
            }
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    """Run the baseline and the system against one simulator and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.execute")
    parser.add_argument("--alerts", type=int, default=100)
    args = parser.parse_args(argv)
    with (
        RedisServer("127.0.0.1", None) as redis_server,
        AzuriteTables("127.0.0.1", None) as azurite,
        ReadyLineProcess(
            [sys.executable, "-m", "local.tradovate_sim", "--host", "127.0.0.1", "--port", "0"]
        ) as sim_urls,
        tempfile.TemporaryDirectory() as tmp,
    ):
        sim = SimAdmin(sim_urls)
        strategies = Path(tmp) / "strategies.toml"
        strategies.write_text(STRATEGIES)
        env = {
            "QUEUE_BACKEND": "local", "REDIS_URL": redis_server.url,
            "SIGNALS_QUEUE_NAME": "signals", "TablesConnection": azurite.connection_string,
            "TABLE_PREFIX": "bench", "STRATEGIES_FILE": str(strategies), "WEBHOOK_BENCH": SECRET,
            "DEVHOST_FUNCTION_KEYS": KEY, "TRADOVATE_BASE_URL": sim.base_url,
            "TRADOVATE_MD_WS_URL": sim.md_ws_url, "TRADOVATE_USERNAME": "sim-trader",
            "TRADOVATE_PASSWORD": "sim-password", "TRADOVATE_CID": "8",
            "TRADOVATE_SEC": "sim-api-secret", "TRADOVATE_DEVICE_ID": "bench",
            "LOG_LEVEL": "WARNING",
        }  # fmt: skip
        baseline = run_baseline(sim, args.alerts)
        sim.reset()
        system = run_system(sim, env, args.alerts)
        sim.close()
    bs, ss = summary_ms(baseline["single"]), summary_ms(system["single"])
    bb, sb = summary_ms(baseline["burst"]), summary_ms(system["burst"])
    print_table(
        f"signal → order at the simulator: {args.alerts} alerts, 2 accounts each, "
        f"{len(ROOTS)} instruments",
        [
            ("one at a time: p50", bs["p50"], ss["p50"], "ms"),
            ("one at a time: p99", bs["p99"], ss["p99"], "ms"),
            ("burst: p50", bb["p50"], sb["p50"], "ms"),
            ("burst: p99", bb["p99"], sb["p99"], "ms"),
            ("burst: last order", baseline["burst_span"] * 1000, system["burst_span"] * 1000, "ms"),
            ("Tradovate requests per order", 1.0, system["rest_per_order"], "n"),
        ],
    )
    print("\nwhere an order's time goes, one alert at a time (ms after the post, from the ledger)")
    print(f"| {'step':<34} | {'p50':>8} | {'p99':>8} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|")
    for name, label in STEPS:
        at = summary_ms([steps[name] for steps in system["steps"] if name in steps])
        print(f"| {label:<34} | {at['p50']:>8.2f} | {at['p99']:>8.2f} |")
    print(
        "\nRedis commands (MONITOR, 20 more alerts one at a time; a script counts once, a "
        f"pipeline's commands singly): webhook {system['redis_per_alert']:.1f} per alert, "
        f"executor {system['redis_per_order']:.1f} per order (local queue included), "
        f"worker {system['redis_worker_per_order']:.1f} per order"
    )
    met = ss["p99"] < 25 and ss["p99"] <= 1.5 * bs["p99"]
    verdict = "met" if met else "NOT met"
    print(f"target p99 < 25 ms and <= 1.5 x baseline (one at a time): {verdict}")
    burst_met = sb["p99"] < 25 and sb["p99"] <= 1.5 * bb["p99"]
    print(f"same target for the burst: {'met' if burst_met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
