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
from shared.domain.alerts.fields import lowered, reject_placeholders, take_secret
from shared.domain.alerts.registry import JSON_FORMATS, TEXT_FORMATS, AlertFormat
from shared.domain.signal import JsonValue, Signal

# No public limit exists for TradingView bodies (tradingview.md §3); real alerts are < 2 KB.
MAX_BODY_CHARS = 64 * 1024
MAX_DEPTH = 8
MAX_TEXT_PAIRS = 100
_PAIR_SPLIT_RE = re.compile(r"[;\r\n]+")
_PLACEHOLDER_FIELD_RE = re.compile(r'"([^"]{1,64})"\s*:\s*[^,{}]*\{\{')


@dataclass(frozen=True, slots=True)
class ParsedAlert:
    """Hold what one alert body said: the signal, the secret it carried, and its format."""

    signal: Signal
    secret: str | None
    format: str

    @property
    def extras(self) -> dict[str, JsonValue]:
        """Return the fields no reader understood, kept for the journal (secrets removed)."""
        return dict(self.signal.extras)


def parse_alert(text: str) -> ParsedAlert:
    """Read an alert body in any supported format, or raise ``InvalidSignal``."""
    if len(text) > MAX_BODY_CHARS:
        fail(f"the alert is larger than {MAX_BODY_CHARS} characters", "body_too_large", None)
    body = text.strip().lstrip("\ufeff").strip()
    if not body:
        fail("the alert is empty", "empty_body", None)
    if body[0] in "{[":
        data = _load_json(body)
        formats = JSON_FORMATS
    else:
        data = _split_pairs(body)
        formats = TEXT_FORMATS
    reject_placeholders(data)
    secret = take_secret(data)
    chosen = _choose(formats, data)
    return ParsedAlert(chosen.read(data), secret, chosen.name)


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
    try:
        data = json.loads(
            body,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except RecursionError:
        fail(f"the alert nests deeper than {MAX_DEPTH} levels", "too_deep", None)
    except json.JSONDecodeError as exc:
        _explain_bad_json(body, exc)
    if not isinstance(data, dict):
        fail("the alert must be a JSON object", "not_an_object", None)
    if _depth(data) > MAX_DEPTH:
        fail(f"the alert nests deeper than {MAX_DEPTH} levels", "too_deep", None)
    return data


def _explain_bad_json(body: str, exc: json.JSONDecodeError) -> NoReturn:
    if "{{" in body:
        # An unquoted placeholder TradingView did not substitute breaks the JSON itself.
        match = _PLACEHOLDER_FIELD_RE.search(body)
        fail(
            "the alert holds a {{placeholder}} TradingView did not substitute, so it is not JSON",
            "unsubstituted_placeholder",
            match.group(1) if match else None,
        )
    fail(f"the alert is not valid JSON: {exc.msg} at line {exc.lineno}", "malformed_json", None)


def _depth(root: object) -> int:
    # Iterative so that a hostile, deeply nested body cannot exhaust the Python stack.
    deepest = 0
    stack: list[tuple[object, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _split_pairs(body: str) -> dict[str, object]:
    pairs = []
    for number, segment in enumerate(_PAIR_SPLIT_RE.split(body), start=1):
        item = segment.strip()
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
