"""The execute trigger backs off before a transient failure goes back to the queue.

Called as the worker calls it, with real ``func.ServiceBusMessage`` objects and a container
whose executor is an in-memory fake; the trigger's sleep and jitter are injected, so nothing
here waits.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions import execute_sb
from local.services import REPO_ROOT
from shared.config import FUNCTION_TIMEOUT_S, Settings, load_settings
from shared.container import Container, reset_container
from shared.domain.alerts import parse_alert
from shared.domain.errors import (
    BrokerRejected,
    ConfigError,
    DependencyUnavailable,
    TransientBrokerError,
    TransientError,
)
from shared.services.envelope import Envelope, to_message
from shared.services.execute import Delivery, Outcome
from tests.conftest import make_settings

BASE_S = 1.0
CAP_S = 20.0
MAX_DELIVERIES = 5


class FailingExecutor:
    """Fail every delivery with ``error`` (or succeed when it is None); record the counts."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.deliveries: list[int] = []

    async def execute(self, delivery: Delivery) -> Outcome:
        self.deliveries.append(delivery.delivery_count)
        if self.error is not None:
            raise self.error
        return Outcome("done", "", ())


class RecordingSleep:
    """Stand in for ``asyncio.sleep``: remember each requested delay, return at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)


@pytest.fixture
def sleep() -> Iterator[RecordingSleep]:
    recorder = RecordingSleep()
    previous = execute_sb.use_redelivery_wait(
        execute_sb.RedeliveryWait(sleep=recorder, rng=random.Random(7).random)
    )
    yield recorder
    execute_sb.use_redelivery_wait(previous)


def install(error: Exception | None) -> FailingExecutor:
    executor = FailingExecutor(error)
    container = Container(
        make_settings(
            queue_max_delivery_count=MAX_DELIVERIES,
            queue_retry_backoff_base_s=BASE_S,
            queue_retry_backoff_max_s=CAP_S,
        )
    )
    container.__dict__["executor"] = executor
    reset_container(container)
    return executor


@pytest.fixture(autouse=True)
def _no_container_left() -> Iterator[None]:
    yield
    reset_container(None)


def envelope() -> Envelope:
    return Envelope(
        signal_id="b" * 32,
        strategy_id="open",
        account="DEMO10001",
        account_id=10001,
        multiplier=Decimal(1),
        alert_format="native",
        received_at=datetime.now(UTC),
        correlation_id="corr-1",
        signal=parse_alert('{"intent": "buy", "symbol": "MNQ1!", "quantity": 1}').signal,
    )


def message(delivery_count: int, body: bytes | None = None) -> ServiceBusMessage:
    out = to_message(envelope())
    return ServiceBusMessage(
        body=out.body if body is None else body,
        message_id=out.message_id,
        session_id=out.session_id,
        delivery_count=delivery_count,
        enqueued_time_utc=datetime.now(UTC),
        application_properties={},
        user_properties={},
    )


def ceiling(n: int) -> float:
    return min(CAP_S, BASE_S * float(2 ** (n - 1)))


@pytest.mark.parametrize(
    "error",
    [
        TransientError("redis blinked"),
        TransientBrokerError("429 for 2 s"),
        DependencyUnavailable("tables down"),
    ],
    ids=["transient", "broker", "dependency"],
)
async def test_transient_failure_waits_a_jittered_growing_delay_then_raises(
    sleep: RecordingSleep, error: Exception
) -> None:
    executor = install(error)
    for n in range(1, MAX_DELIVERIES):
        with pytest.raises(type(error)):  # raised, so the host abandons the message
            await execute_sb.execute(message(n))
    assert executor.deliveries == [1, 2, 3, 4]
    assert len(sleep.delays) == MAX_DELIVERIES - 1
    for n, delay in enumerate(sleep.delays, start=1):
        assert 0 <= delay <= ceiling(n), (n, delay)
    bounds = [ceiling(n) for n in range(1, MAX_DELIVERIES)]
    assert bounds == [1.0, 2.0, 4.0, 8.0]  # the bound grows with the delivery count
    assert sum(sleep.delays) < FUNCTION_TIMEOUT_S


async def test_last_delivery_raises_without_waiting(sleep: RecordingSleep) -> None:
    install(TransientBrokerError("still throttled"))
    with pytest.raises(TransientBrokerError):
        await execute_sb.execute(message(MAX_DELIVERIES))
    assert sleep.delays == []


async def test_permanent_error_raises_without_waiting(sleep: RecordingSleep) -> None:
    install(BrokerRejected("contract expired"))
    with pytest.raises(BrokerRejected):
        await execute_sb.execute(message(1))
    install(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        await execute_sb.execute(message(2))
    assert sleep.delays == []


async def test_unreadable_message_raises_without_waiting(sleep: RecordingSleep) -> None:
    executor = install(TransientError("never reached"))
    with pytest.raises(execute_sb.UnreadableMessage):
        await execute_sb.execute(message(1, body=b"not an envelope"))
    assert executor.deliveries == []
    assert sleep.delays == []


async def test_success_does_not_wait(sleep: RecordingSleep) -> None:
    executor = install(None)
    await execute_sb.execute(message(1))
    assert executor.deliveries == [1]
    assert sleep.delays == []


def test_delay_uses_full_jitter_over_the_capped_exponential() -> None:
    settings = make_settings(queue_retry_backoff_base_s=0.5, queue_retry_backoff_max_s=3.0)
    assert [execute_sb.redelivery_delay_s(n, settings, lambda: 1.0) for n in range(1, 6)] == [
        0.5,
        1.0,
        2.0,
        3.0,
        0.0,  # the last delivery: dead-lettered, not redelivered
    ]
    assert execute_sb.redelivery_delay_s(3, settings, lambda: 0.0) == 0.0
    assert execute_sb.redelivery_delay_s(3, settings, lambda: 0.25) == 0.5


def test_settings_refuse_a_backoff_that_could_outlast_the_function_timeout() -> None:
    with pytest.raises(ConfigError, match="functionTimeout"):
        load_settings(**_base(queue_max_delivery_count=10, queue_retry_backoff_max_s=20.0))
    with pytest.raises(ConfigError, match="QUEUE_RETRY_BACKOFF_BASE_S"):
        load_settings(**_base(queue_retry_backoff_base_s=5.0, queue_retry_backoff_max_s=2.0))
    ok = load_settings(**_base(queue_max_delivery_count=10, queue_retry_backoff_max_s=13.0))
    assert ok.queue_retry_backoff_max_s * 9 < FUNCTION_TIMEOUT_S


def test_defaults_fit_the_function_timeout_of_host_json() -> None:
    host = json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds == FUNCTION_TIMEOUT_S
    defaults = Settings.model_fields
    cap = defaults["queue_retry_backoff_max_s"].default
    deliveries = defaults["queue_max_delivery_count"].default
    assert (defaults["queue_retry_backoff_base_s"].default, cap) == (1.0, 20.0)
    assert cap * (deliveries - 1) < FUNCTION_TIMEOUT_S


def _base(**overrides: object) -> dict[str, object]:
    return {
        "redis_url": "redis://127.0.0.1:1/0",
        "tradovate_username": "u",
        "tradovate_password": "p",
        "tradovate_cid": "8",
        "tradovate_sec": "s",
        "tradovate_device_id": "d",
        "queue_backend": "local",
        **overrides,
    }
