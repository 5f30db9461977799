from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain.alerts import parse_alert
from shared.domain.errors import InvalidSignal
from shared.services.envelope import Envelope, from_body, to_message


def envelope() -> Envelope:
    signal = parse_alert(
        '{"intent": "sell", "symbol": "MNQZ2026", "quantity": 3, "order_type": "limit",'
        ' "limit_price": "21000.25", "stop_loss": {"ticks": 8}, "time": "2026-11-20T15:00:00Z"}'
    ).signal
    return Envelope(
        signal_id="a" * 32, strategy_id="nq-trend", account="DEMO10001", account_id=10001,
        multiplier=Decimal("0.5"), alert_format="native",
        received_at=datetime(2026, 11, 20, 15, 0, 1, tzinfo=UTC), correlation_id="c-1",
        signal=signal,
    )  # fmt: skip


def test_envelope_round_trips_through_the_queue_message() -> None:
    original = envelope()
    message = to_message(original)
    assert message.message_id == f"{'a' * 32}:DEMO10001"
    assert message.session_id == "DEMO10001-MNQ"
    assert dict(message.application_properties)["signal_id"] == "a" * 32
    assert from_body(message.body) == original


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        json.dumps({"v": 2}).encode(),
        json.dumps({"v": 1, "signal_id": "x"}).encode(),
    ],
)
def test_from_body_with_foreign_message_is_invalid_signal(body: bytes) -> None:
    with pytest.raises(InvalidSignal) as info:
        from_body(body)
    assert info.value.code == "bad_envelope"


def test_from_body_keeps_decimals_exact() -> None:
    body = json.loads(to_message(envelope()).body)
    assert body["multiplier"] == "0.5"
    assert body["signal"]["limit_price"] == "21000.25"
