"""A first deploy: the worker starts before its secrets exist, waits idle, never logs in."""

from __future__ import annotations

import os
import sys
import time

import httpx
import pytest

from local.services import AzuriteTables, ReadyLineProcess
from local.tradovate_sim import SimulatorServer

pytestmark = pytest.mark.integration

UNRESOLVED = "@Microsoft.KeyVault(VaultName=kv-tb-first;SecretName=tradovate-password)"


def test_worker_with_unresolved_password_waits_for_secrets_and_never_logs_in(
    tradovate_sim: SimulatorServer, redis_url: str, azurite: AzuriteTables
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "TablesConnection": azurite.connection_string,
        "TABLE_PREFIX": "waiting",
        "TRADOVATE_BASE_URL": tradovate_sim.base_url,
        "TRADOVATE_MD_WS_URL": tradovate_sim.md_ws_url,
        "TRADOVATE_USERNAME": "sim-trader",
        "TRADOVATE_PASSWORD": UNRESOLVED,
        "TRADOVATE_CID": "8",
        "TRADOVATE_SEC": "sim-api-secret",
        "TRADOVATE_DEVICE_ID": "tradebridge-tests",
        # A vault that cannot be reached yet: the secret stays unreadable.
        "KEY_VAULT_URI": "https://127.0.0.1:1/",
        "LOG_LEVEL": "WARNING",
    }
    proc = ReadyLineProcess(
        [sys.executable, "-m", "worker", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        timeout_s=30,
    )
    ready = proc.start()
    try:
        health = httpx.get(str(ready["healthz"]), timeout=5)
        assert health.status_code == 503
        body = health.json()
        assert (body["status"], body["code"]) == (
            "waiting_for_secrets",
            "unresolved_key_vault_reference",
        )
        assert body["settings"] == ["TRADOVATE_PASSWORD"]
        time.sleep(2.0)  # long enough for a worker that did not wait to have logged in
        assert tradovate_sim.stats()["logins"] == 0
        assert proc.alive
    finally:
        code = proc.stop()
    assert code == 0, proc.log_text[-2000:]
    assert "tradovate-password" in proc.log_text
    assert UNRESOLVED not in proc.log_text.replace("\\", "")
