"""Send notifications by e-mail: Azure Communication Services, or an SMTP server.

- ``AcsEmailSender`` uses the ACS ``EmailClient`` (imported on first send): with
  ``NOTIFY_ACS_ENDPOINT`` it signs in with the app's managed identity (the deployment grants it
  "Communication and Email Service Owner" on the ACS resource); with
  ``NOTIFY_ACS_CONNECTION_STRING`` (the local stack) with the resource's key. The send is
  accepted by ACS (``begin_send`` without polling for the final delivery): waiting for the
  mailbox would hold the notifier for seconds per message.
- ``SmtpSender`` uses the standard library's ``smtplib`` in a worker thread (it blocks), with
  STARTTLS unless ``SMTP_STARTTLS=false`` (port 465 speaks TLS from the start), and logs in
  when ``SMTP_USERNAME`` is set.

Both turn every error into ``DeliveryFailed`` with a sentence that names no secret: refused
credentials and refused addresses are final, timeouts, 4xx SMTP replies, HTTP 429 and 5xx are
retryable.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from shared.services.notify.model import Message
from shared.services.notify.ports import DeliveryFailed

if TYPE_CHECKING:
    from azure.communication.email.aio import EmailClient

_SUBJECT_CHARS = 150
_SMTP_TRANSIENT = 400
_SMTP_FINAL = 500
_SMTPS_PORT = 465
_FORBIDDEN = (401, 403)
_RETRYABLE_HTTP = 429
_SERVER_ERROR = 500


def subject_of(message: Message) -> str:
    """Return the e-mail subject of a message (one line, bounded)."""
    subject = f"[Tradebridge] {message.severity.value}: {message.title}"
    return " ".join(subject.split())[:_SUBJECT_CHARS]


def build_email(message: Message, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """Return the MIME message SMTP sends."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = subject_of(message)
    mail.set_content(message.text)
    return mail


SmtpFactory = Callable[..., smtplib.SMTP]


class SmtpSender:
    """Send each message through one SMTP server, in a thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        smtp_factory: SmtpFactory | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._recipients = tuple(recipients)
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout_s = timeout_s
        self._context = ssl_context or ssl.create_default_context()
        self._factory = smtp_factory

    def _connect(self) -> smtplib.SMTP:
        if self._factory is not None:
            return self._factory(self._host, self._port, timeout=self._timeout_s)
        if self._port == _SMTPS_PORT:
            return smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout_s, context=self._context
            )
        return smtplib.SMTP(self._host, self._port, timeout=self._timeout_s)

    def _send_blocking(self, message: Message) -> None:
        mail = build_email(message, self._sender, self._recipients)
        with self._connect() as smtp:
            smtp.ehlo()
            if self._starttls and self._port != _SMTPS_PORT:
                smtp.starttls(context=self._context)
                smtp.ehlo()
            if self._username:
                smtp.login(self._username, self._password or "")
            smtp.send_message(mail)

    async def send(self, message: Message) -> None:
        """Send one message; raise ``DeliveryFailed``."""
        try:
            await asyncio.to_thread(self._send_blocking, message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(
                f"SMTP server refused the login ({exc.smtp_code})", retryable=False
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryFailed(
                "SMTP server does not offer STARTTLS or AUTH", retryable=False
            ) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryFailed("SMTP server refused the recipients", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            retryable = _SMTP_TRANSIENT <= exc.smtp_code < _SMTP_FINAL
            raise DeliveryFailed(
                f"SMTP server answered {exc.smtp_code}", retryable=retryable
            ) from None
        except ssl.SSLCertVerificationError:
            raise DeliveryFailed(
                "SMTP server's certificate is not trusted", retryable=False
            ) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            # Connection refused, timeouts, TLS failures, a dropped connection.
            raise DeliveryFailed(
                f"SMTP server could not be reached: {type(exc).__name__}", retryable=True
            ) from None

    async def aclose(self) -> None:
        """Nothing to release: each send opens and closes its own connection."""


ClientFactory = Callable[[], "EmailClient"]


def acs_client_factory(
    endpoint: str | None, connection_string: str | None, client_id: str | None
) -> tuple[ClientFactory, Callable[[], Any]]:
    """Return a factory of the ACS client and one of the credential it closes with it."""
    made: dict[str, Any] = {}

    def client() -> EmailClient:
        from azure.communication.email.aio import EmailClient

        options = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 10}
        if connection_string:
            return EmailClient.from_connection_string(connection_string, **options)
        from azure.identity.aio import DefaultAzureCredential

        made["credential"] = DefaultAzureCredential(managed_identity_client_id=client_id)
        return EmailClient(str(endpoint), made["credential"], **options)

    return client, lambda: made.get("credential")


class AcsEmailSender:
    """Send each message through Azure Communication Services Email."""

    def __init__(
        self,
        client_factory: ClientFactory,
        *,
        sender: str,
        recipients: Sequence[str],
        timeout_s: float = 15.0,
        credential: Callable[[], Any] | None = None,
    ) -> None:
        self._factory = client_factory
        self._client: EmailClient | None = None
        self._sender = sender
        self._recipients = tuple(recipients)
        self._timeout_s = timeout_s
        self._credential = credential

    def content(self, message: Message) -> dict[str, Any]:
        """Return the ACS send request for a message."""
        return {
            "senderAddress": self._sender,
            "recipients": {"to": [{"address": address} for address in self._recipients]},
            "content": {"subject": subject_of(message), "plainText": message.text},
        }

    async def send(self, message: Message) -> None:
        """Hand one message to ACS; raise ``DeliveryFailed``."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
        )

        if self._client is None:
            self._client = self._factory()
        try:
            async with asyncio.timeout(self._timeout_s):
                poller = await self._client.begin_send(self.content(message), polling=False)
                result = await poller.result()
        except TimeoutError:
            raise DeliveryFailed("ACS did not answer in time", retryable=True) from None
        except ClientAuthenticationError as exc:
            raise DeliveryFailed(
                f"ACS refused this app's identity: {type(exc).__name__}", retryable=False
            ) from None
        except HttpResponseError as exc:
            status = exc.status_code or 0
            if status in _FORBIDDEN:
                raise DeliveryFailed(
                    f"ACS refused this app's identity (HTTP {status}); it needs the role "
                    "Communication and Email Service Owner on the resource",
                    retryable=False,
                ) from None
            retryable = status == _RETRYABLE_HTTP or status >= _SERVER_ERROR
            raise DeliveryFailed(f"ACS answered HTTP {status}", retryable=retryable) from None
        except (ServiceRequestError, OSError) as exc:
            raise DeliveryFailed(
                f"ACS could not be reached: {type(exc).__name__}", retryable=True
            ) from None
        outcome = str(result.get("status", "")) if isinstance(result, dict) else ""
        if outcome.lower() == "failed":
            raise DeliveryFailed("ACS reported the send as failed", retryable=False)

    async def aclose(self) -> None:
        """Close the ACS client and its credential."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        credential = self._credential() if self._credential is not None else None
        if credential is not None:
            await credential.close()
