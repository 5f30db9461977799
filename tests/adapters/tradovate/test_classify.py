"""Tables for the one answer classifier and for is_retryable on every Tradovate error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.tradovate.classify import (
    Ok,
    Penalty,
    Throttled,
    classify,
    decode_body,
    penalty_of,
)
from shared.adapters.tradovate.errors import (
    BrokerNotFound,
    CaptchaRequired,
    InvalidCredentials,
    OrderOutcomeUnknown,
    PenaltyTooLong,
    RateLimited,
    SocketClosed,
    TokenRejected,
    mask_token,
)
from shared.domain.errors import (
    AuthError,
    BrokerRejected,
    ConfigError,
    OrderDenied,
    TransientBrokerError,
    is_retryable,
)
from tests.adapters.tradovate.helpers import fixture


@pytest.mark.parametrize(
    ("status", "data", "expected"),
    [
        (200, {"orderId": 7001}, Ok({"orderId": 7001})),
        (200, [1, 2], Ok([1, 2])),
        (200, None, Ok(None)),
        (
            200,
            {"failureReason": "Success", "orderId": 5},
            Ok({"failureReason": "Success", "orderId": 5}),
        ),
        (200, {"errorText": ""}, Ok({"errorText": ""})),
        (200, {"p-ticket": "t", "p-time": 2}, Penalty("t", 2.0, False)),
        (200, {"p-ticket": "t", "p-time": 60, "p-captcha": True}, Penalty("t", 60.0, True)),
        (200, {"p-ticket": "t", "p-time": "junk"}, Penalty("t", 0.0, False)),
        (429, None, Throttled(429)),
        (423, None, Throttled(423)),
    ],
)
def test_classify_with_non_error_answers_returns_data_or_instruction(
    status: int, data: Any, expected: object
) -> None:
    assert classify(status, data, endpoint="x/y") == expected


@pytest.mark.parametrize(
    ("status", "data", "error", "code"),
    [
        (
            200,
            {"failureReason": "InvalidContract", "failureText": "Unknown symbol"},
            BrokerRejected,
            "InvalidContract",
        ),
        (
            200,
            {"failureReason": "UnknownReason", "failureText": "Access is denied"},
            BrokerRejected,
            "UnknownReason",
        ),
        (
            200,
            {"errorText": "Incorrect username or password."},
            BrokerRejected,
            "broker_error_text",
        ),
        (400, "No usable value for symbol", BrokerRejected, "broker_http_400"),
        (401, None, TokenRejected, "broker_token_rejected"),
        (403, "Access is denied", TokenRejected, "broker_token_rejected"),
        (404, None, BrokerNotFound, "broker_not_found"),
        (408, None, TransientBrokerError, "broker_server_error"),
        (500, "Internal Server Error, error id: 42", TransientBrokerError, "broker_server_error"),
        (502, None, TransientBrokerError, "broker_server_error"),
        (503, None, TransientBrokerError, "broker_server_error"),
        (409, None, BrokerRejected, "broker_http_409"),
    ],
)
def test_classify_with_error_answers_raises_the_mapped_error(
    status: int, data: Any, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as info:
        classify(status, data, endpoint="order/placeorder")
    assert type(info.value) is error
    assert info.value.code == code  # type: ignore[attr-defined]


def test_classify_with_failure_text_carries_the_broker_text_in_the_message() -> None:
    with pytest.raises(BrokerRejected) as info:
        classify(200, fixture("place_order_rejected.json"), endpoint="order/placeorder")
    assert info.value.message == "Access is denied"


def test_classify_with_p_ticket_and_failure_reason_prefers_the_penalty() -> None:
    # The penalty means "not processed": a failureReason beside it must not be trusted.
    outcome = classify(200, {"p-ticket": "t", "p-time": 1, "failureReason": "X"}, endpoint="e")
    assert outcome == Penalty("t", 1.0, False)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", None),
        (b"   ", None),
        (b'{"price": 20875.25}', {"price": Decimal("20875.25")}),
        (b"Internal Server Error", "Internal Server Error"),
    ],
)
def test_decode_body_with_each_shape_returns_json_with_decimals_or_text(
    content: bytes, expected: Any
) -> None:
    assert decode_body(content) == expected


def test_decode_body_with_float_price_never_produces_a_float() -> None:
    value = decode_body(b'{"p": 0.1}')["p"]
    assert isinstance(value, Decimal)
    assert value == Decimal("0.1")


def test_penalty_of_with_ordinary_body_returns_none() -> None:
    assert penalty_of({"orderId": 1}) is None
    assert penalty_of([{"p-ticket": "x"}]) is None


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (TransientBrokerError("x"), True),
        (RateLimited("x"), True),
        (PenaltyTooLong("x", wait_s=90), True),
        (SocketClosed("x"), True),
        (OrderOutcomeUnknown("x", cl_ord_id="c"), True),
        (BrokerRejected("x"), False),
        (BrokerNotFound("x"), False),
        (TokenRejected("x"), False),
        (InvalidCredentials("x"), False),
        (CaptchaRequired("x", retry_after_s=3600), False),
        (AuthError("x"), False),
        (OrderDenied("x"), False),
        (ConfigError("x"), False),
        (TimeoutError(), False),
        (ValueError(), False),
    ],
)
def test_is_retryable_with_each_tradovate_error_matches_the_hierarchy(
    error: BaseException, retryable: bool
) -> None:
    assert is_retryable(error) is retryable


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "<none>"),
        ("", "<none>"),
        ("short", "<token len=5>"),
        ("eyJhbGciOiJIUzI1NiJ9.secret-part.abcd", "<token …abcd len=37>"),
    ],
)
def test_mask_token_with_each_length_never_shows_more_than_four_characters(
    value: str | None, shown: str
) -> None:
    assert mask_token(value) == shown
