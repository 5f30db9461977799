"""The health endpoint and the failure modes it reports: flapping, shutdown, refused logins."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared.adapters.tradovate.client import TradovateClient
from shared.config import Settings
from shared.services.live_state import LiveState
from tests.integration.worker.conftest import fast, until
from tests.integration.worker.helpers import settled
from worker.app import WorkerApp
from worker.states import WorkerState

pytestmark = pytest.mark.integration


async def _health(app: WorkerApp, path: str = "/healthz") -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.port}") as http:
        return await http.get(path)


async def test_health_with_live_worker_is_200_and_503_while_flapping(
    worker_app: WorkerApp, client: TradovateClient, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    response = await _health(worker_app)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["connected"] is True
    assert body["sync"] == "synced"
    assert 0 <= body["last_message_age_s"] < 5
    assert (await _health(worker_app, "/other")).status_code == 404
    machine = worker_app.worker.trading_state
    attempts = machine.attempts
    # Every new connection is cut right after "o": a flapping broker. The back-off doubles
    # per failed attempt (0.02 s, 0.04 s, ... capped at 1 s), so 2.5 s hold about ten tries.
    tradovate_sim.inject(drop_next_connections=1000)
    tradovate_sim.drop_sockets(kind="trading")
    assert await until(lambda: machine.state is not WorkerState.LIVE)
    unhealthy = await _health(worker_app)
    assert unhealthy.status_code == 503
    assert unhealthy.json()["sync"] != "synced"
    assert not await LiveState(redis).is_live()
    await asyncio.sleep(2.5)
    tries = machine.attempts - attempts
    assert 4 <= tries <= 12, tries
    tradovate_sim.clear_faults()
    assert await until(lambda: machine.state is WorkerState.LIVE, 5.0)
    assert (await _health(worker_app)).status_code == 200
    assert await settled(LiveState(redis), client) == []


async def test_worker_with_shutdown_event_reconnects_at_once_and_publishes_ws_state(
    worker_app: WorkerApp, redis: Redis, tradovate_sim: SimulatorServer
) -> None:
    machine = worker_app.worker.trading_state
    syncs = machine.syncs
    pubsub = redis.pubsub()
    await pubsub.subscribe("ws.state")
    tradovate_sim.send_shutdown(kind="trading")
    assert await until(lambda: machine.syncs > syncs and machine.state is WorkerState.LIVE)
    states: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    while "live" not in states and loop.time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None and json.loads(message["data"])["socket"] == "trading":
            states.append(json.loads(message["data"])["state"])
    await pubsub.aclose()
    assert states == ["backoff", "connecting", "authorizing", "syncing", "live"]


async def test_worker_with_refused_login_stops_with_alert_and_no_hot_loop(
    worker_settings: Settings, tradovate_sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = worker_settings.model_copy(update={"tradovate_password": SecretStr("wrong")})
    app = WorkerApp.from_settings(settings, host="127.0.0.1", port=0, tune=fast)
    await app.start()
    try:
        machine = app.worker.trading_state
        assert await until(lambda: machine.state is WorkerState.STOPPED_AUTH_FAILURE)
        await asyncio.sleep(1.0)
        assert machine.attempts == 1
        response = await _health(app)
        assert response.status_code == 503
        assert response.json()["state"] == "stopped_auth_failure"
        assert any(getattr(r, "alert", None) == "tradovate_ws_auth" for r in caplog.records)
    finally:
        await app.stop()
