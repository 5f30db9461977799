"""A transiently failing signal is spaced out between deliveries, through the dev host.

The real ``execute`` trigger (indexed from function_app.py as the worker indexes it) is driven
by the dev host's queue trigger over the local queue on a real redis-server, with the lock
renewal of the Functions host. Only the executor is a fake, and the back-off's jitter is seeded
so the timing assertions are exact; the sleep is the real ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise

import pytest
import redis.asyncio as aioredis

from functions import execute_sb
from local.devhost.loader import index_function_app
from local.devhost.queues import QueueTrigger
from local.services import REPO_ROOT
from shared.adapters.local_queue import LocalQueue
from shared.container import Container, reset_container
from shared.domain.alerts import parse_alert
from shared.domain.errors import TransientBrokerError
from shared.services.envelope import Envelope, to_message
from shared.services.execute import Delivery, Outcome
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

BASE_S = 0.2
CAP_S = 1.0
MAX_DELIVERIES = 5
FAILING = "f" * 32
BEHIND = "9" * 32


class ThrottledExecutor:
    """Fail the FAILING signal transiently every time; place anything else. Record when."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, float]] = []

    async def execute(self, delivery: Delivery) -> Outcome:
        signal_id = delivery.envelope.signal_id
        self.calls.append((signal_id, delivery.delivery_count, asyncio.get_running_loop().time()))
        if signal_id == FAILING:
            raise TransientBrokerError("429: throttled")
        return Outcome("done", "", ())


class TimedSleep:
    """Really sleep, and remember each delay the trigger asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        await asyncio.sleep(delay_s)


def envelope(signal_id: str) -> Envelope:
    return Envelope(
        signal_id=signal_id,
        strategy_id="open",
        account="DEMO10001",
        account_id=10001,
        multiplier=Decimal(1),
        alert_format="native",
        received_at=datetime.now(UTC),
        correlation_id=f"corr-{signal_id[:4]}",
        signal=parse_alert('{"intent": "buy", "symbol": "MNQ1!", "quantity": 1}').signal,
    )


@pytest.fixture
def executor() -> Iterator[ThrottledExecutor]:
    fake = ThrottledExecutor()
    container = Container(
        make_settings(
            queue_max_delivery_count=MAX_DELIVERIES,
            queue_retry_backoff_base_s=BASE_S,
            queue_retry_backoff_max_s=CAP_S,
        )
    )
    container.__dict__["executor"] = fake
    reset_container(container)
    yield fake
    reset_container(None)


@pytest.fixture
def sleep() -> Iterator[TimedSleep]:
    timed = TimedSleep()
    previous = execute_sb.use_redelivery_wait(
        execute_sb.RedeliveryWait(sleep=timed, rng=random.Random(20261).random)
    )
    yield timed
    execute_sb.use_redelivery_wait(previous)


async def test_transient_failure_is_spaced_out_then_dead_lettered_and_fifo_holds(
    redis_url: str, executor: ThrottledExecutor, sleep: TimedSleep
) -> None:
    [spec] = [s for s in index_function_app(REPO_ROOT) if s.name == "execute"]
    queue = LocalQueue(
        aioredis.Redis.from_url(redis_url),
        "signals",
        max_delivery_count=MAX_DELIVERIES,
        lock_duration_s=2,
    )
    failing, behind = to_message(envelope(FAILING)), to_message(envelope(BEHIND))
    assert failing.session_id == behind.session_id  # one FIFO: same account and instrument
    await queue.send([failing, behind])
    stop = asyncio.Event()
    runner = asyncio.create_task(QueueTrigger(spec, queue, 8).run(stop))
    try:
        async with asyncio.timeout(12):
            while not any(c[0] == BEHIND for c in executor.calls):  # noqa: ASYNC110 - test poll
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await runner

    order = [(signal[:1], n) for signal, n, _ in executor.calls]
    assert order == [("f", 1), ("f", 2), ("f", 3), ("f", 4), ("f", 5), ("9", 1)]

    # One wait per delivery but the last, each within its growing bound.
    assert len(sleep.delays) == MAX_DELIVERIES - 1
    for n, delay in enumerate(sleep.delays, start=1):
        assert 0 <= delay <= min(CAP_S, BASE_S * 2 ** (n - 1)), (n, delay)
    times = [t for signal, _, t in executor.calls if signal == FAILING]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    for gap, delay in zip(gaps, sleep.delays, strict=True):
        assert gap >= delay - 0.005, (gaps, sleep.delays)
    # Before: five deliveries within tens of ms. The mean schedule here waits 1.2 s in all.
    assert times[-1] - times[0] >= 0.5, (gaps, sleep.delays)

    [letter] = await queue.dead_letters()
    assert letter.message_id == failing.message_id
    assert letter.reason == "MaxDeliveryCountExceeded"
    assert letter.delivery_count == MAX_DELIVERIES
    assert "throttled" in letter.description
    await queue.close()
