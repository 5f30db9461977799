"""E-mail at its seams: SMTP against a small local receiver (STARTTLS, AUTH), ACS against a
fake ``EmailClient``."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any

import pytest

from local.azurelike.tls import TlsFiles, make_tls_files
from shared.adapters.notify_email import AcsEmailSender, SmtpSender, subject_of
from shared.services.notify.model import Message, Severity
from shared.services.notify.ports import DeliveryFailed

MESSAGE = Message(
    title="Signal dead-lettered on queue signals",
    text="[CRITICAL] Signal dead-lettered on queue signals\nMaxDeliveryCountExceeded",
    severity=Severity.CRITICAL,
)
USER, PASSWORD = "bot@example.com", "smtp-pass-123"


@dataclass
class Receiver:
    """A minimal SMTP server on a thread: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    context: ssl.SSLContext
    port: int = 0
    mails: list[dict[str, Any]] = field(default_factory=list)
    tls_used: list[bool] = field(default_factory=list)
    auth_ok: bool = True
    _server: socket.socket | None = None

    def start(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        session = _Session(self, conn)
        try:
            session.run()
        except (OSError, ValueError):
            return  # the client gave up (a refused certificate, a dropped connection)
        finally:
            session.stream.close()


class _Session:
    """One SMTP conversation; each verb has its handler."""

    def __init__(self, receiver: Receiver, conn: socket.socket) -> None:
        self.receiver = receiver
        self.conn = conn
        self.stream: Any = conn
        self.reader = conn.makefile("rb")
        self.tls = False
        self.mail: dict[str, Any] = {"rcpt": []}

    def say(self, line: str) -> None:
        self.stream.sendall(line.encode() + b"\r\n")

    def run(self) -> None:
        self.say("220 test ESMTP")
        while line := self.reader.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "QUIT":
                self.say("221 bye")
                return
            getattr(self, f"on_{verb.lower()}", self.on_other)(command)

    def on_ehlo(self, command: str) -> None:
        for part in ("250-test", "250-AUTH PLAIN" if self.tls else "250-STARTTLS"):
            self.say(part)
        self.say("250 OK")

    def on_starttls(self, command: str) -> None:
        self.say("220 go ahead")
        self.stream = self.receiver.context.wrap_socket(self.conn, server_side=True)
        self.reader, self.tls = self.stream.makefile("rb"), True

    def on_auth(self, command: str) -> None:
        _, user, password = base64.b64decode(command.split()[2]).split(b"\0")
        good = self.receiver.auth_ok and (user.decode(), password.decode()) == (USER, PASSWORD)
        self.say("235 ok" if good else "535 authentication failed")

    def on_mail(self, command: str) -> None:
        self.mail["from"] = command
        self.say("250 ok")

    def on_rcpt(self, command: str) -> None:
        self.mail["rcpt"].append(command)
        self.say("250 ok")

    def on_data(self, command: str) -> None:
        self.say("354 end with .")
        data = b""
        while (chunk := self.reader.readline()) != b".\r\n":
            data += chunk
        self.mail["data"] = message_from_bytes(data)
        self.receiver.mails.append(self.mail)
        self.receiver.tls_used.append(self.tls)
        self.say("250 queued")

    def on_other(self, command: str) -> None:
        self.say("250 ok")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def receiver(tls: TlsFiles) -> Iterator[Receiver]:
    files = tls
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.server_cert, files.server_key)
    server = Receiver(context)
    server.start()
    yield server
    server.stop()


def smtp(receiver: Receiver, tls: TlsFiles, **overrides: Any) -> SmtpSender:
    options: dict[str, Any] = {
        "sender": USER,
        "recipients": ["trader@example.com", "backup@example.com"],
        "username": USER,
        "password": PASSWORD,
        "ssl_context": ssl.create_default_context(cafile=str(tls.ca_cert)),
        "timeout_s": 5.0,
    }
    options.update(overrides)
    return SmtpSender("127.0.0.1", receiver.port, **options)


