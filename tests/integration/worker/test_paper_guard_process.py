"""``python -m worker`` with PAPER=true: refuses Tradovate's live environment before connecting
to anything (exit 2, the reason on stderr), and starts against demo-like URLs (the simulator)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from local.services import REPO_ROOT, AzuriteTables, ReadyLineProcess
from local.tradovate_sim import SimulatorServer

pytestmark = pytest.mark.integration

CREDENTIALS = {
    "TRADOVATE_USERNAME": "sim-trader",
    "TRADOVATE_PASSWORD": "sim-password",
    "TRADOVATE_CID": "8",
    "TRADOVATE_SEC": "sim-api-secret",
    "TRADOVATE_DEVICE_ID": "worker-paper-test",
    "LOG_LEVEL": "WARNING",
}


def test_worker_process_with_paper_and_live_url_exits_2_saying_why() -> None:
    env = {
        **os.environ,
        **CREDENTIALS,
        # Nothing listens here: the refusal must come before any connection is tried.
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "TablesConnection": "UseDevelopmentStorage=true",
        "TRADOVATE_BASE_URL": "https://live.tradovateapi.com/v1",
        "PAPER": "true",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "worker", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # no ready line: it never started
    assert "PAPER=true refuses to start" in done.stderr
    assert "live.tradovateapi.com" in done.stderr
    assert "[paper_live_environment]" in done.stderr
    assert time.monotonic() - started < 30


def test_worker_process_with_paper_and_simulator_url_starts_and_gets_healthy(
    tradovate_sim: SimulatorServer, redis_url: str, azurite: AzuriteTables
) -> None:
    env = {
        **os.environ,
        **CREDENTIALS,
        "REDIS_URL": redis_url,
        "TablesConnection": azurite.connection_string,
        "TABLE_PREFIX": "wpaper",
        "TRADOVATE_BASE_URL": tradovate_sim.base_url,
        "TRADOVATE_MD_WS_URL": tradovate_sim.md_ws_url,
        "PAPER": "true",
    }
    proc = ReadyLineProcess(
        [sys.executable, "-m", "worker", "--host", "127.0.0.1", "--port", "0"], env=env
    )
    ready = proc.start()
    try:
        deadline = time.monotonic() + 10
        status = 0
        while time.monotonic() < deadline and status != 200:
            time.sleep(0.1)
            status = httpx.get(str(ready["healthz"])).status_code
        assert status == 200, proc.log_text[-2000:]
    finally:
        code = proc.stop()
    assert code == 0, proc.log_text[-2000:]
