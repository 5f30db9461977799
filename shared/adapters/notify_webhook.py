"""Send notifications to a chat webhook: Discord, Slack, Telegram, or any JSON endpoint.

The format comes from ``NOTIFY_WEBHOOK_FORMAT`` or, with ``auto``, from the URL's host:

==========  =====================================  ==========================================
format      detected from                          body
==========  =====================================  ==========================================
discord     ``discord.com/api/webhooks/...``       ``{"content": text}`` (mentions disabled)
slack       ``hooks.slack.com``                    ``{"text": text}``
telegram    ``api.telegram.org/bot<token>/...``    ``{"chat_id", "text"}`` to ``sendMessage``
json        anything else                          the structured message plus ``"text"``
==========  =====================================  ==========================================

One ``httpx.AsyncClient`` per sender with short timeouts and no redirects. httpx logs every
request's URL at INFO; a filter on its logger shows this sender's URL as ``scheme://host/***``
(the other clients' lines are untouched). Errors become
``DeliveryFailed`` whose text never holds the URL (it is a secret: it grants posting):
timeouts, connection failures, 429 (with the service's retry delay) and 5xx are retryable,
any other answer that is not 2xx is not.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from shared.services.notify.model import Message
from shared.services.notify.ports import DeliveryFailed

Flavour = Literal["json", "discord", "slack", "telegram"]
FLAVOURS: tuple[Flavour, ...] = ("json", "discord", "slack", "telegram")
_DISCORD_HOSTS = frozenset(
    {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
)
_OK = 200
_REDIRECT = 300  # redirects are not followed: a URL that moved is a URL to fix
_TOO_MANY = 429
_SERVER_ERROR = 500
_REASON_CHARS = 120


class _HideWebhookUrls(logging.Filter):
    """Show the webhook URLs registered here as ``scheme://host/***`` in httpx's log lines."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def _masked(self, arg: object) -> object:
        text = str(arg)
        for url in self.urls:
            if url in text:
                parts = urlsplit(url)
                return text.replace(url, f"{parts.scheme}://{parts.hostname}/***")
        return arg

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the URLs in the record's arguments; keep the record."""
        if self.urls and isinstance(record.args, tuple):
            record.args = tuple(self._masked(arg) for arg in record.args)
        return True


_HIDE_URLS = _HideWebhookUrls()
logging.getLogger("httpx").addFilter(_HIDE_URLS)


def detect_flavour(url: str, setting: str = "auto") -> Flavour:
    """Return the body format for ``url``: the setting unless ``auto``, else from the host."""
    for flavour in FLAVOURS:
        if setting == flavour:
            return flavour
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in _DISCORD_HOSTS and parts.path.startswith("/api/webhooks/"):
        return "discord"
    if host == "hooks.slack.com":
        return "slack"
    if host == "api.telegram.org":
        return "telegram"
    return "json"


def telegram_url(url: str) -> str:
    """Return the ``sendMessage`` URL of a bot URL given as ``.../bot<token>`` or in full."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/sendMessage"):
        path = f"{path}/sendMessage"
    return parts._replace(path=path, query="").geturl()


def body(flavour: Flavour, message: Message, chat_id: str | None = None) -> dict[str, Any]:
    """Return the JSON body one flavour of webhook takes for a message."""
    if flavour == "discord":
        return {"content": message.text, "allowed_mentions": {"parse": []}}
    if flavour == "slack":
        return {"text": message.text}
    if flavour == "telegram":
        return {"chat_id": chat_id, "text": message.text, "disable_web_page_preview": True}
    return {**message.fields, "text": message.text}


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("retry-after")
    if header:
        try:
            return float(header)
        except ValueError:
            return None
    try:
        doc = response.json()
    except ValueError:
        return None
    if isinstance(doc, dict):
        # Discord: {"retry_after": 1.5}; Telegram: {"parameters": {"retry_after": 3}}.
        value = doc.get("retry_after") or (doc.get("parameters") or {}).get("retry_after")
        if isinstance(value, int | float):
            return float(value)
    return None


def _reason(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        text = response.text
    else:
        found = doc.get("description") or doc.get("message") if isinstance(doc, dict) else None
        text = str(found) if found else json.dumps(doc)[:_REASON_CHARS]
    return " ".join(text.split())[:_REASON_CHARS]


def failure_of(response: httpx.Response) -> DeliveryFailed | None:
    """Return the failure an answer means, or None for a success (2xx); 429 and 5xx are
    retryable, anything else is final."""
    status = response.status_code
    if _OK <= status < _REDIRECT:
        return None
    detail = f"webhook answered HTTP {status}"
    reason = _reason(response)
    if reason:
        detail = f"{detail}: {reason}"
    if status == _TOO_MANY:
        return DeliveryFailed(detail, retryable=True, retry_after_s=_retry_after(response))
    return DeliveryFailed(detail, retryable=status >= _SERVER_ERROR)


class WebhookSender:
    """Post messages to one webhook URL."""

    def __init__(
        self,
        url: str,
        flavour: Flavour,
        *,
        chat_id: str | None = None,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = telegram_url(url) if flavour == "telegram" else url
        _HIDE_URLS.urls.add(self._url)
        self._flavour = flavour
        self._chat_id = chat_id
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
            follow_redirects=False,
            transport=transport,
            headers={"user-agent": "tradebridge-notify"},
        )

    @property
    def flavour(self) -> Flavour:
        """Return the body format in use."""
        return self._flavour

    async def send(self, message: Message) -> None:
        """Post one message; raise ``DeliveryFailed``."""
        try:
            response = await self._client.post(
                self._url, json=body(self._flavour, message, self._chat_id)
            )
        except httpx.TimeoutException:
            raise DeliveryFailed("webhook did not answer in time", retryable=True) from None
        except httpx.HTTPError as exc:
            # The exception's text may hold the URL; only its type is kept.
            raise DeliveryFailed(
                f"webhook could not be reached: {type(exc).__name__}", retryable=True
            ) from None
        failure = failure_of(response)
        if failure is not None:
            raise failure

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
        _HIDE_URLS.urls.discard(self._url)
