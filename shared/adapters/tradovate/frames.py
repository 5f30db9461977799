"""Read and write Tradovate's WebSocket framing (reference §4.1, §4.2), purely.

Server frames start with one type character: ``o`` open, ``h`` heartbeat, ``a`` a JSON
array of messages (several per frame: every one is returned, §6 item 9), ``c`` close with
``[code, "reason"]``. Client requests are four ``\\n``-separated fields: endpoint, id, query,
body; the heartbeat is the literal ``[]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

HEARTBEAT = "[]"


class FrameError(ValueError):
    """Say that a server frame could not be understood."""


@dataclass(frozen=True, slots=True)
class OpenFrame:
    """The server accepted the socket; authorize next."""


@dataclass(frozen=True, slots=True)
class HeartbeatFrame:
    """The server is alive and idle."""


@dataclass(frozen=True, slots=True)
class CloseFrame:
    """The server is closing the socket."""

    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Response:
    """Answer to request ``request_id``; ``data`` is JSON when 2xx, else an error string."""

    request_id: int
    status: int
    data: Any


@dataclass(frozen=True, slots=True)
class Event:
    """Unsolicited server message: ``props``, ``shutdown``, ``md``, ``chart``, ``clock``."""

    kind: str
    data: Any


@dataclass(frozen=True, slots=True)
class DataFrame:
    """Every message of one ``a`` frame, in order."""

    messages: tuple[Response | Event, ...]


Frame = OpenFrame | HeartbeatFrame | CloseFrame | DataFrame


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise FrameError(f"frame payload is not JSON: {exc}") from None


def _message(item: Any) -> Response | Event:
    if not isinstance(item, dict):
        raise FrameError(f"message is {type(item).__name__}, not an object")
    if "i" in item and "s" in item:
        return Response(int(item["i"]), int(item["s"]), item.get("d"))
    if "e" in item:
        return Event(str(item["e"]), item.get("d"))
    raise FrameError(f"message has neither i/s nor e: keys {sorted(item)}")


def parse_frame(text: str) -> Frame:
    """Parse one server text frame."""
    if not text:
        raise FrameError("empty frame")
    kind, rest = text[0], text[1:]
    if kind == "o":
        return OpenFrame()
    if kind == "h":
        return HeartbeatFrame()
    if kind == "c":
        payload = _loads(rest) if rest.strip() else []
        code = payload[0] if isinstance(payload, list) and payload else None
        reason = payload[1] if isinstance(payload, list) and len(payload) > 1 else ""
        return CloseFrame(int(code) if isinstance(code, int | Decimal) else None, str(reason))
    if kind == "a":
        payload = _loads(rest)
        if not isinstance(payload, list):
            raise FrameError("an 'a' frame must carry a JSON array")
        return DataFrame(tuple(_message(item) for item in payload))
    raise FrameError(f"unknown frame type {kind!r}")


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_request(
    endpoint: str,
    request_id: int,
    *,
    query: str | Mapping[str, str | int] | None = None,
    body: Mapping[str, Any] | None = None,
) -> str:
    """Encode a request; the empty query line is kept so the body is not read as a query."""
    # A leading slash breaks the endpoint match (reference §6 item 10).
    endpoint = endpoint.lstrip("/")
    if not endpoint or "\n" in endpoint:
        raise ValueError("endpoint must be a non-empty single line")
    query_text = urlencode(query) if isinstance(query, Mapping) else (query or "")
    body_text = (
        "" if body is None else json.dumps(body, separators=(",", ":"), default=_json_default)
    )
    return f"{endpoint}\n{request_id}\n{query_text}\n{body_text}"


def encode_authorize(request_id: int, token: str) -> str:
    """Encode ``authorize`` with the raw token as the body (§4.3)."""
    if not token or "\n" in token:
        raise ValueError("token must be a non-empty single line")
    return f"authorize\n{request_id}\n\n{token}"
