"""Serialise a :class:`Signal` to JSON text and back, exactly, for queue messages and the journal.

The JSON mirrors the Signal's own field names (not any alert format): enums as their values,
decimals as strings so no digit is lost, times as ISO-8601, absent fields as null. Decoding is
driven by the Signal's type hints (``shared.domain.codec``), so a new Signal field needs no change
here, and it validates again: a message that was tampered with or written by an older version is
an ``InvalidSignal``.
"""

from __future__ import annotations

import json

from shared.domain.alerts.coerce import fail
from shared.domain.codec import decode, encode
from shared.domain.signal import Signal

FORMAT_VERSION = 1


def signal_to_json(signal: Signal) -> str:
    """Render ``signal`` as compact JSON text."""
    body = {"v": FORMAT_VERSION, "signal": encode(signal)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def signal_from_json(text: str | bytes) -> Signal:
    """Rebuild a signal from :func:`signal_to_json` output, or raise ``InvalidSignal``."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        fail("the signal message is not JSON", "malformed_signal_message", None)
    if not isinstance(body, dict) or body.get("v") != FORMAT_VERSION:
        fail("the signal message has an unknown version", "malformed_signal_message", "v")
    return decode(Signal, body.get("signal"), "signal")
