"""Read the ``{webhook_type, secret, action, side, symbol, quantity, strategy}`` shape.

``action`` says what to do (entry/open, exit/close, buy, sell, cancel, reverse, add) and ``side``
which way. For an exit, ``side`` names the position being left, in either vocabulary: ``long``
or ``buy`` leaves a long position with a sell. Detected by its ``webhook_type`` field, which is
kept for the journal. Every other field is read as in the simple shapes (``simple_json``): the
order fields, brackets, accounts and position placeholders, or refused when unread.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.alerts.coerce import fail
from shared.domain.alerts.fields import Fields
from shared.domain.alerts.simple_json import read_simple
from shared.domain.signal import Signal

NAME = "webhook_type"


def detect(data: Mapping[str, object]) -> bool:
    """Recognise the shape by its ``webhook_type`` field."""
    return "webhook_type" in data


def read(data: Mapping[str, object]) -> Signal:
    """Build a signal from a ``webhook_type`` object."""
    if not Fields(data).has("action"):
        fail("action is required", "missing_field", "action")
    return read_simple(data, NAME)
