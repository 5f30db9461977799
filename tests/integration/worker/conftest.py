"""Fixtures for the worker against the simulator, real Redis and Azurite."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from local.services import AzuriteTables
from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.client import TradovateClient
from shared.config import Settings
from tests.conftest import make_settings
from worker.app import WorkerApp
from worker.service import WorkerConfig

pytestmark = pytest.mark.integration


def fast(config: WorkerConfig) -> WorkerConfig:
    """Shorten the worker's own timers for tests."""
    return dataclasses.replace(
        config,
        liveness_interval_s=0.2,
        liveness_ttl_s=2.0,
        quote_ttl_s=2.0,
        management_refresh_s=0.1,
        sync_timeout_s=5.0,
    )


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


@pytest.fixture
def worker_settings(
    tradovate_sim: SimulatorServer, redis_url: str, azurite: AzuriteTables
) -> Settings:
    """Settings for a worker on the simulator, with short back-offs and its own tables."""
    return make_settings(
        redis_url=redis_url,
        tradovate_base_url=tradovate_sim.base_url,
        tradovate_md_ws_url=tradovate_sim.md_ws_url,
        tradovate_request_timeout_s=2.0,
        tradovate_retry_budget_s=4.0,
        tradovate_ws_heartbeat_s=0.5,
        tradovate_ws_silence_s=5.0,
        tradovate_ws_reconnect_base_s=0.02,
        tradovate_ws_reconnect_max_s=1.0,
        tradovate_ws_stable_after_s=0.05,
        tables_connection_string=azurite.connection_string,
        table_prefix=f"w{uuid.uuid4().hex[:10]}",
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def client(worker_settings: Settings, redis: Redis) -> AsyncIterator[TradovateClient]:
    """A separate REST client, as the executor would use (same shared token)."""
    made = TradovateClient.from_settings(worker_settings, redis)
    yield made
    await made.aclose()


@pytest.fixture
async def worker_app(worker_settings: Settings) -> AsyncIterator[WorkerApp]:
    """A started worker, live before the test begins."""
    app = WorkerApp.from_settings(worker_settings, host="127.0.0.1", port=0, tune=fast)
    await app.start()
    try:
        assert await until(lambda: app.worker.live, 10.0), app.worker.health()
        yield app
    finally:
        await app.stop()


async def front_month(client: TradovateClient, root: str) -> str:
    """Return the nearest listed contract name of ``root``."""
    contracts = await client.rest.suggest_contracts(root, 10)
    exact = [c for c in contracts if c.name[:-2] == root]
    assert exact, f"the simulator lists no {root} contracts"
    return exact[0].name


def cents(value: Decimal) -> Decimal:
    """Round money to cents for comparisons."""
    return value.quantize(Decimal("0.01"))
