"""Convert frozen domain dataclasses to JSON-ready data and back, exactly.

Decimals travel as strings (never floats), datetimes as ISO-8601 with their offset, enums as
their values, tuples as lists. Decoding is driven by the dataclass's type hints and validates
again (every ``__post_init__`` runs), so a tampered or foreign message is an ``InvalidSignal``
naming the field, never a half-built object. Queue envelopes, stored plans and the journal
all use it; ``shared.domain.alerts.codec`` wraps it for a whole signal message.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from types import NoneType, UnionType
from typing import Any, TypeVar

from shared.domain.alerts.coerce import fail, to_datetime, to_decimal
from shared.domain.alerts.fields import extras_of
from shared.domain.errors import InvalidSignal

T = TypeVar("T")


def decode(cls: type[T], data: Any, where: str = "value") -> T:
    """Rebuild a dataclass of type ``cls`` from ``encode`` output, or raise ``InvalidSignal``."""
    return typing.cast(T, _decode(data, cls, where))


_SCALARS = (str, int, bool, NoneType)
# Field names per dataclass, looked up once: encoding runs on the webhook's hot path.
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def encode(value: object) -> Any:
    """Return ``value`` as JSON-ready data: enums as values, decimals as strings, times ISO."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: encode(getattr(value, name)) for name in names}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    return value


def encode_without(value: object, *names: str) -> dict[str, Any]:
    """Encode a dataclass leaving out some fields (cheaper than copying it without them)."""
    data = encode(value)
    if not isinstance(data, dict):
        raise TypeError("encode_without takes a dataclass")
    for name in names:
        data.pop(name, None)
    return data


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
