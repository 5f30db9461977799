"""The worker's notifier loop against real Redis and a local HTTP receiver: an event published
while it waits on the feed is delivered within about a second, and a Redis outage pauses the
loop instead of ending it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis.asyncio as aioredis

from shared.adapters.notify_channels import build_notifier
from shared.adapters.redis_timers import RedisTimerStore
from shared.domain.clock import SystemClock
from shared.domain.errors import DependencyUnavailable
from shared.services.notify.notifier import DrainReport
from tests.conftest import make_settings
from worker.notifier import NotifierLoop

pytestmark = pytest.mark.integration


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]], threading.Event]]:
    received: list[dict[str, Any]] = []
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            arrived.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received, arrived
    server.shutdown()
    server.server_close()


async def test_loop_waiting_on_the_feed_delivers_a_new_event_within_a_second(
    redis_url: str, hook: tuple[str, list[dict[str, Any]], threading.Event]
) -> None:
    url, received, arrived = hook
    client = aioredis.Redis.from_url(redis_url, socket_timeout=5)
    notifier = build_notifier(
        make_settings(redis_url=redis_url, notify_webhook_url=url), client, SystemClock()
    )
    assert notifier is not None
    loop = NotifierLoop(notifier, block_ms=500)
    loop.start()
    try:
        await asyncio.sleep(0.3)  # the loop is now blocked on the feed
        started = time.monotonic()
        await RedisTimerStore(client).publish(
            "queue.dead_lettered", {"message_id": "m-1", "reason": "MaxDeliveryCountExceeded"}
        )
        await asyncio.to_thread(arrived.wait, 5)
        elapsed_s = time.monotonic() - started
    finally:
        await loop.stop()
        await client.aclose()
    [body] = received
    assert body["kind"] == "dead_letter"
    assert elapsed_s < 1.0


class FlakyNotifier:
    """A notifier whose Redis fails twice, then works."""

    channels = ("webhook",)

    def __init__(self) -> None:
        self.steps = 0
        self.closed = False

    async def step(self, block_ms: int | None = None) -> DrainReport:
        self.steps += 1
        if self.steps <= 2:
            raise DependencyUnavailable("Redis could not be reached: ConnectionError")
        await asyncio.sleep(0.01)
        return DrainReport()

    async def aclose(self) -> None:
        self.closed = True


async def test_loop_with_redis_failing_pauses_and_goes_on() -> None:
    flaky = FlakyNotifier()
    loop = NotifierLoop(flaky, pause_s=0.05)  # type: ignore[arg-type]
    loop.start()
    await asyncio.sleep(0.3)
    await loop.stop()
    assert flaky.steps > 3
    assert flaky.closed
