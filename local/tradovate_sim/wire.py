"""JSON and WebSocket framing exactly as Tradovate puts them on the wire.

Internally money, prices and quantities are ``Decimal``; on the wire they are JSON numbers.
Integral values are written without a fraction (Tradovate's own ``product/find`` example shows
``"valuePerPoint": 20`` next to ``"tickSize": 0.25``), so clients must accept both forms.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Serialise to compact JSON, numbers as Tradovate emits them."""
    return json.dumps(_plain(value), separators=(",", ":"))


OPEN_FRAME = "o"
HEARTBEAT_FRAME = "h"
CLIENT_HEARTBEAT = "[]"


def array_frame(messages: list[Any]) -> str:
    """Build an ``a`` frame: ``a`` followed by a JSON array of one or more messages."""
    return "a" + dumps(messages)


def close_frame(code: int, reason: str) -> str:
    """Build a ``c`` frame: ``c`` followed by ``[code, "reason"]``."""
    return "c" + dumps([code, reason])


def response_message(request_id: int, status: int, payload: Any = None) -> dict[str, Any]:
    """Build a response message ``{s, i, d}``; ``d`` is left out when there is nothing to say."""
    message: dict[str, Any] = {"s": status, "i": request_id}
    if payload is not None:
        message["d"] = payload
    return message


def event_message(kind: str, payload: Any) -> dict[str, Any]:
    """Build an event message ``{e, d}`` (``props``, ``md``, ``shutdown``...)."""
    return {"e": kind, "d": payload}


def props_event(entity_type: str, event_type: str, entity: dict[str, Any]) -> dict[str, Any]:
    """Build a ``props`` event for one created/updated/deleted entity."""
    return event_message(
        "props", {"entityType": entity_type, "eventType": event_type, "entity": entity}
    )
