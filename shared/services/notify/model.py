"""Name what a notification is: its kind, its severity, and what a message carries.

Each kind has one severity (``KIND_SEVERITY``). A recovery (the worker is back, a kill switch is
released) keeps the severity of its kind, so whoever was told of the problem is told it ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """Say how urgent a notification is; ``rank`` orders them."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Return 0 for info, 1 for warning, 2 for critical."""
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Kind(StrEnum):
    """Name each kind of notification (the values ``NOTIFY_KINDS`` lists)."""

    ORDER_REJECTED = "order_rejected"
    DEAD_LETTER = "dead_letter"
    KILL_SWITCH = "kill_switch"
    DAILY_LOSS = "daily_loss"
    UNPROTECTED_ENTRY = "unprotected_entry"
    WORKER_DOWN = "worker_down"
    SOCKET_DOWN = "socket_down"
    TOKEN_RENEWAL = "token_renewal"  # noqa: S105 - a kind's name, not a credential
    DRIFT = "drift"
    CONTRACT_ROLLED = "contract_rolled"


KIND_SEVERITY: Mapping[Kind, Severity] = {
    Kind.ORDER_REJECTED: Severity.WARNING,
    Kind.DEAD_LETTER: Severity.CRITICAL,
    Kind.KILL_SWITCH: Severity.WARNING,
    Kind.DAILY_LOSS: Severity.CRITICAL,
    Kind.UNPROTECTED_ENTRY: Severity.CRITICAL,
    Kind.WORKER_DOWN: Severity.CRITICAL,
    Kind.SOCKET_DOWN: Severity.CRITICAL,
    Kind.TOKEN_RENEWAL: Severity.CRITICAL,
    Kind.DRIFT: Severity.WARNING,
    Kind.CONTRACT_ROLLED: Severity.WARNING,
}


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing to tell the trader, before rendering.

    ``subject`` says what it is about; with ``kind`` it is the de-duplication key, so the
    same rejection delivered twice, or the same drift found by two reconcile runs, is sent
    once per window. ``event`` is the event as published (masked when rendered).
    """

    kind: Kind
    title: str
    subject: str
    at: str
    lines: tuple[str, ...] = ()
    event: Mapping[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        """Return the kind's severity."""
        return KIND_SEVERITY[self.kind]


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered notification: what every channel sends, in its own format.

    ``text`` is the chat text, ``title`` the e-mail subject line, ``fields`` the structured
    form the plain JSON webhook sends (``kind``, ``severity``, ``subject``, ``event``, ...).
    Everything here is already masked.
    """

    title: str
    text: str
    severity: Severity
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Folded:
    """What a channel's rate limit held back since its last summary."""

    total: int
    per_kind: Mapping[str, int]
    first_at: str | None
    last_at: str | None
