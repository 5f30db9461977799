"""Serialise a :class:`Signal` to JSON text and back, exactly, for queue messages and the journal.

The JSON mirrors the Signal's own field names (not any alert format): enums as their values,
decimals as strings so no digit is lost, times as ISO-8601, absent fields as null. Decoding is
driven by the Signal's type hints, so a new Signal field needs no change here, and it validates
again: a message that was tampered with or written by an older version is an ``InvalidSignal``.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from types import NoneType, UnionType
from typing import Any

from shared.domain.alerts.coerce import fail, to_datetime, to_decimal
from shared.domain.alerts.fields import extras_of
from shared.domain.errors import InvalidSignal
from shared.domain.signal import Signal

FORMAT_VERSION = 1


def signal_to_json(signal: Signal) -> str:
    """Render ``signal`` as compact JSON text."""
    body = {"v": FORMAT_VERSION, "signal": _encode(signal)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def signal_from_json(text: str | bytes) -> Signal:
    """Rebuild a signal from :func:`signal_to_json` output, or raise ``InvalidSignal``."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        fail("the signal message is not JSON", "malformed_signal_message", None)
    if not isinstance(body, dict) or body.get("v") != FORMAT_VERSION:
        fail("the signal message has an unknown version", "malformed_signal_message", "v")
    return typing.cast(Signal, _decode(body.get("signal"), Signal, "signal"))


def _encode(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, UnionType):
        return _decode_union(value, typing.get_args(hint), where)
    if value is None:
        fail(f"{where} is missing", "malformed_signal_message", where)
    if origin is tuple:
        return _decode_tuple(value, typing.get_args(hint)[0], where)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(value, hint, where)
    return _decode_leaf(value, origin or hint, where)


def _decode_union(value: Any, options: tuple[Any, ...], where: str) -> Any:
    # Every union in the model is "X | None": null means the alert did not say.
    if value is None:
        return None
    concrete = [option for option in options if option is not NoneType]
    return _decode(value, concrete[0], where)


def _decode_tuple(value: Any, item: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        fail(f"{where} must be a list", "malformed_signal_message", where)
    return tuple(_decode(v, item, f"{where}[{i}]") for i, v in enumerate(value))


def _decode_dataclass(value: Any, cls: type[Any], where: str) -> Any:
    if not isinstance(value, dict):
        fail(f"{where} must be an object", "malformed_signal_message", where)
    hints = _hints(cls)
    unknown = sorted(set(value) - set(hints))
    if unknown:
        fail(f"{where}.{unknown[0]} is not a signal field", "malformed_signal_message", where)
    kwargs = {name: _decode(value[name], hints[name], f"{where}.{name}") for name in value}
    try:
        return cls(**kwargs)
    except TypeError:
        fail(f"{where} lacks a required field", "malformed_signal_message", where)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    # Resolving string annotations is slow and the dataclasses never change: resolve once.
    if cls not in _HINTS:
        names = {f.name for f in dataclasses.fields(cls)}
        _HINTS[cls] = {k: v for k, v in typing.get_type_hints(cls).items() if k in names}
    return _HINTS[cls]


def _decode_leaf(value: Any, kind: Any, where: str) -> Any:
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(value)
        except ValueError:
            fail(f"{where} has an unknown value", "malformed_signal_message", where)
    if kind is Decimal:
        return to_decimal(value, where)
    if kind is datetime:
        return to_datetime(value, where)
    if kind is Mapping:  # extras: plain JSON, frozen as the readers freeze them
        if not isinstance(value, dict):
            fail(f"{where} must be an object", "malformed_signal_message", where)
        return extras_of(value)
    if kind in (str, int, bool) and type(value) is kind:
        return value
    raise InvalidSignal(f"{where} has the wrong type", code="malformed_signal_message", field=where)
