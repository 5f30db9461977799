"""The notification timers: their bindings, and each run against real Redis and a local
HTTP receiver (the webhook), through the same container the Functions host uses."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis.asyncio as aioredis
from azure.functions.timer import TimerRequest

from functions import notify, timers
from functions.notify import SCHEDULE_DEFAULTS
from local.devhost.loader import index_function_app
from local.services import REPO_ROOT
from shared import redis_keys as keys
from shared.adapters.redis_timers import RedisTimerStore
from shared.config import Settings
from shared.container import Container, reset_container
from shared.domain.errors import AuthError
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

SETTINGS_FIELDS = {"NOTIFY_SCHEDULE": "notify_schedule", "WATCHDOG_SCHEDULE": "watchdog_schedule"}


class Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


def with_container(settings: Settings) -> Container:
    container = Container(settings)
    reset_container(container)
    return container


def timer() -> TimerRequest:
    return TimerRequest(past_due=False)


def test_notify_timers_index_on_their_schedule_settings_without_retries() -> None:
    specs = {spec.name: spec for spec in index_function_app(REPO_ROOT)}
    for name, setting in (("notify", "NOTIFY_SCHEDULE"), ("watchdog", "WATCHDOG_SCHEDULE")):
        spec = specs[name]
        assert spec.trigger["type"] == "timerTrigger"
        assert spec.trigger["schedule"] == f"%{setting}%"
        assert spec.retry_policy is None
        assert SCHEDULE_DEFAULTS[setting] == Settings.model_fields[SETTINGS_FIELDS[setting]].default


async def test_notify_run_sends_what_the_feed_holds_to_the_webhook(
    redis_url: str, client: aioredis.Redis, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = hook
    container = with_container(
        make_settings(redis_url=redis_url, notify_webhook_url=url, notify_dedupe_s=60)
    )
    try:
        await container.notifier.step()  # type: ignore[union-attr]  # makes the group
        store = RedisTimerStore(client)
        for _ in range(2):  # the same drift, reported twice, is sent once
            await store.publish("position.drift", {"event_id": "d1", "account": "DEMO10001"})
        await notify.notify.build().get_user_function()(timer())
    finally:
        await container.aclose()
        reset_container()
    [message] = received
    assert message["kind"] == "drift"
    assert "DEMO10001" not in json.dumps(message)
    assert (await client.xpending(keys.NOTIFY_FEED, keys.NOTIFY_GROUP))["pending"] == 0
    record = json.loads(await client.get(keys.notify_status("webhook")))
    assert record["sent"] == 1


async def test_notify_run_without_a_channel_leaves_the_feed_alone(
    redis_url: str, client: aioredis.Redis
) -> None:
    container = with_container(make_settings(redis_url=redis_url))
    try:
        assert container.notifier is None
        await RedisTimerStore(client).publish("order.rejected", {"signal_id": "s"})
        await notify.notify.build().get_user_function()(timer())
    finally:
        await container.aclose()
        reset_container()
    assert await client.xlen(keys.NOTIFY_FEED) == 1
    assert await client.exists(keys.notify_status("webhook")) == 0


async def test_watchdog_run_remembers_the_heartbeat_it_saw(
    redis_url: str, client: aioredis.Redis
) -> None:
    beat = {"at": datetime.now(UTC).isoformat(), "state": "live", "host": "w1"}
    await client.set(keys.WORKER_HEARTBEAT, json.dumps(beat))
    container = with_container(make_settings(redis_url=redis_url))
    try:
        await notify.watchdog.build().get_user_function()(timer())
    finally:
        await container.aclose()
        reset_container()
    view = json.loads(await client.get(keys.NOTIFY_WATCHDOG))
    assert view["last_beat"] == beat["at"]
    assert await client.exists(keys.NOTIFY_FEED) == 0  # nothing to tell


class RefusedTokens:
    async def captcha_backoff_s(self) -> float:
        return 0.0

    async def ensure_fresh(self) -> Any:
        raise AuthError("the renewal was refused", code="broker_auth_failed")


async def test_token_timer_with_a_refused_renewal_feeds_a_system_health_event(
    redis_url: str, client: aioredis.Redis
) -> None:
    container = with_container(make_settings(redis_url=redis_url))
    container.__dict__["timer_tokens"] = RefusedTokens()  # the seam: the token manager
    try:
        await timers.token_refresh.build().get_user_function()(timer())
    finally:
        await container.aclose()
        reset_container()
    [(_, fields)] = await client.xrange(keys.NOTIFY_FEED)
    event = json.loads(fields[b"event"])
    assert event == {
        "type": "system.health",
        "check": "token_renewal",
        "status": "failing",
        "state": "refused",
        "code": "broker_auth_failed",
    }