async def test_smtp_with_starttls_and_login_delivers_the_message(
    receiver: Receiver, tls: TlsFiles
) -> None:
    await smtp(receiver, tls).send(MESSAGE)
    [mail] = receiver.mails
    assert receiver.tls_used == [True]
    assert mail["data"]["Subject"] == subject_of(MESSAGE)
    assert mail["data"]["To"] == "trader@example.com, backup@example.com"
    assert len(mail["rcpt"]) == 2
    assert "MaxDeliveryCountExceeded" in mail["data"].get_payload()


async def test_smtp_with_a_refused_login_fails_for_good_without_the_password(
    receiver: Receiver, tls: TlsFiles
) -> None:
    receiver.auth_ok = False
    with pytest.raises(DeliveryFailed) as failed:
        await smtp(receiver, tls).send(MESSAGE)
    assert not failed.value.retryable
    assert "535" in failed.value.detail
    assert PASSWORD not in failed.value.detail
    assert receiver.mails == []


async def test_smtp_with_an_untrusted_certificate_is_refused(
    receiver: Receiver, tls: TlsFiles
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await smtp(receiver, tls, ssl_context=ssl.create_default_context()).send(MESSAGE)
    assert not failed.value.retryable
    assert "not trusted" in failed.value.detail
    assert receiver.mails == []


async def test_smtp_with_nothing_listening_is_retryable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    sender = SmtpSender("127.0.0.1", port, sender=USER, recipients=["t@example.com"])
    with pytest.raises(DeliveryFailed, match="could not be reached") as failed:
        await sender.send(MESSAGE)
    assert failed.value.retryable


class FakePoller:
    def __init__(self, outcome: dict[str, Any]) -> None:
        self.outcome = outcome

    async def result(self) -> dict[str, Any]:
        return self.outcome


class FakeEmailClient:
    def __init__(self, error: Exception | None = None, status: str = "Running") -> None:
        self.error = error
        self.status = status
        self.sent: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.closed = False

    async def begin_send(self, message: dict[str, Any], **kwargs: Any) -> FakePoller:
        if self.error is not None:
            raise self.error
        self.sent.append((message, kwargs))
        return FakePoller({"id": "op-1", "status": self.status})

    async def close(self) -> None:
        self.closed = True


def acs(client: FakeEmailClient) -> AcsEmailSender:
    return AcsEmailSender(
        lambda: client,  # type: ignore[arg-type,return-value]
        sender="DoNotReply@abc.azurecomm.net",
        recipients=["trader@example.com"],
    )


async def test_acs_sends_the_request_without_waiting_for_delivery() -> None:
    client = FakeEmailClient()
    sender = acs(client)
    await sender.send(MESSAGE)
    [(request, options)] = client.sent
    assert options == {"polling": False}
    assert request == {
        "senderAddress": "DoNotReply@abc.azurecomm.net",
        "recipients": {"to": [{"address": "trader@example.com"}]},
        "content": {"subject": subject_of(MESSAGE), "plainText": MESSAGE.text},
    }
    await sender.aclose()
    assert client.closed


def http_error(status: int) -> Exception:
    from azure.core.exceptions import HttpResponseError

    error = HttpResponseError(message=f"status {status}")
    error.status_code = status
    return error


@pytest.mark.parametrize(
    ("status", "retryable", "text"),
    [
        (403, False, "Communication and Email Service Owner"),
        (429, True, "HTTP 429"),
        (503, True, "HTTP 503"),
        (400, False, "HTTP 400"),
    ],
)
async def test_acs_with_an_error_answer_is_classified(
    status: int, retryable: bool, text: str
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await acs(FakeEmailClient(http_error(status))).send(MESSAGE)
    assert failed.value.retryable is retryable
    assert text in failed.value.detail


async def test_acs_reporting_a_failed_send_is_final() -> None:
    with pytest.raises(DeliveryFailed, match="failed") as failed:
        await acs(FakeEmailClient(status="Failed")).send(MESSAGE)
    assert not failed.value.retryable


def test_subject_with_a_multiline_title_is_one_bounded_line() -> None:
    long = Message(title="a\nb " + "x" * 300, text="t", severity=Severity.INFO)
    subject = subject_of(long)
    assert "\n" not in subject
    assert len(subject) <= 150
    assert subject.startswith("[Tradebridge] info: a b")
