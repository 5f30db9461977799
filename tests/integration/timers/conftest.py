"""Fixtures for the timers against real Redis, Azurite and the Tradovate simulator."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from local.services import AzuriteTables
from local.tradovate_sim import SimConfig, SimulatorServer
from shared.adapters.redis_timers import RedisTimerStore
from shared.adapters.tables_common import build_table_service
from shared.adapters.tables_events import TablesEventJournal
from shared.adapters.tradovate.client import TradovateClient
from shared.config import Settings
from shared.domain.rolls import RollPolicy
from shared.services.contracts import ContractRefresher, ContractResolver, RefreshTuning
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


class ShiftedClock:
    """Run with real time from a moment the test chooses; ``set`` jumps anywhere."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0) if start is None else start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        return time.monotonic()

    def set(self, moment: datetime) -> None:
        self._offset = moment - datetime.now(UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def settings_for(sim: SimulatorServer, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "tradovate_base_url": sim.base_url,
        "tradovate_md_ws_url": sim.md_ws_url,
        "tradovate_request_timeout_s": 2.0,
        "tradovate_retry_budget_s": 2.0,
    }
    return make_settings(**(values | overrides))


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def tradovate(
    tradovate_sim: SimulatorServer, redis_url: str, redis: Redis
) -> AsyncIterator[TradovateClient]:
    client = TradovateClient.from_settings(settings_for(tradovate_sim, redis_url), redis)
    yield client
    await client.aclose()


@pytest.fixture
async def journal(azurite: AzuriteTables) -> AsyncIterator[TablesEventJournal]:
    conn = azurite.connection_string
    made = TablesEventJournal(
        lambda: build_table_service(service_uri=None, connection_string=conn, client_id=None),
        f"t{uuid.uuid4().hex[:12]}Events",
    )
    yield made
    await made.close()


def refresher(
    client: TradovateClient,
    redis: Redis,
    journal: TablesEventJournal,
    clock: ShiftedClock,
    overrides: dict[str, RollPolicy] | None = None,
) -> ContractRefresher:
    store = RedisTimerStore(redis)
    return ContractRefresher(
        client.rest, store, store, store, journal, clock, overrides=overrides,
        tuning=RefreshTuning(lock_ttl_s=10.0, wait_s=10.0, poll_s=0.01),
    )  # fmt: skip


def resolver(refresher_: ContractRefresher, redis: Redis, clock: ShiftedClock) -> ContractResolver:
    return ContractResolver(RedisTimerStore(redis), refresher_, clock)


def requests(sim: SimulatorServer, endpoint: str) -> int:
    """Return how many times the simulator saw ``endpoint``."""
    return int(sim.stats()["requests"].get(endpoint, 0))


SIM_2024_START = "2024-11-04T15:00:00Z"


@pytest.fixture(scope="module")
def _sim_2024_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimConfig(start_time=SIM_2024_START)) as server:
        yield server


@pytest.fixture
def sim_2024(_sim_2024_server: SimulatorServer) -> Iterator[SimulatorServer]:
    """A simulator whose clock and contract library start on Monday 4 November 2024, reset for
    each test, so every roll date below is fixed whatever day the suite runs."""
    _sim_2024_server.reset()
    yield _sim_2024_server
    _sim_2024_server.reset()


@pytest.fixture
async def tradovate_2024(
    sim_2024: SimulatorServer, redis_url: str, redis: Redis
) -> AsyncIterator[TradovateClient]:
    # The token manager must share the simulator's idea of now, or every token looks expired.
    clock = ShiftedClock(at(SIM_2024_START.removesuffix("Z")))
    client = TradovateClient.from_settings(settings_for(sim_2024, redis_url), redis, clock=clock)
    yield client
    await client.aclose()
