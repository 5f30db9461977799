"""Turn an alert body into a :class:`ParsedAlert`, whatever format it was written in.

The format is recognised from the text itself, never from Content-Type: TradingView sends
``application/json`` only when the message happens to be valid JSON. A body starting with ``{``
is JSON; anything else is ``key=value`` text (pairs split by ``;`` or new lines). Every failure
is an :class:`InvalidSignal` with a stable code; nothing else escapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import NoReturn

from shared.domain.alerts.coerce import fail
from shared.domain.alerts.fields import lowered, take_secret
from shared.domain.alerts.rate_group import RateGroup
from shared.domain.alerts.registry import JSON_FORMATS, TEXT_FORMATS, AlertFormat
from shared.domain.alerts.text import (
    clean_fields,
    has_placeholder,
    scan_json,
    strip_spaces,
)
from shared.domain.signal import JsonValue, Signal

# No public limit exists for TradingView bodies (tradingview.md §3); real alerts are < 2 KB.
# The webhook enforces the operator's WEBHOOK_MAX_BODY_BYTES (64 KiB by default) on the bytes;
# this backstop is that setting's ceiling, so every allowed body reads, in linear time.
MAX_BODY_CHARS = 256 * 1024
MAX_DEPTH = 8
MAX_TEXT_PAIRS = 100
_PAIR_SPLIT_RE = re.compile(r"[;\r\n]+")


@dataclass(frozen=True, slots=True)
class ParsedAlert:
    """Hold what one alert body said: the signal, the secret it carried, and its format.

    ``rate_group`` is the rate-limit group the alert names (CrossTrade ``rate_limit`` + ``id``):
    the webhook lets one alert of the group through per window instead of de-duplicating.
    """

    signal: Signal
    secret: str | None
    format: str
    rate_group: RateGroup | None = None

    @property
    def extras(self) -> dict[str, JsonValue]:
        """Return the fields no reader understood, kept for the journal (secrets removed)."""
        return dict(self.signal.extras)


def parse_alert(text: str) -> ParsedAlert:
    """Read an alert body in any supported format, or raise ``InvalidSignal``."""
    if len(text) > MAX_BODY_CHARS:
        fail(f"the alert is larger than {MAX_BODY_CHARS} characters", "body_too_large", None)
    body = strip_spaces(text)
    if not body:
        fail("the alert is empty", "empty_body", None)
    if body[0] in "{[":
        data = _load_json(body)
        formats = JSON_FORMATS
    else:
        data = _split_pairs(body)
        formats = TEXT_FORMATS
    data = clean_fields(data)
    secret = take_secret(data)
    chosen = _choose(formats, data)
    signal = chosen.read(data)
    group = chosen.rate_group(data) if chosen.rate_group is not None else None
    return ParsedAlert(signal, secret, chosen.name, group)


def _choose(formats: tuple[AlertFormat, ...], data: dict[str, object]) -> AlertFormat:
    for candidate in formats:
        if candidate.detect(data):
            return candidate
    fail(
        "the alert's format is not recognised (see the README for the accepted formats)",
        "unknown_format",
        None,
    )


def _reject_constant(name: str) -> NoReturn:
    fail(f"{name} is not a number", "invalid_number", None)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    data: dict[str, object] = {}
    for key, value in pairs:
        if key in data:
            fail(f"{key} is given twice", "duplicate_field", key)
        data[key] = value
    return data


def _load_json(body: str) -> dict[str, object]:
    shape = scan_json(body, MAX_DEPTH)
    if shape.placeholder:
        _placeholder_breaks_json(shape.key)
    if shape.too_deep:
        fail(f"the alert nests deeper than {MAX_DEPTH} levels", "too_deep", None)
    try:
        data = json.loads(
            body,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        if has_placeholder(body):
            _placeholder_breaks_json(None)
        fail(f"the alert is not valid JSON: {exc.msg} at line {exc.lineno}", "malformed_json", None)
    if not isinstance(data, dict):
        fail("the alert must be a JSON object", "not_an_object", None)
    return data


def _placeholder_breaks_json(key: str | None) -> NoReturn:
    # An unquoted placeholder TradingView did not substitute breaks the JSON itself.
    fail(
        "the alert holds a {{placeholder}} TradingView did not substitute, so it is not JSON",
        "unsubstituted_placeholder",
        key,
    )


def _split_pairs(body: str) -> dict[str, object]:
    pairs = []
    for number, segment in enumerate(_PAIR_SPLIT_RE.split(body), start=1):
        item = strip_spaces(segment)
        if not item or item.startswith(("#", "//")):
            continue
        key, equals, value = item.partition("=")
        if not equals:
            code = "malformed_text" if "=" in body else "unknown_format"
            fail(f"part {number} ({item[:30]!r}) is not key=value", code, None)
        pairs.append((key, value))
        if len(pairs) > MAX_TEXT_PAIRS:
            fail(f"the alert has more than {MAX_TEXT_PAIRS} fields", "body_too_large", None)
    return lowered(pairs)
