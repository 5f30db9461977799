"""Read ops API input: query parameters, JSON bodies, who is asking. Pure; 400 on bad input.

Bodies are strict: an unknown field is refused (``unknown_field``), never dropped, so a typo
such as ``"acount"`` cannot turn an account's flatten into everyone's. Times are ISO-8601 with
a zone (``Z`` or an offset) or epoch seconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.domain.errors import InvalidRequest

MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class Actor:
    """Say who made a change: the key's level and fingerprint, and a label they chose.

    The Functions host does not tell a Python function which named key a caller used, so the
    key is recorded by level (``master`` for admin routes, whose only key is the master key)
    and by a fingerprint (the first 12 hex digits of its SHA-256, never the key). ``label`` is
    what the caller says about themselves (``X-Ops-Actor``): recorded, not trusted.
    """

    key: str
    key_id: str | None
    label: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """Render for the journal and events."""
        return {"key": self.key, "key_id": self.key_id, "actor": self.label}


def actor_of(level: str, presented_key: str | None, label: str | None) -> Actor:
    """Return the actor for a request authorized at ``level`` with ``presented_key``."""
    key_id = None
    if presented_key:
        key_id = hashlib.sha256(presented_key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    clean = _clean_text(label, 64) if label else None
    return Actor(key="master" if level == "admin" else "function", key_id=key_id, label=clean)


def _clean_text(text: str, limit: int) -> str:
    # Control characters would let a caller forge lines in a log or a terminal.
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()[:limit]


class ScopeKind(StrEnum):
    """Name what a change applies to."""

    GLOBAL = "global"
    STRATEGY = "strategy"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class Scope:
    """The whole bridge, one strategy, or one account (by its name in the strategy file)."""

    kind: ScopeKind
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.kind is ScopeKind.GLOBAL) != (self.name is None):
            raise ValueError("a strategy or account scope needs a name; the global scope none")

    @property
    def label(self) -> str:
        """Render as ``global``, ``strategy:ID`` or ``account:NAME``."""
        return self.kind.value if self.name is None else f"{self.kind.value}:{self.name}"

    def to_dict(self) -> dict[str, str | None]:
        """Render for responses and the journal."""
        return {"kind": self.kind.value, "name": self.name}


def parse_body(raw: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    """Read a JSON object body (empty = ``{}``); refuse other JSON and unknown fields."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", code="invalid_json")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(
            f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})",
            code="unknown_field",
            field=unknown[0],
        )
    return body


def text_field(body: Mapping[str, Any], name: str, *, limit: int = 128) -> str | None:
    """Return a string field (stripped; None when absent or blank), or refuse another type."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string", code="invalid_field", field=name)
    cleaned = _clean_text(value, limit)
    return cleaned or None


def reason_of(body: Mapping[str, Any], *, required: bool = True) -> str | None:
    """Return the change's reason: required text of at most 500 characters."""
    value = body.get("reason")
    if isinstance(value, str) and len(value) > MAX_REASON_CHARS:
        raise InvalidRequest(
            f"reason is longer than {MAX_REASON_CHARS} characters",
            code="invalid_field",
            field="reason",
        )
    reason = text_field(body, "reason", limit=MAX_REASON_CHARS)
    if reason is None and required:
        raise InvalidRequest(
            "say why in reason (it is journaled with the change)",
            code="missing_reason",
            field="reason",
        )
    return reason


def scope_of(body: Mapping[str, Any]) -> Scope:
    """Return the scope a body names: ``strategy``, ``account``, or ``scope: "global"``.

    The whole bridge is never implied by leaving things out: it must be named.
    """
    kind = text_field(body, "scope")
    strategy, account = text_field(body, "strategy"), text_field(body, "account")
    if strategy is not None and account is not None:
        raise InvalidRequest(
            "name a strategy or an account, not both", code="ambiguous_scope", field="account"
        )
    if kind in ("global", "all"):
        if strategy is not None or account is not None:
            raise InvalidRequest(
                "the global scope names no strategy or account",
                code="ambiguous_scope",
                field="scope",
            )
        return Scope(ScopeKind.GLOBAL)
    if kind not in (None, "strategy", "account"):
        raise InvalidRequest(
            "scope is global, strategy or account", code="invalid_field", field="scope"
        )
    if strategy is not None and kind in (None, "strategy"):
        return Scope(ScopeKind.STRATEGY, strategy)
    if account is not None and kind in (None, "account"):
        return Scope(ScopeKind.ACCOUNT, account)
    raise InvalidRequest(
        'name a strategy, an account, or "scope": "global" for the whole bridge',
        code="missing_scope",
        field="scope",
    )


def flag(params: Mapping[str, str], name: str) -> bool:
    """Read a boolean query parameter: present without a value, ``true`` or ``1`` is true."""
    if name not in params:
        return False
    value = params[name].strip().lower()
    if value in ("", "true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise InvalidRequest(f"{name} is true or false", code="bad_filter", field=name)


def number(params: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """Read a number query parameter within [low, high]."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise InvalidRequest(
            f"{name} must be a number from {low:g} to {high:g}", code="bad_filter", field=name
        )
    return value


def moment(params: Mapping[str, str], name: str) -> datetime | None:
    """Read a time query parameter: ISO-8601 with a zone, or epoch seconds."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        if raw.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(raw), UTC)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except (ValueError, OverflowError, OSError):
        value = None
    if value is None or value.tzinfo is None:
        raise InvalidRequest(
            f"{name} is an ISO-8601 time with a zone (2026-11-20T15:00:00Z) or epoch seconds",
            code="bad_filter",
            field=name,
        )
    return value.astimezone(UTC)
