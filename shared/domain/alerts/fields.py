"""Handle an alert's fields: take the known ones once, find the secret, keep the rest as extras."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType

from shared.domain.alerts.coerce import fail
from shared.domain.signal import JsonValue

# Field names a webhook secret travels in, across the formats traders use (tradingview.md §1.6).
SECRET_FIELDS = ("secret", "passphrase", "key", "token")
# Anything named like a credential is dropped from extras so the journal never stores it.
_SECRET_NAME_RE = re.compile(
    r"secret|passphrase|password|passwd|token|api_?key|apikey|^key$|^auth(?:_|orization|$)"
    r"|credential|private",
    re.IGNORECASE,
)
_PLACEHOLDER_RE = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def _present(value: object) -> bool:
    # An empty placeholder substitution ("") means "not given", as a missing field does.
    return value is not None and not (isinstance(value, str) and not value.strip())


class Fields:
    """Take named fields from an alert object once; what nobody took becomes extras."""

    def __init__(self, data: Mapping[str, object]) -> None:
        self._data = data
        self._taken: set[str] = set()

    def get(self, *names: str) -> object | None:
        """Return the first present value among ``names`` (aliases) and mark all of them taken."""
        found: object | None = None
        for name in names:
            self._taken.add(name)
            value = self._data.get(name)
            if found is None and _present(value):
                found = value
        return found

    def rest(self) -> dict[str, object]:
        """Return the fields nobody took, for the journal."""
        return {k: v for k, v in self._data.items() if k not in self._taken}


def take_secret(data: dict[str, object]) -> str | None:
    """Remove the secret fields from ``data`` and return the secret, if one was sent."""
    found: list[tuple[str, str]] = []
    for name in list(data):
        if name.lower() in SECRET_FIELDS:
            value = data.pop(name)
            if isinstance(value, Decimal):
                value = str(value)
            if _present(value):
                if not isinstance(value, str):
                    fail(f"{name} must be text", "invalid_secret", name)
                found.append((name, value.strip()))
    if len({value for _, value in found}) > 1:
        fail("the alert carries two different secrets", "ambiguous_secret", found[1][0])
    return found[0][1] if found else None


def find_placeholder(value: object, path: str = "") -> str | None:
    """Return the path of the first value (or key) still holding a ``{{placeholder}}``."""
    if isinstance(value, str):
        return (path or "body") if _PLACEHOLDER_RE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if _PLACEHOLDER_RE.search(str(key)):
                return child
            found = find_placeholder(item, child)
            if found is not None:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = find_placeholder(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def reject_placeholders(value: object) -> None:
    """Raise ``unsubstituted_placeholder`` naming the field TradingView left unfilled."""
    where = find_placeholder(value)
    if where is not None:
        fail(
            f"{where} still holds a {{{{placeholder}}}}: TradingView did not substitute it "
            "(check its spelling, or that the alert belongs to a strategy)",
            "unsubstituted_placeholder",
            where,
        )


def extras_of(rest: Mapping[str, object]) -> dict[str, JsonValue]:
    """Freeze unknown fields for the journal (numbers as text), dropping credential-like names."""
    return {str(k): _freeze(v) for k, v in rest.items() if not _SECRET_NAME_RE.search(str(k))}


def _freeze(value: object) -> JsonValue:
    if isinstance(value, Mapping):
        return MappingProxyType(extras_of(value))
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    if value is None or isinstance(value, str | bool):
        return value
    # Numbers are kept as their exact text: extras are for people reading the journal.
    return str(value)


def lowered(pairs: Iterable[tuple[str, str]]) -> dict[str, object]:
    """Build a field map from text pairs with lower-cased keys; a repeated key is an error."""
    data: dict[str, object] = {}
    for key, value in pairs:
        name = key.strip().lower()
        if not name:
            fail("a field has an empty name", "malformed_text", None)
        if name in data:
            fail(f"{name} is given twice", "duplicate_field", name)
        data[name] = value.strip()
    return data
