"""Build the notifier from settings: its channels, its Redis state and what it must mask.

Used by both composition roots (``shared.container`` for the ``notify`` timer, ``worker.app``
for the worker's loop). A channel is configured by its settings:

- **webhook** when ``NOTIFY_WEBHOOK_URL`` is set (https; http only to this machine);
- **email** when ``NOTIFY_EMAIL_TO`` is set, through ACS when ``NOTIFY_ACS_ENDPOINT`` (managed
  identity) or ``NOTIFY_ACS_CONNECTION_STRING`` is set, else through ``SMTP_HOST``.

A channel whose settings are incomplete (Telegram without a chat id, e-mail without a sender or
a transport) is still built, as a sender that fails with the reason, so the health endpoint
shows what to fix instead of the channel silently missing. With no channel configured there
is no notifier: nothing reads the feed, which stays bounded by its ``MAXLEN``.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from shared.config import Settings
from shared.ports import Clock
from shared.services.notify.model import Message, Severity
from shared.services.notify.notifier import Notifier
from shared.services.notify.policy import NotifyPolicy, parse_kinds
from shared.services.notify.ports import DeliveryFailed, Sender

WEBHOOK = "webhook"
EMAIL = "email"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_TOKEN_CHARS = 16  # path segments this long are tokens (Discord, Telegram) masked on their own


class MisconfiguredSender:
    """Stand in for a channel whose settings are incomplete: every send fails, saying why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def send(self, message: Message) -> None:
        """Fail with the configuration problem."""
        raise DeliveryFailed(f"not configured: {self.reason}", retryable=False)

    async def aclose(self) -> None:
        """Nothing to release."""


def _webhook(settings: Settings) -> Sender | None:
    if settings.notify_webhook_url is None:
        return None
    url = settings.notify_webhook_url.get_secret_value().strip()
    parts = urlsplit(url)
    local = parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    if parts.scheme != "https" and not local:
        return MisconfiguredSender("NOTIFY_WEBHOOK_URL must be an https:// URL")
    from shared.adapters.notify_webhook import WebhookSender, detect_flavour

    flavour = detect_flavour(url, settings.notify_webhook_format)
    chat_id = settings.notify_telegram_chat_id.strip() or None
    if flavour == "telegram" and chat_id is None:
        return MisconfiguredSender("a Telegram webhook needs NOTIFY_TELEGRAM_CHAT_ID")
    return WebhookSender(url, flavour, chat_id=chat_id)


def _email(settings: Settings) -> Sender | None:
    to = settings.notify_email_to
    if not to:
        return None
    sender = settings.notify_email_from.strip()
    if not sender:
        return MisconfiguredSender("e-mail needs NOTIFY_EMAIL_FROM (the sender address)")
    connection = settings.notify_acs_connection_string
    if settings.notify_acs_endpoint or connection is not None:
        from shared.adapters.notify_email import AcsEmailSender, acs_client_factory

        factory, credential = acs_client_factory(
            settings.notify_acs_endpoint or None,
            connection.get_secret_value() if connection is not None else None,
            settings.azure_client_id,
        )
        return AcsEmailSender(factory, sender=sender, recipients=to, credential=credential)
    if settings.smtp_host:
        from shared.adapters.notify_email import SmtpSender

        password = settings.smtp_password
        return SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            sender=sender,
            recipients=to,
            username=settings.smtp_username or None,
            password=password.get_secret_value() if password is not None else None,
            starttls=settings.smtp_starttls,
        )
    return MisconfiguredSender("e-mail needs NOTIFY_ACS_ENDPOINT or SMTP_HOST")


def build_senders(settings: Settings) -> dict[str, Sender]:
    """Return the configured channels by name (``webhook``, ``email``)."""
    built = {WEBHOOK: _webhook(settings), EMAIL: _email(settings)}
    return {name: sender for name, sender in built.items() if sender is not None}


def notify_secrets(settings: Settings) -> list[str]:
    """Return the values no message or stored error may show: the webhook URL and its tokens,
    the SMTP password, the ACS connection string."""
    found: list[str] = []
    for secret in (
        settings.notify_webhook_url,
        settings.smtp_password,
        settings.notify_acs_connection_string,
    ):
        if secret is not None and secret.get_secret_value():
            found.append(secret.get_secret_value())
    if settings.notify_webhook_url is not None:
        path = urlsplit(settings.notify_webhook_url.get_secret_value()).path
        found += [part for part in path.split("/") if len(part) >= _TOKEN_CHARS]
    return found


def policy_of(settings: Settings) -> NotifyPolicy:
    """Return the kinds and per-channel minimum severities the settings choose."""
    return NotifyPolicy(
        kinds=parse_kinds(settings.notify_kinds),
        min_severity={
            WEBHOOK: Severity(settings.notify_min_severity),
            EMAIL: Severity(settings.notify_email_min_severity),
        },
    )


def consumer_name() -> str:
    """Name this process in the notifiers' consumer group."""
    return f"{socket.gethostname()}-{os.getpid()}"


def configured_channels(settings: Settings) -> tuple[str, ...]:
    """Name the channels the settings configure, without building them."""
    names = []
    if settings.notify_webhook_url is not None:
        names.append(WEBHOOK)
    if settings.notify_email_to:
        names.append(EMAIL)
    return tuple(names)


def build_notifier(settings: Settings, client: aioredis.Redis, clock: Clock) -> Notifier | None:
    """Return the notifier over ``client``, or None when no channel is configured."""
    senders = build_senders(settings)
    if not senders:
        return None
    from shared.adapters.notify_feed import RedisNotifyFeed
    from shared.adapters.notify_state import RedisNotifyGate, RedisStatusBook

    gate = RedisNotifyGate(
        client,
        dedupe_s=settings.notify_dedupe_s,
        limit=settings.notify_rate_limit,
        window_s=settings.notify_rate_window_s,
    )
    return Notifier(
        RedisNotifyFeed(client, consumer_name()),
        gate,
        RedisStatusBook(client),
        senders,
        policy_of(settings),
        clock,
        secrets=notify_secrets(settings),
    )
