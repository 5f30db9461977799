"""The /healthz endpoint: status codes from the worker's health, over a real loopback socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from worker.health import HealthServer, answer


def _status(raw: bytes) -> tuple[int, dict[str, Any] | None]:
    head, _, body = raw.partition(b"\r\n\r\n")
    code = int(head.split(b" ")[1])
    return code, json.loads(body) if body else None


@pytest.mark.parametrize(
    ("line", "healthy", "code"),
    [
        ("GET /healthz HTTP/1.1", True, 200),
        ("GET /healthz?probe=1 HTTP/1.1", False, 503),
        ("GET /other HTTP/1.1", True, 404),
        ("POST /healthz HTTP/1.1", True, 405),
        ("garbage", True, 404),
    ],
)
def test_answer_with_request_lines_maps_health_to_status(
    line: str, healthy: bool, code: int
) -> None:
    assert _status(answer(line, lambda: {"healthy": healthy}))[0] == code


def test_answer_with_head_sends_no_body() -> None:
    raw = answer("HEAD /healthz HTTP/1.1", lambda: {"healthy": True})
    assert raw.endswith(b"\r\n\r\n")
    assert b"Content-Length: 16" in raw


async def test_health_server_with_real_client_answers_and_closes() -> None:
    state = {"healthy": False, "state": "connecting"}
    server = HealthServer(lambda: dict(state), "127.0.0.1", 0)
    port = await server.start()
    try:
        for healthy, code in ((False, 503), (True, 200)):
            state["healthy"] = healthy
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            raw = await reader.read()
            writer.close()
            await writer.wait_closed()
            assert _status(raw) == (code, state)
        # A client that connects and says nothing is dropped after the read timeout, or
        # simply when it goes away: either way nothing is answered and nothing breaks.
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
    finally:
        await server.stop()
