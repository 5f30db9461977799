"""Choose what each channel receives: the kinds it wants, and how severe they must be.

``NOTIFY_KINDS`` is ``all`` (the default) or a comma-separated list of kinds (``Kind``); a
kind not listed is never sent. ``NOTIFY_MIN_SEVERITY`` (``info``, ``warning``, ``critical``)
is the least severity the webhook sends, ``NOTIFY_EMAIL_MIN_SEVERITY`` the least the e-mail
sends (``critical`` by default: a mailbox is for what must not be missed). A notification
goes to a channel when its kind is selected and its severity reaches the channel's minimum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.services.notify.model import Kind, Notification, Severity

ALL = "all"


def parse_kinds(text: str) -> frozenset[Kind]:
    """Read ``NOTIFY_KINDS``; raise ``ValueError`` naming an unknown kind."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names or names == [ALL]:
        return frozenset(Kind)
    unknown = sorted(set(names) - {k.value for k in Kind})
    if unknown:
        known = ", ".join(k.value for k in Kind)
        raise ValueError(f"unknown notification kind(s) {', '.join(unknown)}; known: all, {known}")
    return frozenset(Kind(n) for n in names)


@dataclass(frozen=True, slots=True)
class NotifyPolicy:
    """Hold the selected kinds and each channel's minimum severity."""

    kinds: frozenset[Kind] = frozenset(Kind)
    min_severity: Mapping[str, Severity] = field(default_factory=dict)
    default_min: Severity = Severity.INFO

    def wants(self, channel: str, notification: Notification) -> bool:
        """Tell whether ``channel`` should receive ``notification``."""
        least = self.min_severity.get(channel, self.default_min)
        return notification.kind in self.kinds and notification.severity.rank >= least.rank
