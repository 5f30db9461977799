"""Serve ``GET /healthz`` for App Service's health check, on asyncio streams (no framework).

200 with ``{"status": "ok", ...}`` while the trading socket is live, synced and heard from
recently; 503 with the same fields otherwise (connecting, resyncing, stopped after an auth
failure). Any other path is 404. The server reads one request per connection, answers and
closes, so a slow or hostile client costs one short-lived task and never the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_READ_TIMEOUT_S = 5.0
_MAX_HEADER_BYTES = 8192


def _response(status: int, body: dict[str, Any], *, head: bool = False) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    lines = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Cache-Control: no-store",
        "Connection: close",
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + (b"" if head else payload)


def answer(request_line: str, health: Callable[[], dict[str, Any]]) -> bytes:
    """Return the full HTTP response for one request line."""
    parts = request_line.split()
    if len(parts) != 3:
        return _response(404, {"error": "bad request"})
    method, target, _ = parts
    path = target.split("?", 1)[0]
    if path != "/healthz":
        return _response(404, {"error": "not found"})
    if method not in ("GET", "HEAD"):
        return _response(405, {"error": "use GET"})
    body = health()
    return _response(200 if body.get("healthy") else 503, body, head=method == "HEAD")


class HealthServer:
    """Listen on ``host:port`` and answer health checks from ``health()``."""

    def __init__(self, health: Callable[[], dict[str, Any]], host: str, port: int) -> None:
        self._health = health
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Start listening; return the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_HEADER_BYTES:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            writer.write(answer(request_line, self._health))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            return  # the client went away or sent garbage; nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
