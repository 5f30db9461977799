"""Shared fixtures: real local services started by the suite itself, and a clean environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from local.services import AzuriteTables, RedisServer
from local.tradovate_sim import SimulatorServer
from shared.config import Settings, get_settings

# Settings names the suite must never inherit from the machine running it.
_SETTING_PREFIXES = (
    "QUEUE_", "SIGNALS_", "SERVICEBUS", "REDIS_", "TABLES", "TABLE_", "KEY_VAULT",
    "TRADOVATE_", "STRATEGIES_", "LOG_LEVEL", "PAPER", "DEVHOST_", "WEBHOOK_",
    "APPLICATIONINSIGHTS_", "PYTHON_APPLICATIONINSIGHTS_", "PYTHON_ENABLE_OPENTELEMETRY",
    "AZURE_CLIENT_ID", "OTEL_", "IDENTITY_", "MSI_", "TRADEBRIDGE_",
    "NOTIFY_", "SMTP_", "WATCHDOG_", "WORKER_STALE_S", "SOCKET_DOWN_S",  # never a real channel
)  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.upper().startswith(_SETTING_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Start one real redis-server for the whole run."""
    with RedisServer("127.0.0.1", None) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """Give a test an empty Redis database on the shared server."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteTables]:
    """Start one real Azurite Table service for the whole run."""
    with AzuriteTables("127.0.0.1", None) as service:
        yield service


def make_settings(**overrides: object) -> Settings:
    """Build valid settings for tests; Tradovate values point nowhere unless overridden."""
    values: dict[str, object] = {
        "redis_url": "redis://127.0.0.1:1/0",
        "tradovate_username": "sim-trader",
        "tradovate_password": "sim-password",
        "tradovate_cid": "8",
        "tradovate_sec": "sim-api-secret",
        "tradovate_device_id": "tradebridge-tests",
        "queue_backend": "local",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def _tradovate_sim_server() -> Iterator[SimulatorServer]:
    """Start one Tradovate simulator for the whole run (reset before every test)."""
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def tradovate_sim(_tradovate_sim_server: SimulatorServer) -> Iterator[SimulatorServer]:
    """Give a test a started Tradovate simulator in its initial state (defaults of SimConfig).

    Reset closes every socket and rebuilds all state, faults, counters, runtime config changes
    and the clock from the original config, so tests never see each other's orders or tokens.
    """
    _tradovate_sim_server.reset()
    yield _tradovate_sim_server
    _tradovate_sim_server.reset()
