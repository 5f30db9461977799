"""Convert frozen domain dataclasses to JSON-ready values and back, losslessly.

Decimals travel as strings (never floats), datetimes as ISO-8601 with their offset, enums
as their values, tuples as lists. Decoding is driven by the dataclass's type hints, so a
``Signal`` put on the queue by the webhook comes back identical in the executor, and its
``__post_init__`` checks run again on the way in.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union

T = TypeVar("T")


class CodecError(ValueError):
    """The data does not fit the type it is decoded into."""


def encode(value: Any) -> Any:
    """Return ``value`` as JSON-ready data (dicts, lists, strings, numbers, booleans, None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CodecError("naive datetimes are not encoded; attach a time zone")
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise CodecError(f"cannot encode {type(value).__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(cls: type[T], data: Any) -> T:
    """Rebuild a dataclass of type ``cls`` from data made by ``encode``."""
    return typing.cast(T, _decode(cls, data))


def _decode(hint: Any, data: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return _decode_union(hint, data)
    if origin is tuple:
        return _decode_tuple(hint, data)
    if origin in (dict, Mapping) or hint in (dict, Mapping) or origin is typing.Mapping:
        if not isinstance(data, dict):
            raise CodecError(f"expected an object, got {type(data).__name__}")
        return dict(data)
    if hint is Any:
        return data
    if isinstance(hint, type):
        return _decode_type(hint, data)
    return data  # recursive JSON aliases and other open types carry data as it is


def _decode_union(hint: Any, data: Any) -> Any:
    options = typing.get_args(hint)
    if data is None:
        if type(None) in options:
            return None
        raise CodecError("null where a value is required")
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _decode(option, data)
        except (CodecError, ValueError, TypeError) as exc:
            errors.append(str(exc))
    raise CodecError("; ".join(errors) or "no union member fits")


def _decode_tuple(hint: Any, data: Any) -> tuple[Any, ...]:
    if not isinstance(data, list):
        raise CodecError(f"expected a list, got {type(data).__name__}")
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], item) for item in data)
    if len(args) != len(data):
        raise CodecError(f"expected {len(args)} items, got {len(data)}")
    return tuple(_decode(arg, item) for arg, item in zip(args, data, strict=True))


def _decode_type(cls: type, data: Any) -> Any:
    if dataclasses.is_dataclass(cls):
        if not isinstance(data, dict):
            raise CodecError(f"expected an object for {cls.__name__}")
        hints = _hints(cls)
        kwargs = {
            f.name: _decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(cls)
            if f.init and f.name in data
        }
        return cls(**kwargs)
    if issubclass(cls, Enum):
        return cls(data)
    if cls is Decimal:
        return _decimal(data)
    if cls is datetime:
        return _datetime(data)
    if cls is bool:
        if not isinstance(data, bool):
            raise CodecError("expected a boolean")
        return data
    if cls in (int, str, float) and (not isinstance(data, cls) or isinstance(data, bool)):
        raise CodecError(f"expected {cls.__name__}, got {type(data).__name__}")
    return data


def _decimal(data: Any) -> Decimal:
    if not isinstance(data, str):
        raise CodecError("decimals travel as strings")
    try:
        return Decimal(data)
    except InvalidOperation as exc:
        raise CodecError(f"not a decimal: {data!r}") from exc


def _datetime(data: Any) -> datetime:
    if not isinstance(data, str):
        raise CodecError("datetimes travel as ISO-8601 strings")
    moment = datetime.fromisoformat(data)
    if moment.tzinfo is None:
        raise CodecError("datetime without a time zone")
    return moment
