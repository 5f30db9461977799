"""Notifications end to end: the real dev host, Redis, Azurite, the simulator and the worker,
with the stack's webhook pointed at an HTTP receiver this module runs.

Each trader-facing event reaches the receiver exactly once: a rejected order, a dead letter
(dead-lettered on the local queue, reported by the dead-letter watch), a kill-switch change
through the ops API, and a worker killed for longer than ``WORKER_STALE_S``. A storm of 1,000
rejections yields at most ``NOTIFY_RATE_LIMIT`` messages per window plus a summary, and the
summary accounts for every rejection it held back. Schedules and thresholds are seconds here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from shared import redis_keys as keys
from shared.adapters.local_queue import LocalQueue, new_receiver_token
from shared.adapters.redis_exec import RedisExecutionStore
from shared.ports import OutboundMessage
from tests.integration.execution.conftest import KEY, System, wait_for

pytestmark = pytest.mark.integration

MASTER = "e2e-master"
RATE_LIMIT, RATE_WINDOW_S, STALE_S = 5, 2, 2
SESSION = "NOTIFY-TEST"  # a session no strategy trades: the executor never takes it


class Receiver:
    """Collect every JSON body POSTed to it (the webhook's ``json`` format)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with receiver._lock:
                    receiver.bodies.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/notify"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def matching(self, test: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [b for b in self.bodies if test(b)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack_settings(receiver: Receiver) -> dict[str, str]:
    """Point this module's dev host and worker at the receiver, with second-long timings."""
    return {
        "NOTIFY_WEBHOOK_URL": receiver.url,
        "NOTIFY_SCHEDULE": "*/1 * * * * *",
        "WATCHDOG_SCHEDULE": "*/1 * * * * *",
        "DLQ_WATCH_SCHEDULE": "*/1 * * * * *",
        "WORKER_STALE_S": str(STALE_S),
        "SOCKET_DOWN_S": "60",
        "NOTIFY_RATE_LIMIT": str(RATE_LIMIT),
        "NOTIFY_RATE_WINDOW_S": str(RATE_WINDOW_S),
    }


def exactly_one(receiver: Receiver, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Wait for a matching message, then one more notifier cycle: there must be one only."""
    wait_for(lambda: receiver.matching(test), timeout_s=15)
    time.sleep(1.5)
    [body] = receiver.matching(test)
    return body


def test_a_rejected_order_is_notified_once_with_the_account_masked(
    fresh: System, receiver: Receiver
) -> None:
    fresh.sim.set_account(10001, locked=True)
    sent = fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    [summary] = fresh.outcome(sent["id"])
    assert summary.status in ("done", "rejected"), summary.fields
    body = exactly_one(
        receiver, lambda b: b["kind"] == "order_rejected" and sent["id"] in b["subject"]
    )
    assert body["severity"] == "warning"
    assert "TradingLocked" in body["text"]
    assert "DEMO10001" not in json.dumps(body)
    assert "***0001" in body["title"]


def dead_letter_on_the_local_queue(system: System, message_id: str) -> None:
    """Put a message in the dead letters the way the executor would: receive it under the
    session's lock, then dead-letter it with the local queue's API."""

    async def run() -> None:
        client = aioredis.Redis.from_url(system.redis_url)
        queue = LocalQueue(client, "signals")
        token = new_receiver_token()
        try:
            assert await client.set(f"lq:signals:lock:{SESSION}", token, nx=True, px=15_000)
            body = {"signal_id": message_id, "strategy": "solo", "account": "DEMO10001"}
            await queue.send([OutboundMessage(json.dumps(body).encode(), message_id, SESSION)])
            received = await queue.receive(SESSION, token)
            assert received is not None
            await queue.dead_letter(received, "MaxDeliveryCountExceeded", "broker down")
            await queue.release_session(SESSION, token)
        finally:
            await client.aclose()

    asyncio.run(run())


def test_a_dead_letter_is_notified_once(fresh: System, receiver: Receiver) -> None:
    message_id = f"notify-dlq-{time.time_ns()}"
    dead_letter_on_the_local_queue(fresh, message_id)
    body = exactly_one(
        receiver, lambda b: b["kind"] == "dead_letter" and b["subject"] == message_id
    )
    assert body["severity"] == "critical"
    assert "MaxDeliveryCountExceeded: broker down" in body["text"]
    assert body["event"]["account"] == "***0001"


def test_a_kill_switch_change_through_the_ops_api_is_notified_once(
    fresh: System, receiver: Receiver
) -> None:
    reason = f"notify e2e {time.time_ns()}"
    headers = {"x-functions-key": MASTER, "x-ops-actor": "e2e"}
    r = httpx.post(
        f"{fresh.url}/api/trading/pause",
        json={"scope": "global", "reason": reason},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    body = exactly_one(receiver, lambda b: b["kind"] == "kill_switch" and reason in b["text"])
    assert body["title"] == "Trading paused: global"
    assert "by: e2e" in body["text"]
    resumed = {"scope": "global", "reason": f"resumed {reason}"}
    r = httpx.post(f"{fresh.url}/api/trading/resume", json=resumed, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    back = exactly_one(receiver, lambda b: resumed["reason"] in b["text"])
    assert back["title"] == "Trading enabled: global"


def test_a_worker_killed_past_the_limit_is_notified_once(
    worker: System, receiver: Receiver
) -> None:
    client = redis.Redis.from_url(worker.redis_url)
    # The watchdog has seen the live worker (its view holds the newest heartbeat).
    wait_for(lambda: client.get(keys.NOTIFY_WATCHDOG), timeout_s=10)
    pid = json.loads(client.get(keys.WORKER_HEARTBEAT) or b"{}")["pid"]
    os.kill(pid, signal.SIGKILL)  # the worker this test's fixture started
    body = exactly_one(
        receiver,
        lambda b: b["kind"] == "worker_down" and b["event"].get("status") == "down",
    )
    assert body["severity"] == "critical"
    assert body["title"] == "Worker heartbeat lost"
    assert receiver.matching(lambda b: b["kind"] == "socket_down") == []


def test_a_storm_of_rejections_is_bounded_and_summarised(fresh: System, receiver: Receiver) -> None:
    client = redis.Redis.from_url(fresh.redis_url)
    client.delete(keys.notify_window("webhook"), keys.notify_folded("webhook"))
    storm = f"storm-{time.time_ns()}"
    started = time.monotonic()

    async def publish() -> None:
        store_client = aioredis.Redis.from_url(fresh.redis_url)
        store = RedisExecutionStore(store_client)
        try:
            for n in range(1000):
                await store.publish(
                    "order.rejected",
                    {"signal_id": f"{storm}-{n}", "account": "DEMO10001", "leg": "entry"},
                )
        finally:
            await store_client.aclose()

    asyncio.run(publish())

    def storm_messages() -> list[dict[str, Any]]:
        return receiver.matching(
            lambda b: b["kind"] == "summary" or storm in str(b.get("subject", ""))
        )

    wait_for(lambda: any(b["kind"] == "summary" for b in storm_messages()), timeout_s=20)
    time.sleep(RATE_WINDOW_S + 1.5)  # a further window: nothing left to send
    elapsed_s = time.monotonic() - started
    messages = storm_messages()
    sent = [b for b in messages if b["kind"] == "order_rejected"]
    summaries = [b for b in messages if b["kind"] == "summary"]
    windows = int(elapsed_s // RATE_WINDOW_S) + 1
    assert len(messages) <= RATE_LIMIT * windows  # a summary takes a window's slot too
    assert len(messages) <= 30, len(messages)  # 1,000 events, a few dozen messages at most
    held_back = sum(s["per_kind"].get("order_rejected", 0) for s in summaries)
    assert len(sent) + held_back == 1000  # nothing lost: each sent or counted in a summary
    assert (
        httpx.get(f"{fresh.url}/api/health/ready", headers={"x-functions-key": KEY}).json()[
            "checks"
        ]["notifications"]["status"]
        == "ok"
    )
