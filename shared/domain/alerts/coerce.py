"""Coerce alert values into domain types; numbers become ``Decimal``, never ``float``.

TradingView substitutes placeholders as text, so ``"quantity": "2"`` and ``"flag": "false"`` are
as common as real JSON numbers and booleans. Each function takes the raw value and the field name
to blame, and raises :class:`InvalidSignal` with a stable code when the value does not fit.

Numbers are ASCII: TradingView writes its numbers "fixed-point with ``.`` decimal"
(tradingview.md §3.1), so fullwidth digits (U+FF10-FF19) or another script's were typed by hand
or by an attacker. They are refused (``invalid_number``), not normalised: NFKC would turn the
fullwidth one and the superscript two into ``1`` and ``2`` but leave Arabic-Indic digits alone,
and a size must mean one thing.
Words (``buy``, ``gtc``) are matched in ASCII only for the same reason: ``str.lower`` turns the
Kelvin sign into ``k``.

Times pass one rule, :func:`check_plausible_time`, however they were written; the executor
reads queued signals back through :func:`to_datetime`, so the webhook and the executor can never
disagree about a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NoReturn, TypeVar

from shared.domain.errors import InvalidSignal

T = TypeVar("T")

_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_GROUPED_RE = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
# Anything shown back to the caller (in the 400 body, the journal, logs) must not carry verbatim.
_UNPRINTABLE_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MAX_FIELD_CHARS = 80
_MAX_MESSAGE_CHARS = 400
_MAX_NUMBER_CHARS = 40
_MAX_TIME_CHARS = 64
# Prices, quantities and offsets in futures alerts stay far inside 1e-12 .. 1e15.
_MIN_ADJUSTED_EXPONENT = -12
_MAX_ADJUSTED_EXPONENT = 15
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch numbers above this are milliseconds (1e11 seconds is the year 5138).
_EPOCH_MS_THRESHOLD = Decimal(10**11)
# An alert's time is plausible in [2000, 2100): TradingView did not exist before 2000, so an
# earlier time is a unit mistake (9999 s) or a broken template ("0"), and the bounds keep
# epoch seconds (< 4.2e9) and milliseconds (> 9.4e11) apart. Staleness needs a clock and is the
# risk gates' job (max_alert_age_s); this rule is pure.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)


def fail(message: str, code: str, field: str | None) -> NoReturn:
    """Raise the one error readers raise; a field or message quoting the alert is made safe."""
    shown = None if field is None else printable(field)
    raise InvalidSignal(printable(message, _MAX_MESSAGE_CHARS), code=code, field=shown)


def printable(text: str, limit: int = _MAX_FIELD_CHARS) -> str:
    """Return ``text`` with control characters and surrogates escaped, at most ``limit`` long."""
    text = _UNPRINTABLE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text[: limit * 6])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_decimal(value: object, field: str) -> Decimal:
    """Read a finite decimal number from a JSON number or its ASCII text."""
    if isinstance(value, bool):
        fail(f"{field} must be a number, not a boolean", "invalid_number", field)
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, str):
        value = Decimal(_number_text(value, field))
    if not isinstance(value, Decimal) or not value.is_finite():
        fail(f"{field} must be a number, got {_preview(value)}", "invalid_number", field)
    if value and not _MIN_ADJUSTED_EXPONENT <= value.adjusted() <= _MAX_ADJUSTED_EXPONENT:
        fail(f"{field} is out of range", "number_out_of_range", field)
    return value


def _number_text(value: str, field: str) -> str:
    # Bounded before any pattern runs; the patterns are ASCII-only and cannot backtrack.
    text = value.strip()
    if len(text) <= _MAX_NUMBER_CHARS:
        if _GROUPED_RE.fullmatch(text):
            # "1,250.50" is a thousands-grouped price; "1,5" (a decimal comma) stays an error.
            text = text.replace(",", "")
        if _NUMBER_RE.fullmatch(text):
            return text
    hint = "" if text.isascii() else " (write numbers with the ASCII digits 0-9)"
    fail(f"{field} must be a number, got {_preview(value)}{hint}", "invalid_number", field)


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
    if isinstance(value, str) and (word := value.strip()).isascii():
        if word.lower() in _TRUE:
            return True
        if word.lower() in _FALSE:
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
    if isinstance(value, str) and (word := value.strip()).isascii():
        found = choices.get(word.lower())
        if found is not None:
            return found
    allowed = ", ".join(sorted(choices))
    fail(f"{field} must be one of {allowed}; got {_preview(value)}", "invalid_choice", field)


def to_datetime(value: object, field: str) -> datetime:
    """Read an ISO-8601 time (``{{timenow}}``) or epoch seconds/milliseconds, as a plausible UTC."""
    if isinstance(value, str) and not _NUMBER_RE.fullmatch(text := value.strip()):
        if len(text) > _MAX_TIME_CHARS or not text.isascii():
            fail(
                f"{field} must be an ISO-8601 time in ASCII digits, got {_preview(value)}",
                "invalid_time",
                field,
            )
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            fail(f"{field} must be an ISO-8601 time, got {_preview(value)}", "invalid_time", field)
        # TradingView's {{time}} and {{timenow}} are UTC; a time without an offset is read so.
        if moment.utcoffset() is None:
            moment = moment.replace(tzinfo=UTC)
        return check_plausible_time(moment, field)
    number = to_decimal(value, field)
    millis = number if abs(number) >= _EPOCH_MS_THRESHOLD else number * 1000
    try:
        moment = _EPOCH + timedelta(milliseconds=int(millis))
    except OverflowError:  # beyond datetime's years 1-9999: implausible by far
        _implausible(field, str(number))
    return check_plausible_time(moment, field)


def is_plausible_time(moment: datetime) -> bool:
    """Tell whether a zone-aware time could be an alert's: from 2000 up to (not into) 2100."""
    return EARLIEST_TIME <= moment < LATEST_TIME


def check_plausible_time(moment: datetime, field: str) -> datetime:
    """Return ``moment`` in UTC, or refuse it with ``implausible_time``: the one rule for times."""
    if not is_plausible_time(moment):
        try:
            shown = moment.astimezone(UTC).isoformat()
        except OverflowError:  # a time at the edge of datetime's range has no UTC form
            shown = moment.isoformat()
        _implausible(field, shown)
    return moment.astimezone(UTC)


def _implausible(field: str, shown: str) -> NoReturn:
    fail(
        f"{field} is {shown}, not a plausible alert time (between {EARLIEST_TIME.year} and "
        f"{LATEST_TIME.year}); send {{{{timenow}}}}, or epoch seconds or milliseconds",
        "implausible_time",
        field,
    )


def _preview(value: object) -> str:
    text = repr(value) if not isinstance(value, Decimal) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def maybe(convert: Callable[[object, str], T], value: object | None, field: str) -> T | None:
    """Convert ``value`` when the alert sent it; otherwise return None."""
    return None if value is None else convert(value, field)
