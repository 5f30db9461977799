"""Read the ``{webhook_type, secret, action, side, symbol, quantity, strategy}`` shape.

``action`` says what to do (entry/open, exit/close, buy, sell, cancel, reverse, add) and ``side``
which way. For an exit, ``side`` names the position being left, in either vocabulary: ``long``
or ``buy`` leaves a long position with a sell. Detected by its ``webhook_type`` field, which is
kept for the journal.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.alerts.coerce import fail, maybe, to_decimal, to_text
from shared.domain.alerts.common import read_side, read_symbol
from shared.domain.alerts.fields import Fields, extras_of
from shared.domain.signal import Intent, Side, Signal

NAME = "webhook_type"

_ACTIONS: dict[str, Intent | None] = {
    "entry": None,
    "enter": None,
    "open": None,
    "buy": Intent.BUY,
    "sell": Intent.SELL,
    "exit": Intent.EXIT,
    "close": Intent.CLOSE,
    "flat": Intent.FLAT,
    "cancel": Intent.CANCEL,
    "reverse": Intent.REVERSE,
    "add": Intent.ADD,
}
_EXITS = frozenset({Intent.EXIT, Intent.CLOSE})


def detect(data: Mapping[str, object]) -> bool:
    """Recognise the shape by its ``webhook_type`` field."""
    return "webhook_type" in data


def read(data: Mapping[str, object]) -> Signal:
    """Build a signal from a ``webhook_type`` object."""
    f = Fields(data)
    action = f.get("action")
    if action is None:
        fail("action is required", "missing_field", "action")
    word = to_text(action, "action", max_chars=20).lower()
    if word not in _ACTIONS:
        fail(f"action must be one of {', '.join(_ACTIONS)}", "invalid_choice", "action")
    side = maybe(read_side, f.get("side"), "side")
    intent = _ACTIONS[word]
    if intent is None:
        if side is None:
            fail(f"action {word} needs a side", "missing_field", "side")
        intent = Intent.BUY if side is Side.BUY else Intent.SELL
    if intent in _EXITS and side is not None:
        side = side.opposite
    return Signal(
        source=NAME,
        intent=intent,
        side=side,
        symbol=read_symbol(f.get("symbol"), "symbol"),
        quantity=maybe(to_decimal, f.get("quantity"), "quantity"),
        strategy=maybe(to_text, f.get("strategy"), "strategy"),
        extras=extras_of(f.rest()),
    )
