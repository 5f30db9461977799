"""Read Redis replies, which arrive as bytes (or str from a decoding client), as text."""

from __future__ import annotations

from typing import Any


def text(raw: bytes | str | Any) -> str:
    """Return a reply as text."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def optional_text(raw: bytes | str | Any | None) -> str | None:
    """Return a reply as text, keeping None (a missing key) as None."""
    return None if raw is None else text(raw)
