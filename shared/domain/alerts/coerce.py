"""Coerce alert values into domain types; numbers become ``Decimal``, never ``float``.

TradingView substitutes placeholders as text, so ``"quantity": "2"`` and ``"flag": "false"`` are
as common as real JSON numbers and booleans. Each function takes the raw value and the field name
to blame, and raises :class:`InvalidSignal` with a stable code when the value does not fit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NoReturn, TypeVar

from shared.domain.errors import InvalidSignal

T = TypeVar("T")

_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?$")
_MAX_NUMBER_CHARS = 40
# Prices, quantities and offsets in futures alerts stay far inside 1e-12 .. 1e15.
_MIN_ADJUSTED_EXPONENT = -12
_MAX_ADJUSTED_EXPONENT = 15
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch numbers above this are milliseconds (1e11 seconds is the year 5138).
_EPOCH_MS_THRESHOLD = Decimal(10**11)
_MAX_EPOCH_MS = Decimal(4102444800000)  # 2100-01-01


def fail(message: str, code: str, field: str | None) -> NoReturn:
    """Raise the one error readers raise."""
    raise InvalidSignal(message, code=code, field=field)


def to_decimal(value: object, field: str) -> Decimal:
    """Read a finite decimal number from a JSON number or its text."""
    if isinstance(value, bool):
        fail(f"{field} must be a number, not a boolean", "invalid_number", field)
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "") if _is_grouped(value) else value.strip()
        if len(text) > _MAX_NUMBER_CHARS or not _NUMBER_RE.match(text):
            fail(f"{field} must be a number, got {_preview(value)}", "invalid_number", field)
        value = Decimal(text)
    if not isinstance(value, Decimal) or not value.is_finite():
        fail(f"{field} must be a number, got {_preview(value)}", "invalid_number", field)
    if value and not _MIN_ADJUSTED_EXPONENT <= value.adjusted() <= _MAX_ADJUSTED_EXPONENT:
        fail(f"{field} is out of range", "number_out_of_range", field)
    return value


def _is_grouped(text: str) -> bool:
    # "1,250.50" is a thousands-grouped price; "1,5" (a decimal comma) stays an error.
    return bool(re.match(r"^\s*[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?\s*$", text))


def to_int(value: object, field: str) -> int:
    """Read a whole number."""
    number = to_decimal(value, field)
    if number != number.to_integral_value():
        fail(f"{field} must be a whole number", "invalid_number", field)
    return int(number)


def to_bool(value: object, field: str) -> bool:
    """Read a boolean from true/false, yes/no, on/off or 1/0, as a value or as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal | int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    fail(f"{field} must be true or false, got {_preview(value)}", "invalid_boolean", field)


def to_text(value: object, field: str, *, max_chars: int = 200) -> str:
    """Read a non-empty string; numbers are accepted as their text (ids, account numbers)."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        fail(f"{field} must be text", "invalid_text", field)
    text = value.strip()
    if not text or len(text) > max_chars:
        fail(f"{field} must be 1-{max_chars} characters", "invalid_text", field)
    return text


def to_choice(value: object, field: str, choices: Mapping[str, T]) -> T:
    """Map a word (case-insensitive) to its domain value."""
    if isinstance(value, str):
        found = choices.get(value.strip().lower())
        if found is not None:
            return found
    allowed = ", ".join(sorted(choices))
    fail(f"{field} must be one of {allowed}; got {_preview(value)}", "invalid_choice", field)


def to_datetime(value: object, field: str) -> datetime:
    """Read an ISO-8601 time (``{{timenow}}``) or epoch seconds/milliseconds, as UTC."""
    if isinstance(value, str) and not _NUMBER_RE.match(value.strip()):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            fail(f"{field} must be an ISO-8601 time, got {_preview(value)}", "invalid_time", field)
        # TradingView's {{time}} and {{timenow}} are UTC; a time without an offset is read so.
        if moment.utcoffset() is None:
            moment = moment.replace(tzinfo=UTC)
        if not 1970 < moment.year < 2100:
            fail(f"{field} is not a plausible time", "invalid_time", field)
        return moment.astimezone(UTC)
    number = to_decimal(value, field)
    millis = number if number >= _EPOCH_MS_THRESHOLD else number * 1000
    if not 0 <= millis <= _MAX_EPOCH_MS:
        fail(f"{field} is not a plausible epoch time", "invalid_time", field)
    return _EPOCH + timedelta(milliseconds=int(millis))


def _preview(value: object) -> str:
    text = repr(value) if not isinstance(value, Decimal) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def maybe(convert: Callable[[object, str], T], value: object | None, field: str) -> T | None:
    """Convert ``value`` when the alert sent it; otherwise return None."""
    return None if value is None else convert(value, field)
