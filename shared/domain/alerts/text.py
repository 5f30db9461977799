"""Make an alert's untrusted text safe to read, in time linear in its length.

Everything here runs before the webhook secret is checked, on up to ``MAX_BODY_CHARS`` of
text anyone on the internet can send, so every function is one pass: ``str.find`` and
single-character-class patterns (which cannot backtrack), never a ``.*?`` over the body and
never a rescan per match. Field paths are built only when a refusal names one, so a long key
over a long list cannot cost its product.

What the readers get after :func:`clean_fields`:

- lone UTF-16 surrogates (JSON's ``"\\ud800"``) are replaced by U+FFFD, exactly as the webhook
  already decodes invalid UTF-8 bytes (``errors="replace"``): one rule for text that is not
  Unicode, however it arrived, and nothing downstream can fail to encode it;
- a control character (C0 or C1) in a value is refused (``control_character``); tab, CR and LF
  are allowed in values, as JSON escapes them. Keys allow none. TradingView never produces
  them, and they would reach logs, the journal and Table storage;
- a ``{{placeholder}}`` TradingView did not fill is refused (``unsubstituted_placeholder``);
- two keys that are equal once cleaned are refused (``duplicate_field``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from shared.domain.alerts.coerce import fail

Path: TypeAlias = tuple[str | int, ...]

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_VALUE_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_KEY_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
# A JSON body's structure, outside strings: a whole string (and the colon that makes it a
# key), or a bracket. Possessive, so a string cannot backtrack; an unterminated one matches as
# a lone quote, where the scan stops, so no later quote is ever tried as a string's start.
_JSON_TOKEN_RE = re.compile(r'"((?:[^"\\]++|\\.)*+)"(?:[ \t\r\n]*+(:))?|"|[\[\]{}]', re.DOTALL)
_MAX_KEY_CHARS = 64
# What may surround a body, a pair, a key or a value and be dropped: Unicode's spaces without
# the control characters str.strip() also drops (\x0b, \x0c, \x1c-\x1f, \x85), so that a
# control character at the edge of a text value is refused as it is in JSON, not trimmed away.
SPACES = (
    " \t\r\n\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def strip_spaces(text: str) -> str:
    """Remove spaces (see ``SPACES``), but no control character, from both ends of ``text``."""
    return text.strip(SPACES)


def has_placeholder(text: str) -> bool:
    """Tell whether ``text`` holds ``{{`` followed, anywhere later, by ``}}``."""
    start = text.find("{{")
    return start >= 0 and text.find("}}", start + 2) >= 0


def field_name(path: Path) -> str:
    """Render a path (``("brackets", 0, "stop_loss")``) as ``brackets[0].stop_loss``."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else part)
    return "".join(parts) or "body"


def clean_fields(data: Mapping[str, object]) -> dict[str, object]:
    """Return the alert object with safe text, or raise ``InvalidSignal`` naming the field."""
    return _clean_object(data, ())


_TEXTUAL = (str, Mapping, list)


def _clean(value: object, path: Path) -> object:
    if isinstance(value, str):
        return _clean_text(value, path, _VALUE_CONTROL_RE)
    if isinstance(value, Mapping):
        return _clean_object(value, path)
    if isinstance(value, list):
        # Numbers, booleans and nulls need nothing; no path is built for them.
        return [
            _clean(item, (*path, index)) if isinstance(item, _TEXTUAL) else item
            for index, item in enumerate(value)
        ]
    return value


def _clean_object(data: Mapping[str, object], path: Path) -> dict[str, object]:
    cleaned: dict[str, object] = {}
    for key, value in data.items():
        name = _clean_text(key, (*path, key), _KEY_CONTROL_RE)
        child = (*path, name)
        if name in cleaned:
            # Two spellings that clean to one name: which one to believe is not ours to guess.
            fail(f"{field_name(child)} is given twice", "duplicate_field", field_name(child))
        cleaned[name] = _clean(value, child)
    return cleaned


def _clean_text(text: str, path: Path, controls: re.Pattern[str]) -> str:
    text = _SURROGATE_RE.sub("\ufffd", text)
    control = controls.search(text)
    if control is not None:
        where = field_name(path)
        fail(
            f"{where} holds the control character U+{ord(control.group()):04X}, "
            "which an alert never carries",
            "control_character",
            where,
        )
    if has_placeholder(text):
        where = field_name(path)
        fail(
            f"{where} still holds a {{{{placeholder}}}}: TradingView did not substitute it "
            "(check its spelling, or that the alert belongs to a strategy)",
            "unsubstituted_placeholder",
            where,
        )
    return text


@dataclass(frozen=True, slots=True)
class JsonShape:
    """Say what one pass over a JSON body's structure found, before the body is decoded.

    ``too_deep`` when brackets nest beyond the limit; ``placeholder`` when a ``{{`` stands
    outside any string (an unquoted placeholder, which can never be JSON), with ``key`` the
    object key it is the value of, when one precedes it.
    """

    too_deep: bool = False
    placeholder: bool = False
    key: str | None = None


def scan_json(body: str, max_depth: int) -> JsonShape:
    """Walk a JSON body's brackets once, stopping at the first nesting or placeholder problem.

    Decoding a body first would let ``json`` recurse once per bracket: the nesting must be
    known before. Strings are skipped whole, so braces inside them count for nothing.
    """
    if body.count("{") + body.count("[") <= max_depth and "{{" not in body:
        return JsonShape()  # the common case, in C: nothing to find
    depth = 0
    key = (0, 0)  # where the last object key seen lies in the body (an empty span: none)
    for token in _JSON_TOKEN_RE.finditer(body):
        at = token.start()
        char = body[at]
        if char == '"':
            if token.end() == at + 1:  # unterminated: the decoder will say where
                break
            if token.start(2) >= 0:  # "...": names the value that follows
                key = token.span(1)
        elif char == "{" and body.startswith("{", at + 1):
            return JsonShape(placeholder=True, key=_key(body, *key))
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return JsonShape(too_deep=True)
        else:
            depth -= 1
    return JsonShape()


def _key(body: str, start: int, end: int) -> str | None:
    return body[start:end] if 0 < end - start <= _MAX_KEY_CHARS else None
