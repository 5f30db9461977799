"""Read the native format written as ``key=value`` lines, for alerts that are easier as text.

Same fields and rules as the native JSON format; nested fields use dots
(``take_profit.ticks=40``, ``trailing_stop.trigger.ticks=20``), lists use commas
(``accounts=DEMO1,DEMO2``), ``#`` starts a comment line, and ``action``, ``ticker`` and ``qty``
are accepted for ``intent``, ``symbol`` and ``quantity``. Multi-target brackets need JSON.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.alerts import native
from shared.domain.alerts.coerce import fail
from shared.domain.signal import Signal

NAME = "native_text"

_ALIASES = {"action": "intent", "ticker": "symbol", "qty": "quantity"}
_MAX_DOTS = 2


def detect(data: Mapping[str, object]) -> bool:
    """Accept any ``key=value`` text that no other text format claimed."""
    return True


def read(data: Mapping[str, object]) -> Signal:
    """Build a signal from ``key=value`` pairs (keys already lower-cased)."""
    tree: dict[str, object] = {}
    for raw_key, value in data.items():
        path = raw_key.split(".")
        path[0] = _ALIASES.get(path[0], path[0])
        if len(path) > _MAX_DOTS + 1 or not all(path):
            fail(f"{raw_key} is not a field name", "unknown_field", raw_key)
        _put(tree, path, value, raw_key)
    return native.read(tree, NAME)


def _put(tree: dict[str, object], path: list[str], value: object, raw_key: str) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            fail(f"{raw_key} conflicts with {part}", "conflicting_fields", raw_key)
        node = child
    if path[-1] in node:
        fail(f"{raw_key} is given twice", "duplicate_field", raw_key)
    node[path[-1]] = value
