"""Fixtures for the Tradovate client against the real simulator over HTTP and WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.client import TradovateClient
from shared.adapters.tradovate.rest import TradovateRest
from shared.config import Settings
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def sim_settings(tradovate_sim: SimulatorServer, redis_url: str) -> Settings:
    """Settings pointing the client at the simulator and the test's Redis database."""
    return make_settings(
        redis_url=redis_url,
        tradovate_base_url=tradovate_sim.base_url,
        tradovate_md_ws_url=tradovate_sim.md_ws_url,
        tradovate_request_timeout_s=2.0,
        tradovate_retry_budget_s=4.0,
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def client(sim_settings: Settings, redis: Redis) -> AsyncIterator[TradovateClient]:
    made = TradovateClient.from_settings(sim_settings, redis)
    yield made
    await made.aclose()


def requests(sim: SimulatorServer, endpoint: str) -> int:
    """Return how many times the simulator saw ``endpoint`` (REST and WebSocket)."""
    counts: dict[str, Any] = sim.stats()["requests"]
    return int(counts.get(endpoint, 0))


async def front_month(rest: TradovateRest, root: str) -> str:
    """Return the nearest listed contract name of ``root``."""
    contracts = await rest.suggest_contracts(root, 10)
    exact = [c for c in contracts if c.name[:-2] == root]
    assert exact, f"the simulator lists no {root} contracts"
    return exact[0].name
