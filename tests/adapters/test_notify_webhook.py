"""The chat webhook: the body each flavour takes, and errors that never show the URL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from shared.adapters.notify_channels import MisconfiguredSender, build_senders, notify_secrets
from shared.adapters.notify_webhook import WebhookSender, body, detect_flavour, telegram_url
from shared.services.notify.classify import classify
from shared.services.notify.model import Message
from shared.services.notify.ports import DeliveryFailed
from shared.services.notify.render import render
from tests.conftest import make_settings

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
DISCORD = "https://discord.com/api/webhooks/1234567890/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
SLACK = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
TELEGRAM = "https://api.telegram.org/bot123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"


def message() -> Message:
    event = {
        "type": "order.rejected",
        "signal_id": "sig-1",
        "leg": "entry",
        "account": "DEMO10001",
        "code": "Rejected",
        "message": "no margin",
    }
    found = classify(event, NOW)
    assert found is not None
    return render(found)


@pytest.mark.parametrize(
    ("url", "setting", "flavour"),
    [
        (DISCORD, "auto", "discord"),
        ("https://discordapp.com/api/webhooks/1/x", "auto", "discord"),
        (SLACK, "auto", "slack"),
        (TELEGRAM, "auto", "telegram"),
        ("https://example.com/hook", "auto", "json"),
        ("https://discord.com/channels/1", "auto", "json"),  # not a webhook path
        ("https://example.com/hook", "slack", "slack"),  # the setting wins
    ],
)
def test_detect_flavour_with_a_url_and_setting(url: str, setting: str, flavour: str) -> None:
    assert detect_flavour(url, setting) == flavour


def test_body_for_each_flavour_has_the_fields_that_service_reads() -> None:
    m = message()
    assert body("discord", m) == {"content": m.text, "allowed_mentions": {"parse": []}}
    assert body("slack", m) == {"text": m.text}
    assert body("telegram", m, "-100123") == {
        "chat_id": "-100123",
        "text": m.text,
        "disable_web_page_preview": True,
    }
    structured = body("json", m)
    assert structured["text"] == m.text
    assert (structured["kind"], structured["severity"]) == ("order_rejected", "warning")
    assert structured["event"]["signal_id"] == "sig-1"
    assert "DEMO10001" not in json.dumps(structured)


def test_telegram_url_with_or_without_the_method_ends_in_send_message() -> None:
    assert telegram_url(TELEGRAM) == f"{TELEGRAM}/sendMessage"
    assert telegram_url(f"{TELEGRAM}/sendMessage") == f"{TELEGRAM}/sendMessage"


async def test_send_posts_the_flavours_body_to_the_url() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    sender = WebhookSender(
        TELEGRAM, "telegram", chat_id="42", transport=httpx.MockTransport(handler)
    )
    await sender.send(message())
    await sender.aclose()
    [request] = seen
    assert str(request.url) == f"{TELEGRAM}/sendMessage"
    assert json.loads(request.content)["chat_id"] == "42"
    assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("response", "retryable", "retry_after", "text"),
    [
        (httpx.Response(429, json={"retry_after": 1.5}), True, 1.5, "HTTP 429"),
        (httpx.Response(429, headers={"retry-after": "3"}), True, 3.0, "HTTP 429"),
        (
            httpx.Response(429, json={"ok": False, "parameters": {"retry_after": 7}}),
            True,
            7.0,
            "HTTP 429",
        ),
        (httpx.Response(503, text="busy"), True, None, "HTTP 503: busy"),
        (httpx.Response(301, headers={"location": "https://x"}), False, None, "HTTP 301"),
        (
            httpx.Response(404, json={"message": "Unknown Webhook", "code": 10015}),
            False,
            None,
            "HTTP 404: Unknown Webhook",
        ),
        (
            httpx.Response(400, json={"ok": False, "description": "Bad Request: chat not found"}),
            False,
            None,
            "HTTP 400: Bad Request: chat not found",
        ),
    ],
)
async def test_send_with_an_error_answer_raises_a_classified_failure(
    response: httpx.Response, retryable: bool, retry_after: float | None, text: str
) -> None:
    sender = WebhookSender(
        DISCORD, "discord", transport=httpx.MockTransport(lambda request: response)
    )
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(message())
    await sender.aclose()
    assert failed.value.retryable is retryable
    assert failed.value.retry_after_s == retry_after
    assert text in failed.value.detail
    assert "1234567890" not in failed.value.detail


@pytest.mark.parametrize(
    "error", [httpx.ConnectError(f"cannot reach {DISCORD}"), httpx.ReadTimeout(DISCORD)]
)
async def test_send_with_a_transport_error_is_retryable_and_hides_the_url(
    error: Exception,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    sender = WebhookSender(DISCORD, "discord", transport=httpx.MockTransport(handler))
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(message())
    await sender.aclose()
    assert failed.value.retryable
    assert "discord" not in failed.value.detail.lower()


async def test_channels_with_incomplete_settings_are_built_to_say_what_is_missing() -> None:
    senders = build_senders(
        make_settings(notify_webhook_url=TELEGRAM, notify_email_to="me@example.com")
    )
    for sender, missing in (
        (senders["webhook"], "NOTIFY_TELEGRAM_CHAT_ID"),
        (senders["email"], "NOTIFY_EMAIL_FROM"),
    ):
        assert isinstance(sender, MisconfiguredSender)
        with pytest.raises(DeliveryFailed, match=missing):
            await sender.send(message())
    plain = build_senders(make_settings(notify_webhook_url="http://example.com/hook"))
    assert "https" in getattr(plain["webhook"], "reason", "")
    assert build_senders(make_settings()) == {}


async def test_channels_with_a_loopback_http_url_and_smtp_are_built() -> None:
    from shared.adapters.notify_email import SmtpSender

    senders = build_senders(
        make_settings(
            notify_webhook_url="http://127.0.0.1:9/hook",
            notify_email_to="me@example.com",
            notify_email_from="bot@example.com",
            smtp_host="smtp.example.com",
        )
    )
    assert isinstance(senders["webhook"], WebhookSender)
    assert senders["webhook"].flavour == "json"
    assert isinstance(senders["email"], SmtpSender)
    for sender in senders.values():
        await sender.aclose()


async def test_send_with_httpx_logging_shows_the_host_but_not_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = WebhookSender(
        DISCORD, "discord", transport=httpx.MockTransport(lambda r: httpx.Response(204))
    )
    with caplog.at_level("INFO", logger="httpx"):
        await sender.send(message())
    await sender.aclose()
    assert "HTTP Request: POST https://discord.com/***" in caplog.text
    assert "AbCdEfGhIj" not in caplog.text
    assert "1234567890" not in caplog.text


def test_notify_secrets_with_a_webhook_url_lists_it_and_its_token() -> None:
    secrets = notify_secrets(make_settings(notify_webhook_url=DISCORD, smtp_password="pw-123"))
    assert DISCORD in secrets
    assert "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789" in secrets
    assert "pw-123" in secrets
