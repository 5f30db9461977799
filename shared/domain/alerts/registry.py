"""List every alert format in one place, in the order detection tries them.

JSON formats are told apart by a field only they use; text formats by their pairs. To add a
format, write a module with ``NAME``, ``detect`` and ``read`` and list it here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.domain.alerts import (
    crosstrade,
    native,
    native_text,
    pickmytrade,
    simple_json,
    traderspost,
    webhook_type,
)
from shared.domain.alerts.rate_group import RateGroup
from shared.domain.signal import Signal


@dataclass(frozen=True, slots=True)
class AlertFormat:
    """Pair a format's name with how to recognise it and how to read it.

    ``rate_group`` (formats that have one) names the rate-limit group an alert belongs to.
    """

    name: str
    detect: Callable[[Mapping[str, object]], bool]
    read: Callable[[Mapping[str, object]], Signal]
    rate_group: Callable[[Mapping[str, object]], RateGroup | None] | None = None


# Order matters: the first format whose detect() accepts the object reads it.
JSON_FORMATS: tuple[AlertFormat, ...] = (
    AlertFormat(native.NAME, native.detect, native.read),
    AlertFormat(webhook_type.NAME, webhook_type.detect, webhook_type.read),
    AlertFormat(pickmytrade.NAME, pickmytrade.detect, pickmytrade.read),
    AlertFormat(traderspost.NAME, traderspost.detect, traderspost.read),
    AlertFormat(simple_json.NAME, simple_json.detect, simple_json.read),
)
TEXT_FORMATS: tuple[AlertFormat, ...] = (
    AlertFormat(crosstrade.NAME, crosstrade.detect, crosstrade.read, crosstrade.rate_group),
    AlertFormat(native_text.NAME, native_text.detect, native_text.read),
)
FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in JSON_FORMATS + TEXT_FORMATS)
