"""The ingestion use case against in-memory ports."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.container import Container
from shared.domain.codec import decode
from shared.domain.errors import (
    DependencyUnavailable,
    Forbidden,
    InvalidSignal,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from shared.domain.signal import Signal
from shared.services.ingest import (
    TRADINGVIEW_IPS,
    IncomingAlert,
    IngestDeps,
    Ingestor,
    client_address,
    flush_journal_writes,
    redact,
)
from shared.strategies import load_strategies
from tests.fakes import FakeGate, FakeJournal, FakeQueue, FakeSecrets

STRATEGIES = Path(__file__).resolve().parents[2] / "fixtures" / "strategies.test.toml"
TV = "52.89.214.238"
SECRET = "test-secret-nq"


class World:
    def __init__(self) -> None:
        self.queue = FakeQueue()
        self.gate = FakeGate()
        self.journal = FakeJournal()
        self.secrets = FakeSecrets({"WEBHOOK_NQ_TREND": SECRET, "WEBHOOK_OPEN": "test-secret-open"})
        self.ingestor = Ingestor(
            IngestDeps(
                strategies=load_strategies(STRATEGIES),
                secrets=self.secrets,
                gate=self.gate,
                queue=self.queue,
                journal=self.journal,
                max_body_bytes=4096,
                journal_timeout_s=0.05,
            )
        )
        self.n = 0

    async def send(self, body: str | bytes, strategy: str = "nq-trend", ip: str | None = TV):
        self.n += 1
        return await self.ingestor.ingest(
            IncomingAlert(
                strategy_id=strategy,
                body=body.encode() if isinstance(body, str) else body,
                forwarded_for=f"{ip}:50123" if ip else None,
                received_at=datetime(2026, 11, 20, 15, 0, self.n, tzinfo=UTC),
                correlation_id=f"corr-{self.n}",
            )
        )


def alert(**fields: object) -> str:
    base: dict[str, object] = {"secret": SECRET, "intent": "buy", "symbol": "NQ1!", "quantity": 2}
    base.update(fields)
    return json.dumps(base)


@pytest.fixture
def world() -> World:
    return World()


async def test_ingest_with_valid_alert_fans_out_one_message_per_account(world: World) -> None:
    result = await world.send(alert(alert_id="bar-1"))
    assert result.status == "accepted"
    assert result.messages == 2
    ids = [m.message_id for m in world.queue.messages]
    assert ids == [f"{result.signal_id}:DEMO10001", f"{result.signal_id}:DEMO10002"]
    assert [m.session_id for m in world.queue.messages] == ["DEMO10001-MNQ", "DEMO10002-MNQ"]
    envelope = json.loads(world.queue.messages[1].body)
    assert envelope["multiplier"] == "3"
    assert envelope["account_id"] == 10002
    signal = decode(Signal, envelope["signal"])
    assert signal.symbol.root == "MNQ"  # the strategy's symbol map: alert on NQ, trade MNQ
    assert signal.symbol.continuous == 1
    assert str(signal.quantity) == "2"
    assert len(world.queue.batches) == 1  # one atomic batch


async def test_ingest_with_same_alert_id_twice_is_duplicate_with_first_id(world: World) -> None:
    first = await world.send(alert(alert_id="bar-7"))
    world.gate.now += 3600  # explicit ids stay duplicates for 24 h
    second = await world.send(alert(alert_id="bar-7", quantity=5))
    assert (second.status, second.signal_id, second.messages) == ("duplicate", first.signal_id, 0)
    assert len(world.queue.messages) == 2
    assert [r.status for r in world.journal.records] == ["accepted", "duplicate"]


async def test_ingest_with_identical_body_inside_window_is_duplicate(world: World) -> None:
    first = await world.send(alert())
    world.gate.now += 5
    second = await world.send(alert())
    assert second.status == "duplicate"
    assert second.signal_id == first.signal_id


async def test_ingest_with_identical_body_after_window_is_a_new_alert(world: World) -> None:
    first = await world.send(alert())
    world.gate.now += 11
    second = await world.send(alert())
    assert second.status == "accepted"
    assert second.signal_id != first.signal_id
    assert len(world.queue.messages) == 4


async def test_ingest_with_queue_down_raises_and_frees_the_dedupe_claim(world: World) -> None:
    world.queue.fail_next = DependencyUnavailable("service bus down")
    with pytest.raises(DependencyUnavailable):
        await world.send(alert(alert_id="bar-9"))
    assert world.queue.messages == []
    retry = await world.send(alert(alert_id="bar-9"))  # TradingView's re-send after the 503
    assert retry.status == "accepted"
    assert len(world.queue.messages) == 2


async def test_ingest_with_a_claim_that_outlived_its_failed_enqueue_queues_on_the_resend(
    world: World,
) -> None:
    # Redis died between the claim and the enqueue: the enqueue failed and so did the
    # release, so the claim survived with nothing queued behind it.
    world.queue.fail_next = DependencyUnavailable("redis down")
    world.gate.release = _failing_release  # type: ignore[method-assign]
    with pytest.raises(DependencyUnavailable):
        await world.send(alert(alert_id="bar-10"))
    assert world.queue.messages == []
    retry = await world.send(alert(alert_id="bar-10"))
    assert retry.status == "duplicate"  # the claim still holds the signal id ...
    assert len(world.queue.messages) == 2  # ... and its messages are queued now
    again = await world.send(alert(alert_id="bar-10"))
    assert again.signal_id == retry.signal_id
    assert len(world.queue.messages) == 2  # the queue drops a MessageId it holds


async def _failing_release(strategy_id: str, dedupe_key: str, signal_id: str) -> None:
    raise DependencyUnavailable("redis down")


@pytest.mark.parametrize(
    ("strategy", "body"),
    [
        ("nq-trend", alert(secret="wrong-secret")),
        ("nq-trend", json.dumps({"intent": "buy", "symbol": "NQ1!"})),
        ("no-such-strategy", alert()),
        ("paused", alert()),
    ],
)
async def test_ingest_with_bad_secret_or_unknown_strategy_is_the_same_401(
    world: World, strategy: str, body: str
) -> None:
    with pytest.raises(Unauthorized) as info:
        await world.send(body, strategy=strategy)
    assert info.value.message == "unknown strategy or wrong secret"
    assert world.queue.messages == []


async def test_ingest_from_address_off_the_allowlist_is_forbidden(world: World) -> None:
    with pytest.raises(Forbidden) as info:
        await world.send(alert(), ip="203.0.113.9")
    assert info.value.code == "ip_not_allowed"
    with pytest.raises(Forbidden):
        await world.send(alert(), ip=None)


async def test_ingest_with_forged_first_forwarded_entry_uses_the_last(world: World) -> None:
    forged = IncomingAlert(
        strategy_id="nq-trend", body=alert().encode(),
        forwarded_for=f"{TV}, 203.0.113.9:4444", received_at=datetime.now(UTC), correlation_id="c",
    )  # fmt: skip
    with pytest.raises(Forbidden):
        await world.ingestor.ingest(forged)


async def test_ingest_over_rate_limit_is_refused_with_retry_after(world: World) -> None:
    for n in range(3):
        await world.send(
            json.dumps({"secret": "test-secret-open", "action": "buy", "ticker": "ES1!", "n": n}),
            "open",
        )
    with pytest.raises(RateLimited) as info:
        await world.send(
            json.dumps({"secret": "test-secret-open", "action": "buy", "ticker": "ES1!"}), "open"
        )
    assert 1 <= info.value.retry_after_s <= 60


async def test_ingest_with_dedupe_window_zero_accepts_repeats(world: World) -> None:
    body = json.dumps({"secret": "test-secret-open", "action": "buy", "ticker": "ES1!"})
    assert (await world.send(body, "open")).status == "accepted"
    assert (await world.send(body, "open")).status == "accepted"


async def test_ingest_with_oversized_body_is_413_before_parsing(world: World) -> None:
    with pytest.raises(PayloadTooLarge):
        await world.send(alert(note="x" * 5000))


async def test_ingest_with_unreadable_alert_is_400_and_journaled_redacted(world: World) -> None:
    with pytest.raises(InvalidSignal) as info:
        await world.send('{"secret": "test-secret-nq", "intent": "buy", "symbol": "{{ticker}}"}')
    assert info.value.code == "unsubstituted_placeholder"
    [record] = world.journal.records
    assert record.status == "refused"
    assert record.reason_code == "unsubstituted_placeholder"
    assert "test-secret-nq" not in record.raw_redacted
    assert '"secret": "***"' in record.raw_redacted


async def test_ingest_naming_its_own_strategy_name_is_accepted(world: World) -> None:
    # TradersPost-style alerts carry a display name; the URL decides the strategy.
    assert (await world.send(alert(strategy="NQ Trend v3"))).status == "accepted"


async def test_ingest_with_alert_account_selection_uses_its_multiplier(world: World) -> None:
    result = await world.send(
        alert(accounts=[{"account": "DEMO10002", "quantity_multiplier": "0.5"}])
    )
    [message] = world.queue.messages
    assert message.message_id == f"{result.signal_id}:DEMO10002"
    assert json.loads(message.body)["multiplier"] == "0.5"


async def test_ingest_naming_an_account_the_strategy_lacks_is_refused(world: World) -> None:
    with pytest.raises(InvalidSignal) as info:
        await world.send(alert(accounts=["DEMO99999"]))
    assert info.value.code == "unknown_account"
    assert world.queue.messages == []


async def test_ingest_with_slow_journal_answers_in_budget_and_still_journals(world: World) -> None:
    # The write takes far longer than the answer may: answering at all before it ends shows the
    # answer did not wait for it (the bound is loose so a loaded machine still passes).
    world.journal.delay_s = 2.0
    started = time.perf_counter()
    result = await world.send(alert())
    assert result.status == "accepted"
    assert time.perf_counter() - started < 1.5
    assert world.journal.records == []
    await flush_journal_writes()
    assert [r.signal_id for r in world.journal.records] == [result.signal_id]


async def test_closing_the_container_lets_background_journal_writes_finish(world: World) -> None:
    world.journal.delay_s = 0.2
    result = await world.send(alert())
    container = Container()
    container.__dict__["alert_journal"] = world.journal  # as built by an earlier invocation
    await container.aclose()
    assert [r.signal_id for r in world.journal.records] == [result.signal_id]


async def test_ingest_with_failing_journal_still_accepts(world: World) -> None:
    world.journal.fail = True
    assert (await world.send(alert())).status == "accepted"


async def test_ingest_accepted_alert_is_journaled_with_signal_and_no_secret(world: World) -> None:
    result = await world.send(
        alert(alert_id="bar-3", time="2026-11-20T14:59:58Z", extras={"color": "blue"})
    )
    [record] = world.journal.records
    assert (record.status, record.signal_id, record.messages) == ("accepted", result.signal_id, 2)
    assert SECRET not in record.raw_redacted
    assert record.tv_time == datetime(2026, 11, 20, 14, 59, 58, tzinfo=UTC)
    assert record.client_ip == TV
    assert json.loads(record.signal_json or "{}")["intent"] == "buy"
    assert json.loads(record.extras_json or "{}") == {"color": "blue"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("52.89.214.238:443", "52.89.214.238"),
        ("1.1.1.1, 52.32.178.7:1234", "52.32.178.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("not-an-ip", None),
        ("", None),
        (None, None),
    ],
)
def test_client_address_reads_the_last_forwarded_entry(
    header: str | None, expected: str | None
) -> None:
    assert client_address(header) == expected


def test_redact_masks_secret_fields_in_json_and_text() -> None:
    assert redact('{"passphrase":"abc","x":1}', []) == '{"passphrase":"***","x":1}'
    assert redact("key=abc;action=buy", []) == "key=***;action=buy"
    assert redact("a s3cr3t-value here", ["s3cr3t-value"]) == "a *** here"
    assert redact("x" * 20_000, []).endswith("…[truncated]")


def test_tradingview_ips_are_the_four_published_addresses() -> None:
    assert {"52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"} == TRADINGVIEW_IPS


async def test_ingest_with_zero_journal_budget_answers_without_waiting(world: World) -> None:
    deps = world.ingestor._deps
    world.ingestor = Ingestor(dataclasses.replace(deps, journal_timeout_s=0.0))
    world.journal.delay_s = 2.0
    started = time.perf_counter()
    result = await world.send(alert())
    assert time.perf_counter() - started < 1.5
    assert world.journal.records == []  # answered while the write was still running
    await flush_journal_writes()
    assert [r.signal_id for r in world.journal.records] == [result.signal_id]


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        ({"quantity_unit": "percent_of_equity"}, True),  # an entry sized by equity
        ({"intent": "sell", "quantity_unit": "risk_dollars"}, True),
        ({"intent": "reverse", "quantity_unit": "dollar_amount"}, True),  # a sized reverse
        ({"intent": "exit", "quantity_unit": "percent_of_position", "quantity": 50}, False),
        ({"intent": "close", "quantity_unit": "risk_percent"}, False),  # a close is not sized
        ({"intent": "reverse", "quantity": None, "quantity_unit": "risk_percent"}, False),
    ],
)
async def test_ingest_refuses_at_once_an_entry_sized_in_a_unit_no_plan_can_use(
    world: World, fields: dict[str, object], refused: bool
) -> None:
    body = alert(**fields)
    if not refused:
        assert (await world.send(body)).status == "accepted"
        return
    with pytest.raises(InvalidSignal) as info:
        await world.send(body)
    assert (info.value.code, info.value.field) == ("unsupported_quantity_unit", "quantity")
    assert "send whole contracts" in info.value.message
    assert world.queue.messages == []
    assert [r.reason_code for r in world.journal.records] == ["unsupported_quantity_unit"]


async def test_ingest_refuses_pickmytrade_risk_sizing_of_an_entry(world: World) -> None:
    body = {"symbol": "NQ1!", "data": "buy", "quantity": "0", "risk_percentage": 1,
            "price": "21000", "token": SECRET}  # fmt: skip
    with pytest.raises(InvalidSignal) as info:
        await world.send(json.dumps(body))
    assert info.value.code == "unsupported_quantity_unit"
    closing = {**body, "data": "close"}  # a close with the same sizing closes the position
    assert (await world.send(json.dumps(closing))).status == "accepted"
