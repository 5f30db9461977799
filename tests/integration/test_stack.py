"""python -m local.stack: everything starts, answers, and stops on SIGTERM."""

from __future__ import annotations

import json
import socket
import stat
import sys
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import redis

from local.services import ReadyLineProcess

pytestmark = pytest.mark.integration


def port_open(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=0.5):
            return True
    except OSError:
        return False


def test_stack_starts_every_part_serves_health_and_stops_cleanly(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    state = tmp_path / "run" / "stack.json"
    proc = ReadyLineProcess(
        [
            sys.executable,
            "-m",
            "local.stack",
            "--settings",
            str(settings),
            "--state-file",
            str(state),
        ],
        timeout_s=90,
    )
    urls = proc.start()
    try:
        # What the tradebridge CLI reads to find this stack: its URLs, never a key.
        assert json.loads(state.read_text())["urls"] == urls
        assert set(urls) >= {"functions", "redis", "tables", "tradovate", "tradovate_ws"}
        health = httpx.get(f"{urls['functions']}/api/health")
        assert (health.status_code, health.json()["status"]) == (200, "ok")
        assert redis.Redis.from_url(str(urls["redis"])).ping()
        assert httpx.get(f"{urls['tables']}/Tables").status_code in {401, 403}
        login = httpx.post(
            f"{urls['tradovate']}/auth/accesstokenrequest",
            json={"name": "sim-trader", "password": "sim-password", "cid": 8,
                  "sec": "sim-api-secret", "appId": "t", "appVersion": "1", "deviceId": "t"},
        )  # fmt: skip
        assert "accessToken" in login.json()
        values = json.loads(settings.read_text())["Values"]
        assert values["DEVHOST_FUNCTION_KEYS"]
        assert values["WEBHOOK_DEMO"]
        assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    finally:
        code = proc.stop()
    assert code == 0, proc.log_text[-3000:]
    assert not state.exists()
    for name in ("functions", "redis", "tradovate"):
        assert not port_open(str(urls[name])), f"{name} still listening after stop"


def test_stack_stops_everything_when_a_part_dies(tmp_path: Path) -> None:
    proc = ReadyLineProcess(
        [sys.executable, "-m", "local.stack", "--settings", str(tmp_path / "s.json")], timeout_s=90
    )
    urls = proc.start()
    redis.Redis.from_url(str(urls["redis"])).shutdown(nosave=True)
    try:
        import time

        deadline = time.monotonic() + 20
        while proc.alive and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not proc.alive
    finally:
        code = proc.stop()
    assert code == 1
    assert "redis exited unexpectedly" in proc.log_text
    assert not port_open(str(urls["functions"]))
