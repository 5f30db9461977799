"""Render notifications as messages, with account numbers and secrets masked (pure).

A message leaves this deployment for a chat service or a mailbox, so it never carries a
secret and never a whole account number:

- account names and ids (any ``account``/``account_id``/... field, an ``account:NAME`` scope)
  are shown as ``***`` and their last characters (``DEMO10001`` -> ``***0001``), wherever
  they appear in the text, the broker's own words included;
- known secret values (the webhook URL and its token, the SMTP password) and the value of any
  secret-like field (``shared.domain.masking``: ``key``, ``token``, ``password``, ...) become
  ``***``, in the text and in the structured event the JSON webhook sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.domain.masking import MASK, is_secret_name, mask_text
from shared.services.notify.model import Folded, Message, Notification, Severity

ACCOUNT_KEYS = frozenset(
    {"account", "account_id", "accountid", "account_name", "accountname", "accountspec"}
)
# Discord takes 2,000 characters of content, Telegram 4,096; stay under the smallest.
MAX_TEXT = 1900
_MAX_DEPTH = 6
_MIN_ACCOUNT_CHARS = 3


def mask_account(value: object) -> str:
    """Return an account name or id with all but its last characters (at most 4, at most half)
    replaced by ``***``."""
    text = str(value)
    shown = min(4, len(text) // 2)
    return MASK + (text[-shown:] if shown else "")


def _accounts_in(node: Any, found: set[str], depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, Mapping):
        for key, value in node.items():
            if str(key).lower() in ACCOUNT_KEYS and isinstance(value, str | int):
                found.add(str(value))
            elif key == "scope" and isinstance(value, str) and value.startswith("account:"):
                found.add(value.removeprefix("account:"))
            else:
                _accounts_in(value, found, depth + 1)
    elif isinstance(node, list | tuple):
        for item in node:
            _accounts_in(item, found, depth + 1)


def account_values(event: Mapping[str, Any]) -> list[str]:
    """Return the account names and ids an event names, longest first (for masking)."""
    found: set[str] = set()
    _accounts_in(event, found)
    return sorted((a for a in found if a), key=len, reverse=True)


def _mask_accounts(text: str, accounts: Iterable[str]) -> str:
    for account in accounts:
        if len(account) >= _MIN_ACCOUNT_CHARS:  # a one- or two-character id would mangle text
            text = text.replace(account, mask_account(account))
    return text


def _clean(text: str, accounts: Iterable[str], secrets: Iterable[str]) -> str:
    return mask_text(_mask_accounts(text, accounts), secrets)


def sanitize(node: Any, accounts: list[str], secrets: list[str], depth: int = 0) -> Any:
    """Return a copy of an event with secret-like fields, secrets and accounts masked."""
    if depth > _MAX_DEPTH:
        return MASK
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            name = str(key)
            if is_secret_name(name):
                out[name] = MASK
            elif name.lower() in ACCOUNT_KEYS and isinstance(value, str | int):
                out[name] = mask_account(value)
            else:
                out[name] = sanitize(value, accounts, secrets, depth + 1)
        return out
    if isinstance(node, list | tuple):
        return [sanitize(item, accounts, secrets, depth + 1) for item in node]
    if isinstance(node, str):
        return _clean(node, accounts, secrets)
    return node


def _fit(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def render(notification: Notification, secrets: Iterable[str] = ()) -> Message:
    """Render one notification for every channel."""
    known = [s for s in secrets if s]
    accounts = account_values(notification.event)
    severity = notification.severity
    title = _clean(notification.title, accounts, known)
    body = [f"[{severity.value.upper()}] {title}"]
    body += [_clean(line, accounts, known) for line in notification.lines if line]
    body.append(f"{notification.at} · {notification.kind.value}")
    text = _fit("\n".join(body))
    fields = {
        "kind": notification.kind.value,
        "severity": severity.value,
        "title": title,
        "subject": _clean(notification.subject, accounts, known),
        "at": notification.at,
        "lines": [_clean(line, accounts, known) for line in notification.lines if line],
        "event": sanitize(notification.event, accounts, known),
    }
    return Message(title=title, text=text, severity=severity, fields=fields)


def render_summary(folded: Folded) -> Message:
    """Render what a rate limit held back as one message (counts per kind, first and last)."""
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(folded.per_kind.items()))
    title = f"{folded.total} more notification(s) held back by the rate limit"
    text = "\n".join(
        (
            f"[{Severity.WARNING.value.upper()}] {title}",
            f"by kind: {kinds or 'none'}",
            f"first {folded.first_at or '?'}, last {folded.last_at or '?'}",
            "details: the events table, GET /api/signals and the logs",
        )
    )
    fields = {
        "kind": "summary",
        "severity": Severity.WARNING.value,
        "title": title,
        "subject": "summary",
        "at": folded.last_at,
        "total": folded.total,
        "per_kind": dict(folded.per_kind),
        "first_at": folded.first_at,
        "last_at": folded.last_at,
    }
    return Message(title=title, text=_fit(text), severity=Severity.WARNING, fields=fields)
