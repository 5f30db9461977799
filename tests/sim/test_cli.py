"""``python -m local.tradovate_sim``: one JSON line with the URLs, clean stop on signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.sim.conftest import CREDENTIALS

REPO = Path(__file__).resolve().parents[2]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "local.tradovate_sim", "--host", "127.0.0.1", "--port", "0", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_cli_with_flags_prints_urls_serves_and_stops_on_signal(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"username": "alice"}))
    proc = _start("--config", str(config), "--account", "777:DEMO777", "--price", "NQ=20000")
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        assert set(urls) == {"rest", "ws", "md_ws", "admin"}
        assert urls["ws"].endswith("/v1/websocket")
        assert urls["md_ws"].endswith("/md/v1/websocket")
        with httpx.Client(base_url=urls["rest"], timeout=5) as client:
            token = client.post("/auth/accesstokenrequest", json={**CREDENTIALS, "name": "alice"})
            token = token.json()
            headers = {"Authorization": f"Bearer {token['accessToken']}"}
            assert [a["id"] for a in client.get("/account/list", headers=headers).json()] == [777]
        prices = httpx.get(urls["admin"] + "/price", params={"symbol": "NQ"}).json()
        assert {p["price"] for p in prices.values()} == {20000}
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_cli_with_bad_config_exits_2_with_reason(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"passwd": "x"}))
    proc = _start("--config", str(config))
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert out == ""
    assert "passwd" in err
