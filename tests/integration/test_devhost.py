"""The dev host in its own process: HTTP routes and auth, timers, Service Bus delivery."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from local.services import ReadyLineProcess, ServiceError
from shared.adapters.local_queue import LocalQueue
from shared.ports import OutboundMessage

pytestmark = pytest.mark.integration

SAMPLE_APP = Path(__file__).resolve().parent.parent / "fixtures" / "sample_app"
FUNCTION_KEY = "test-function-key"
MASTER_KEY = "test-master-key"


def wait_until(predicate: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def devhost(redis_url: str, tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "SAMPLE_QUEUE": "samples",
        "TICK_SCHEDULE": "*/1 * * * * *",
        "DEVHOST_FUNCTION_KEYS": FUNCTION_KEY,
        "DEVHOST_MASTER_KEY": MASTER_KEY,
        "QUEUE_MAX_DELIVERY_COUNT": "3",
        "QUEUE_LOCK_DURATION_S": "5",
    }
    proc = ReadyLineProcess(
        [sys.executable, "-m", "local.devhost", "--port", "0", "--app-root", str(SAMPLE_APP),
         "--settings", str(tmp_path / "absent.json")],
        env=env,
    )  # fmt: skip
    ready = proc.start()
    yield str(ready["functions"])
    assert proc.stop() == 0, proc.log_text[-2000:]


def test_anonymous_route_with_params_reaches_function(devhost: str) -> None:
    r = httpx.get(
        f"{devhost}/api/items/42/widget?color=red", headers={"X-Forwarded-For": "6.6.6.6"}
    )
    assert r.status_code == 200
    assert r.headers["X-Echo"] == "1"
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["route"] == {"id": "42", "name": "widget"}
    assert body["query"] == {"color": "red"}
    assert body["method"] == "GET"
    # The front end appends the real peer address last; a caller cannot forge that entry.
    assert body["forwarded"].startswith("6.6.6.6, 127.0.0.1:")


def test_optional_route_param_may_be_absent(devhost: str) -> None:
    r = httpx.get(f"{devhost}/api/items/7")
    assert r.status_code == 200
    assert r.json()["route"] == {"id": "7"}


def test_route_constraint_rejects_non_integer(devhost: str) -> None:
    assert httpx.get(f"{devhost}/api/items/seven").status_code == 404


def test_function_route_without_key_is_unauthorized(devhost: str) -> None:
    assert httpx.post(f"{devhost}/api/secure", content=b"x").status_code == 401
    assert httpx.post(f"{devhost}/api/secure?code=wrong", content=b"x").status_code == 401


def test_function_route_with_key_in_query_or_header_runs(devhost: str) -> None:
    r = httpx.post(f"{devhost}/api/secure?code={FUNCTION_KEY}", content=b"payload")
    assert (r.status_code, r.content) == (201, b"payload")
    r = httpx.post(f"{devhost}/api/secure", content=b"h", headers={"x-functions-key": FUNCTION_KEY})
    assert r.status_code == 201
    r = httpx.post(f"{devhost}/api/secure?code={MASTER_KEY}", content=b"m")
    assert r.status_code == 201


def test_wrong_method_is_405_and_unknown_route_404(devhost: str) -> None:
    assert httpx.get(f"{devhost}/api/secure?code={FUNCTION_KEY}").status_code == 405
    assert httpx.get(f"{devhost}/api/nowhere").status_code == 404


def test_function_that_raises_gives_500(devhost: str) -> None:
    assert httpx.get(f"{devhost}/api/boom").status_code == 500


def test_timer_fires_on_its_ncrontab_schedule(devhost: str, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    wait_until(lambda: int(client.get("sample:ticks") or 0) >= 2, timeout_s=6)


def test_admin_run_of_timer_needs_master_key_and_honours_retry(
    devhost: str, redis_url: str
) -> None:
    url = f"{devhost}/admin/functions/flaky_timer"
    assert httpx.post(url, headers={"x-functions-key": FUNCTION_KEY}).status_code == 401
    assert httpx.post(url, headers={"x-functions-key": MASTER_KEY}).status_code == 202
    client = redis.Redis.from_url(redis_url)
    wait_until(lambda: int(client.get("sample:flaky") or 0) >= 2, timeout_s=6)
    status = wait_until(
        lambda: (
            s
            if (
                s := httpx.get(
                    f"{devhost}/admin/host/status", headers={"x-functions-key": MASTER_KEY}
                ).json()
            )["timers"]["flaky_timer"]["runs"]
            == 1
            else None
        )
    )
    assert status["timers"]["flaky_timer"]["failures"] == 0
    assert {"name": "consume", "trigger": "serviceBusTrigger"} in status["functions"]


async def test_queue_message_reaches_function_as_servicebus_message(
    devhost: str, redis_url: str
) -> None:
    queue = LocalQueue(aioredis.Redis.from_url(redis_url), "samples")
    await queue.send(
        [
            OutboundMessage(
                body=b'{"n":1}', message_id="m-1", session_id="10001-NQ",
                correlation_id="corr-1", application_properties={"strategy": "s1"},
            )
        ]
    )  # fmt: skip
    await queue.close()
    client = redis.Redis.from_url(redis_url)
    raw = wait_until(lambda: client.lindex("sample:consumed", 0))
    record = json.loads(raw)
    assert record["body"] == '{"n":1}'
    assert record["message_id"] == "m-1"
    assert record["session_id"] == "10001-NQ"
    assert record["delivery_count"] == 1
    assert record["correlation_id"] == "corr-1"
    assert record["properties"] == {"strategy": "s1"}
    assert record["sequence_number"] >= 1
    assert record["enqueued"] is not None


async def test_failing_queue_message_is_retried_then_dead_lettered(
    devhost: str, redis_url: str
) -> None:
    queue = LocalQueue(aioredis.Redis.from_url(redis_url), "samples")
    await queue.send([OutboundMessage(body=b"poison", message_id="p-1", session_id="s")])
    await queue.close()
    client = redis.Redis.from_url(redis_url)
    wait_until(lambda: client.llen("sample:consumed") >= 3)
    report = wait_until(
        lambda: (
            r
            if (
                r := httpx.get(
                    f"{devhost}/admin/queues/samples", headers={"x-functions-key": MASTER_KEY}
                ).json()
            )["dead_letters"]
            else None
        )
    )
    counts = [json.loads(x)["delivery_count"] for x in client.lrange("sample:consumed", 0, -1)]
    assert counts == [1, 2, 3]
    [letter] = report["dead_letters"]
    assert letter["reason"] == "MaxDeliveryCountExceeded"
    assert "poison message" in letter["description"]


def _host(
    redis_url: str, tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> ReadyLineProcess:
    env = {
        **os.environ, "REDIS_URL": redis_url, "SAMPLE_QUEUE": "samples",
        "TICK_SCHEDULE": "*/1 * * * * *", "DEVHOST_FUNCTION_KEYS": FUNCTION_KEY,
        "DEVHOST_MASTER_KEY": MASTER_KEY, **(env or {}),
    }  # fmt: skip
    return ReadyLineProcess(
        [sys.executable, "-m", "local.devhost", "--port", "0", "--app-root", str(SAMPLE_APP),
         "--settings", str(tmp_path / "absent.json"), *extra],
        env=env,
    )  # fmt: skip


async def _send_sample(redis_url: str, message_id: str) -> None:
    queue = LocalQueue(aioredis.Redis.from_url(redis_url), "samples")
    await queue.send([OutboundMessage(body=b"{}", message_id=message_id, session_id="s")])
    await queue.close()


def test_trigger_groups_split_http_from_queue_and_timers(redis_url: str, tmp_path: Path) -> None:
    # Like two Flex Consumption instance groups: one host serves HTTP only, the other runs
    # the queue and timer functions only; both see the same Redis.
    http_only = _host(redis_url, tmp_path, "--only", "http")
    background = _host(redis_url, tmp_path, "--only", "queue,timer")
    front = str(http_only.start()["functions"])
    back = str(background.start()["functions"])
    try:
        assert httpx.get(f"{front}/api/items/7").status_code == 200
        assert httpx.get(f"{back}/api/items/7").status_code == 404
        client = redis.Redis.from_url(redis_url)
        wait_until(lambda: int(client.get("sample:ticks") or 0) >= 1, timeout_s=6)
        ticks = int(client.get("sample:ticks") or 0)
        asyncio.run(_send_sample(redis_url, "m-9"))
        wait_until(lambda: client.llen("sample:consumed") == 1)
        admin = {"x-functions-key": MASTER_KEY}
        front_status = httpx.get(f"{front}/admin/host/status", headers=admin).json()
        assert front_status["timers"] == {}
        assert front_status["queues"] == {}
        refused = httpx.post(f"{front}/admin/functions/flaky_timer", headers=admin)
        assert refused.status_code == 409
        assert "not run here" in refused.text
        # Only the background host ticks: about one tick a second, never two hosts' worth.
        time.sleep(2.2)
        assert int(client.get("sample:ticks") or 0) - ticks <= 3
    finally:
        assert http_only.stop() == 0, http_only.log_text[-2000:]
        assert background.stop() == 0, background.log_text[-2000:]


def test_app_settings_override_host_json_like_the_functions_host(
    redis_url: str, tmp_path: Path
) -> None:
    # host.json says routePrefix "api" and 4 sessions; AzureFunctionsJobHost__ settings win.
    proc = _host(
        redis_url,
        tmp_path,
        env={
            "AzureFunctionsJobHost__extensions__http__routePrefix": "hooks",
            "AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentSessions": "2",
        },
    )
    base = str(proc.start()["functions"])
    try:
        assert httpx.get(f"{base}/hooks/items/7").status_code == 200
        assert httpx.get(f"{base}/api/items/7").status_code == 404
        status = httpx.get(f"{base}/admin/host/status", headers={"x-functions-key": MASTER_KEY})
        assert status.json()["queues"]["consume"]["max_concurrent_sessions"] == 2
    finally:
        assert proc.stop() == 0, proc.log_text[-2000:]


def test_unknown_trigger_group_is_refused(redis_url: str, tmp_path: Path) -> None:
    proc = _host(redis_url, tmp_path, "--only", "http,blob")
    with pytest.raises(ServiceError, match="trigger groups must be some of"):
        proc.start()
