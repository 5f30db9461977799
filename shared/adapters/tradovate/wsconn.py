"""Wrap websocket-client behind a three-method connection: the WebSocket I/O seam.

``TradovateSocket`` only needs ``send``, ``recv`` (returning None when a short poll times
out) and ``close``; tests pass a fake ``Connector`` and production uses
``connect_websocket_client``. Every failure leaves as ``ConnectionClosed`` (an ``OSError``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import websocket

POLL_S = 0.25


class ConnectionClosed(ConnectionError):
    """Say that the WebSocket is closed or could not be opened."""


class WsConnection(Protocol):
    """Carry text frames both ways."""

    def send(self, text: str) -> None:
        """Send one text frame (thread-safe)."""
        ...

    def recv(self) -> str | None:
        """Return the next text frame, or None if nothing arrived within the poll interval."""
        ...

    def close(self) -> None:
        """Close the connection; a blocked ``recv`` raises ``ConnectionClosed`` promptly."""
        ...


Connector = Callable[[str, float], WsConnection]


class _ClientConnection:
    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws
        self._send_lock = threading.Lock()

    def send(self, text: str) -> None:
        try:
            with self._send_lock:
                self._ws.send(text)
        except (websocket.WebSocketException, OSError) as exc:
            raise ConnectionClosed(f"send failed: {type(exc).__name__}") from None

    def recv(self) -> str | None:
        try:
            opcode, data = self._ws.recv_data()
        except websocket.WebSocketTimeoutException:
            return None
        except (websocket.WebSocketException, OSError) as exc:
            raise ConnectionClosed(f"receive failed: {type(exc).__name__}") from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise ConnectionClosed("the server sent a close frame")
        if not isinstance(data, bytes):
            return str(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            # What websocket-client's own validation would refuse (RFC 6455 §8.1).
            raise ConnectionClosed("the server sent a text frame that is not UTF-8") from None

    def close(self) -> None:
        try:
            with self._send_lock:
                self._ws.send_close()
        except (websocket.WebSocketException, OSError):
            pass  # already broken; closing is best effort
        self._ws.abort()  # type: ignore[no-untyped-call]
        self._ws.shutdown()  # type: ignore[no-untyped-call]


def connect_websocket_client(url: str, timeout_s: float) -> WsConnection:
    """Open ``url`` with websocket-client; reads then poll every ``POLL_S`` seconds."""
    try:
        # Text frames are checked by the strict decode in ``recv``: websocket-client's own
        # UTF-8 check is pure Python, byte by byte, and was a tenth of the worker's CPU.
        ws = websocket.create_connection(
            url, timeout=timeout_s, enable_multithread=True, skip_utf8_validation=True
        )
    except (websocket.WebSocketException, OSError) as exc:
        raise ConnectionClosed(f"cannot connect: {type(exc).__name__}: {exc}") from None
    ws.settimeout(POLL_S)
    return _ClientConnection(ws)
