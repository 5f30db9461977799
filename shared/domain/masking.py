"""Mask secrets in text before it is stored or logged, whatever the body's encoding.

A webhook body is hostile input: the secret may arrive as text, a number, a list or an object,
in JSON, ``key=value`` text or a form-encoded body, and the body may be truncated or invalid.
Two rules apply together, over every value type and encoding:

1. **By value.** Every occurrence of a known secret (the strategy's real one, the one the alert
   presented) is replaced, raw and in the forms it takes JSON-escaped or URL-encoded. A JSON
   string or form value that only *decodes* to text holding a secret (``"\\u0061bc"``,
   ``%61bc``) is masked after decoding, so no spelling of it survives.
2. **By name.** The value of any field whose name is secret-like (``secret``, ``passphrase``,
   ``password``, ``token``, ``key``, ``api_key``, ``apikey``, ``code``, ``sig``, … see
   ``is_secret_name``) is replaced whatever its type, at any depth of JSON or of text inside a
   JSON string, in ``key=value`` / ``key: value`` text and form bodies, even when the secret is
   wrong and even when the body is cut off in the middle of the value.

The scanner never parses strictly (a refused alert is journaled too), never raises, and works
in one pass over the text plus a final by-value sweep. Pure: standard library only.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote_plus

MASK = "***"

# Whole names that are secrets on their own (``code`` is the Functions key's query parameter).
_SECRET_EXACT = frozenset({"code", "sig", "key", "apikey", "api_key", "x-functions-key"})
# Words that make any name secret-like wherever they appear in it (``access_token``, ``apiKey``).
_SECRET_WORDS = frozenset(
    {
        "secret", "secrets", "passphrase", "password", "passwd", "pwd", "token", "apikey",
        "credential", "credentials", "auth", "authorization", "signature",
    }
)  # fmt: skip
_SECRET_INFIXES = ("secret", "passphrase", "password", "passwd", "token", "apikey")
_NAME_PARTS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

# JSON-ish tokens: a string (possibly cut off at the end), a structural character, or a run of
# anything else (numbers, literals, garbage). Lenient on purpose: bodies may be invalid.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)|[{}\[\]:,]|[^\s"{}\[\]:,]++', re.DOTALL)
_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# Text pairs end where the text readers end them (``;``, new lines): a secret-like field's value
# runs to there, ``&`` included, as the reader would take it. Form pairs (``&``) inside a
# segment are read too, so ``action=buy&secret=x`` is masked as well.
_PAIR_SEPARATORS = re.compile(r"([;\r\n]+)")
_FORM_PAIR = re.compile(r"\s*+[A-Za-z0-9_.%+\-\[\]]++=")
# ``name=value`` inside a longer value, e.g. a URL's ``?code=...`` in a comment.
# Possessive and anchored at the start of a name, so hostile text cannot make it backtrack.
_EMBEDDED = re.compile(r"(?<![A-Za-z0-9_.\-])([A-Za-z0-9_.\-]++)(\s*+=\s*+)([^&;\s\"',)]++)")
_LAST_NAME = re.compile(r"(?<![A-Za-z0-9_.\-])[A-Za-z0-9_.\-]++\Z")
_STRUCTURAL = frozenset("{}[]:,")
_STRUCTURED = re.compile(r"[=:%+{\[]")  # what makes text more than plain words
_CACHED_NAME_CHARS = 64
_MIN_TAIL = 4  # a cut-off secret's first characters are masked from this many on
_MAX_DEPTH = 4  # JSON inside a form value inside a JSON string… is masked this deep, then whole
_MAX_DATA_DEPTH = 32  # containers ``Masker.json`` walks into (the alert parser stops at 8)


def is_secret_name(name: str) -> bool:
    """Tell whether a field named ``name`` carries a secret (case-insensitive, any separator).

    Secret-like: exactly ``code``, ``sig``, ``key``, ``api_key``/``apikey``; any name holding
    ``secret``, ``passphrase``, ``password``, ``token`` or ``apikey``; any name with a part
    ``auth``, ``authorization``, ``credential(s)`` or ``signature``; any name whose last part
    is ``key`` (``x-functions-key``, ``access_key``). ``signal``, ``keyword`` are not.
    """
    # Bodies repeat the same few names; only short ones are cached, so the cache stays small.
    return _secret_name(name) if len(name) <= _CACHED_NAME_CHARS else _judge_name(name)


def _judge_name(name: str) -> bool:
    text = name.strip().strip("\"'").strip()
    lowered = text.lower()
    if not lowered:
        return False
    if lowered in _SECRET_EXACT:
        return True
    parts = [part.lower() for part in _NAME_PARTS.split(text) if part]
    if not parts:
        return False
    joined = "".join(parts)
    return (
        any(part in _SECRET_WORDS for part in parts)
        or any(infix in joined for infix in _SECRET_INFIXES)
        or (len(parts) > 1 and parts[-1] == "key")
    )


_secret_name = functools.lru_cache(maxsize=1024)(_judge_name)


def _utf8(text: str) -> bytes:
    # Lone surrogates (from a ``\ud800`` JSON escape) must never make masking raise.
    return text.encode("utf-8", errors="surrogatepass")


def _encoded_forms(secret: str) -> set[str]:
    """Return the spellings a secret takes in a body: raw, JSON-escaped, URL-encoded."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    raw = _utf8(secret)
    for encoded in (quote(raw, safe=""), quote_plus(raw, safe=""), quote(raw), quote_plus(raw)):
        forms.add(encoded)
        forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded))
    return {form for form in forms if form}


