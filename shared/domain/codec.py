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
from collections.abc import Callable, Mapping
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


Decoder = Callable[[Any, str], Any]

# One decoder per type hint, built on first use: a queue message is decoded on every delivery,
# and walking the hints (origins, unions, dataclass checks) for each value cost more than the
# values themselves. The decoders check exactly what the walk did, with the same messages.
_DECODERS: dict[Any, Decoder] = {}


def _decode(value: Any, hint: Any, where: str) -> Any:
    decoder = _DECODERS.get(hint)
    if decoder is None:
        decoder = _DECODERS[hint] = _decoder_for(hint)
    return decoder(value, where)


def _decoder_for(hint: Any) -> Decoder:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, UnionType):
        # Every union in the model is "X | None": null means the alert did not say.
        concrete = next(option for option in typing.get_args(hint) if option is not NoneType)
        return lambda value, where: None if value is None else _decode(value, concrete, where)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return _present(lambda value, where: _decode_tuple(value, item, where))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _present(_dataclass_decoder(hint))
    return _present(_leaf_decoder(origin or hint))


def _present(decoder: Decoder) -> Decoder:
    def decode_present(value: Any, where: str) -> Any:
        if value is None:
            fail(f"{where} is missing", "malformed_signal_message", where)
        return decoder(value, where)

    return decode_present


def _decode_tuple(value: Any, item: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        fail(f"{where} must be a list", "malformed_signal_message", where)
    return tuple(_decode(v, item, f"{where}[{i}]") for i, v in enumerate(value))


def _dataclass_decoder(cls: type[Any]) -> Decoder:
    def decode_dataclass(value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            fail(f"{where} must be an object", "malformed_signal_message", where)
        hints = _hints(cls)
        if not value.keys() <= hints.keys():
            unknown = sorted(set(value) - set(hints))
            fail(f"{where}.{unknown[0]} is not a signal field", "malformed_signal_message", where)
        kwargs = {
            name: _decode(item, hints[name], f"{where}.{name}") for name, item in value.items()
        }
        try:
            return cls(**kwargs)
        except TypeError:
            fail(f"{where} lacks a required field", "malformed_signal_message", where)

    return decode_dataclass


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    # Resolving string annotations is slow and the dataclasses never change: resolve once.
    if cls not in _HINTS:
        names = {f.name for f in dataclasses.fields(cls)}
        _HINTS[cls] = {k: v for k, v in typing.get_type_hints(cls).items() if k in names}
    return _HINTS[cls]


def _leaf_decoder(kind: Any) -> Decoder:
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _enum_decoder(kind)
    if kind is Decimal:
        return to_decimal
    if kind is datetime:
        return to_datetime
    if kind is Mapping:
        return _decode_extras
    if kind in (str, int, bool):
        return _scalar_decoder(kind)
    return _decode_unknown


def _enum_decoder(enum: type[Enum]) -> Decoder:
    def decode_enum(value: Any, where: str) -> Any:
        try:
            return enum(value)
        except ValueError:
            fail(f"{where} has an unknown value", "malformed_signal_message", where)

    return decode_enum


def _decode_extras(value: Any, where: str) -> Any:
    # Extras: plain JSON, frozen as the readers freeze them.
    if not isinstance(value, dict):
        fail(f"{where} must be an object", "malformed_signal_message", where)
    return extras_of(value)


def _scalar_decoder(kind: type[Any]) -> Decoder:
    def decode_scalar(value: Any, where: str) -> Any:
        if type(value) is kind:
            return value
        raise _wrong_type(where)

    return decode_scalar


def _decode_unknown(value: Any, where: str) -> Any:
    raise _wrong_type(where)


def _wrong_type(where: str) -> InvalidSignal:
    return InvalidSignal(
        f"{where} has the wrong type", code="malformed_signal_message", field=where
    )
