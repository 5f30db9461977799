"""``python -m worker`` as App Service runs it: ready line, /healthz, clean exit on SIGTERM."""

from __future__ import annotations

import os
import sys
import time

import httpx
import pytest
import redis

from local.services import AzuriteTables, ReadyLineProcess
from local.tradovate_sim import SimulatorServer
from shared import redis_keys as keys

pytestmark = pytest.mark.integration


def test_worker_process_with_simulator_gets_healthy_and_exits_cleanly_on_sigterm(
    tradovate_sim: SimulatorServer, redis_url: str, azurite: AzuriteTables
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "TablesConnection": azurite.connection_string,
        "TABLE_PREFIX": "wproc",
        "TRADOVATE_BASE_URL": tradovate_sim.base_url,
        "TRADOVATE_MD_WS_URL": tradovate_sim.md_ws_url,
        "TRADOVATE_USERNAME": "sim-trader",
        "TRADOVATE_PASSWORD": "sim-password",
        "TRADOVATE_CID": "8",
        "TRADOVATE_SEC": "sim-api-secret",
        "TRADOVATE_DEVICE_ID": "worker-process-test",
        "LOG_LEVEL": "WARNING",
    }
    proc = ReadyLineProcess(
        [sys.executable, "-m", "worker", "--host", "127.0.0.1", "--port", "0"], env=env
    )
    client = redis.Redis.from_url(redis_url)
    ready = proc.start()
    try:
        healthz = str(ready["healthz"])
        deadline = time.monotonic() + 10
        status = 0
        synced = None
        while time.monotonic() < deadline and (status, synced) != (200, b"synced"):
            time.sleep(0.1)
            status = httpx.get(healthz).status_code
            synced = client.get(keys.WORKER_SYNC_STATE)
        assert (status, synced) == (200, b"synced")
    finally:
        code = proc.stop()
    assert code == 0, proc.log_text[-2000:]
    assert client.get(keys.WORKER_SYNC_STATE) == b"stopped"
    assert client.get(keys.WORKER_HEARTBEAT) is None
    client.close()