def _decode_json_string(token: str) -> str:
    """Decode one JSON string token leniently (unterminated, bad escapes, lone surrogates)."""
    if "\\" not in token:  # no escapes (most tokens): the text between the quotes
        return token[1:-1] if len(token) > 1 and token.endswith('"') else token[1:]
    body = token[1:]
    if body.endswith('"'):
        escapes = len(body) - 1 - len(body[:-1].rstrip("\\"))
        closed = escapes % 2 == 0  # an even run of backslashes does not escape the quote
    else:
        closed = False
    if closed or body.endswith("\\"):  # the closing quote, or a cut-off escape
        body = body[:-1]

    def unescape(found: re.Match[str]) -> str:
        escape = found.group(1)
        if len(escape) == 5:  # uXXXX
            return chr(int(escape[1:], 16))
        return _SIMPLE_ESCAPES.get(escape, escape)

    text = _JSON_ESCAPE.sub(unescape, body)
    try:  # join escaped surrogate pairs into the characters they spell
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return text


def _encode_json_string(text: str) -> str:
    if any("\ud800" <= char <= "\udfff" for char in text):
        return json.dumps(text)
    return json.dumps(text, ensure_ascii=False)


class Masker:
    """Mask a fixed set of secret values, and every secret-like field, in any text."""

    def __init__(self, secrets: Iterable[object] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            if isinstance(secret, str):
                values.update(value for value in (secret, secret.strip()) if value)
        self._secrets = frozenset(values)
        forms = {form for value in values for form in _encoded_forms(value)}
        ordered = sorted(forms, key=len, reverse=True)
        self._forms = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._tail_forms = tuple(form for form in ordered if len(form) > _MIN_TAIL)

    def text(self, text: str) -> str:
        """Return ``text`` with every secret value and secret-like field's value masked."""
        return self._sweep(self._any(text, 0))

    def json(self, data: object) -> str:
        """Return ``data`` (JSON-ready: dicts, lists, text, numbers) as JSON text, masked.

        The same masking as ``text(json.dumps(data))``, applied to the values before they are
        written instead of to the written text's tokens: secret-like names' values replaced,
        each key and text value masked as a JSON string token is, then the same by-value
        sweep over the whole text. Only the masked strings' escaping may differ, and a
        container nested deeper than 32 levels is replaced whole (the alert parser refuses
        bodies nested deeper than 8). About a tenth of the time for a signal, whose values
        are mostly empty or plain words.
        """
        if not isinstance(data, dict | list):
            return self.text(json.dumps(data))
        return self._sweep(json.dumps(self._data(data)))

    def _data(self, data: object, depth: int = 0) -> object:
        if isinstance(data, str):
            return self._data_string(data)
        if depth > _MAX_DATA_DEPTH and isinstance(data, dict | list):
            return MASK  # deeper than any parsed alert nests: keep none of it, never recurse on
        if isinstance(data, dict):
            return dict(self._field(key, value, depth) for key, value in data.items())
        if isinstance(data, list):
            return [self._data(value, depth + 1) for value in data]
        return data  # numbers, booleans and null are written without an ``=`` to mask

    def _field(self, key: object, value: object, depth: int) -> tuple[object, object]:
        if not isinstance(key, str):  # written as a number's text: the sweep sees it
            return key, self._data(value, depth + 1)
        if is_secret_name(key):
            return self._data_string(key), MASK
        return self._data_string(key), self._data(value, depth + 1)

    def _data_string(self, text: str) -> str:
        # A key or text value, masked as its string token at a JSON text's top level would be.
        masked = self._string(text, 0)
        return text if masked is None else masked

    # --- by value ----------------------------------------------------------------------------

    def _holds_secret(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)

    def _sweep(self, text: str) -> str:
        if self._forms is None:
            return text
        for _ in range(4):
            swept = self._cut_tail(self._forms.sub(MASK, text))
            if swept == text:
                return text
            text = swept
        # Only a secret made of the mask's own characters can survive the passes above.
        return "" if self._forms.search(MASK) else MASK

    def _cut_tail(self, text: str) -> str:
        # A body cut off inside a secret ends with its first characters: mask those too
        # (from _MIN_TAIL characters on, so that ordinary endings survive).
        for form in self._tail_forms:
            for size in range(len(form) - 1, _MIN_TAIL - 1, -1):
                if text.endswith(form[:size]):
                    return text[:-size] + MASK
        return text

    # --- by structure ------------------------------------------------------------------------

    def _any(self, text: str, depth: int) -> str:
        if depth > _MAX_DEPTH:
            return MASK  # only hostile bodies encode this deep; keep nothing of them
        if text.lstrip(" \t\r\n\ufeff")[:1] in ("{", "["):
            return self._json(text, depth)
        return self._pairs(text, depth)

    def _json(self, text: str, depth: int) -> str:
        tokens = list(_JSON_TOKEN.finditer(text))
        out: list[str] = []
        cursor = 0
        index = 0
        while index < len(tokens):
            token = tokens[index]
            value = token.group()
            if value in _STRUCTURAL:
                index += 1
                continue
            is_key = index + 1 < len(tokens) and tokens[index + 1].group() == ":"
            if is_key and is_secret_name(self._token_text(value)):
                end_index = _value_end(tokens, index + 2)
                if end_index is None:  # a key with no value (cut off): nothing to mask
                    index += 2
                    continue
                value_end = len(text) if end_index >= len(tokens) else tokens[end_index].end()
                name = self._token(value, depth)  # ``"x=1&password=p": …`` holds one itself
                between = text[token.end() : tokens[index + 2].start()]
                out.append(f'{text[cursor : token.start()]}{name}{between}"{MASK}"')
                cursor = value_end
                index = end_index + 1
                continue
            replacement = self._token(value, depth)
            if replacement != value:
                out.append(text[cursor : token.start()] + replacement)
                cursor = token.end()
            index += 1
        out.append(text[cursor:])
        return "".join(out)

    @staticmethod
    def _token_text(token: str) -> str:
        return _decode_json_string(token) if token.startswith('"') else token

    def _token(self, token: str, depth: int) -> str:
        if not token.startswith('"'):
            # A bare run in invalid JSON may still be ``secret=abc`` text.
            return self._pairs(token, depth + 1) if "=" in token else token
        masked = self._string(_decode_json_string(token), depth)
        return token if masked is None else _encode_json_string(masked)

    def _string(self, text: str, depth: int) -> str | None:
        """Return one JSON string's text masked, or None when it holds nothing to mask."""
        if not _STRUCTURED.search(text) and not self._holds_secret(text):
            return None  # plain text: neither a field nor a secret to mask
        masked = self._any(text, depth + 1)
        if masked == text and not self._holds_secret(text):
            return None
        return self._sweep(masked)

    def _pairs(self, text: str, depth: int) -> str:
        pieces = _PAIR_SEPARATORS.split(text)
        for position in range(0, len(pieces), 2):
            pieces[position] = self._segment(pieces[position], depth)
        return "".join(pieces)

    def _segment(self, segment: str, depth: int) -> str:
        found = _split_pair(segment)
        if (found is not None and _secret_named(found[1])) or "&" not in segment:
            return self._pair(segment, depth)  # a secret's value runs to the segment's end
        parts: list[str] = []
        masked_head: str | None = None  # ``name=***`` while a secret-like value continues
        for part in segment.split("&"):
            if masked_head is not None and not _FORM_PAIR.match(part):
                parts[-1] = masked_head  # still the value of the secret-like field before it
                continue
            found = _split_pair(part)
            masked_head = None
            if found is not None and _secret_named(found[1]):
                lead, name, separator, _ = found
                masked_head = f"{lead}{name}{separator}{MASK}"
            parts.append(self._pair(part, depth))
        return "&".join(parts)

    def _pair(self, segment: str, depth: int) -> str:
        found = _split_pair(segment)
        if found is None:
            return _embedded(self._value(segment, depth))
        lead, name, separator, value = found
        if _secret_named(name):
            return f"{lead}{name}{separator}{MASK}" if value.strip() else segment
        value = _embedded(self._value(value, depth))
        return f"{lead}{_embedded(self._value(name, depth))}{separator}{value}"

    def _value(self, value: str, depth: int) -> str:
        decoded = _unquote(value) if ("%" in value or "+" in value) else value
        if decoded == value:
            if value.lstrip()[:1] in ("{", "[") and depth < _MAX_DEPTH:
                return self._json(value, depth + 1)
            return value
        masked = self._any(decoded, depth + 1)
        if masked == decoded and not self._holds_secret(decoded):
            return value
        return quote_plus(_utf8(self._sweep(masked)), safe="*:,{}[]\"'")


def _split_pair(segment: str) -> tuple[str, str, str, str] | None:
    """Split ``  name = value`` at its first ``=`` or ``:`` into lead, name, separator, value."""
    marks = [at for at in (segment.find("="), segment.find(":")) if at >= 0]
    if not marks:
        return None
    at = min(marks)
    head, value = segment[:at], segment[at + 1 :]
    name = head.strip()
    lead = head[: len(head) - len(head.lstrip())]
    before = head[len(lead) + len(name) :]
    after = value[: len(value) - len(value.lstrip())]
    return lead, name, f"{before}{segment[at]}{after}", value[len(after) :]


def _secret_named(name: str) -> bool:
    plain = _unquote(name)
    last = _LAST_NAME.search(plain)  # ``…/api?code=`` ends in the name that counts
    return is_secret_name(plain) or (last is not None and is_secret_name(last.group()))


def _embedded(text: str) -> str:
    if "=" not in text:
        return text

    def mask(found: re.Match[str]) -> str:
        name, separator, _ = found.groups()
        return f"{name}{separator}{MASK}" if is_secret_name(_unquote(name)) else found.group()

    return _EMBEDDED.sub(mask, text)


def _unquote(text: str) -> str:
    return unquote_plus(text, errors="replace")  # never raises: bad bytes become U+FFFD


def _value_end(tokens: list[re.Match[str]], start: int) -> int | None:
    """Return the index of the last token of the value starting at ``start`` (len if cut off)."""
    if start >= len(tokens):
        return None
    first = tokens[start].group()
    if first in (",", "}", "]"):
        return None  # ``"secret": ,`` has no value to mask
    if first not in ("{", "["):
        return start
    depth = 0
    for index in range(start, len(tokens)):
        kind = tokens[index].group()
        if kind in ("{", "["):
            depth += 1
        elif kind in ("}", "]"):
            depth -= 1
            if depth == 0:
                return index
    return len(tokens)


def mask_text(text: str, secrets: Iterable[object] = ()) -> str:
    """Mask ``secrets`` (in any spelling) and every secret-like field's value in ``text``."""
    return masker_for(secrets).text(text)


def masker_for(secrets: Iterable[object]) -> Masker:
    """Return a ``Masker`` for ``secrets``, built once per distinct set of them.

    A strategy's alerts present the same secret again and again, and building a masker
    (every spelling of each secret, one pattern of them all) costs about as much as masking
    a short alert. The few most recent sets are kept.
    """
    return _masker(frozenset(secret for secret in secrets if isinstance(secret, str)))


@functools.lru_cache(maxsize=32)
def _masker(secrets: frozenset[str]) -> Masker:
    return Masker(secrets)
