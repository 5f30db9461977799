"""What the webhook refuses at the door, and how it admits rate-limit groups (issue 14).

``unknown_symbol``: a root that is no known product, or an opening alert for a root outside
the strategy's allowlist, is a 400 before any Redis round trip; an exit of such a root still
goes through. CrossTrade's ``rate_limit`` + ``id`` admit one alert of a group per window, and
a later one trades as a new signal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.domain.errors import InvalidSignal
from shared.services.ingest import (
    IncomingAlert,
    IngestDeps,
    Ingestor,
    IngestResult,
    flush_journal_writes,
)
from shared.strategies import parse_strategies
from tests.fakes import FakeGate, FakeJournal, FakeQueue, FakeSecrets

SECRET = "test-secret-door"
STRATEGIES = """
version = 1
[strategies.any]
secret = { env = "WEBHOOK_DOOR" }
accounts = [{ name = "Sim101" }]
[strategies.any.webhook]
dedupe_window_s = 10
ip_allowlist = false

[strategies.micro]
secret = { env = "WEBHOOK_DOOR" }
accounts = [{ name = "Sim101" }]
[strategies.micro.symbols]
NQ = "MNQ"
XYZ = "MES"
[strategies.micro.risk]
symbols = ["MNQ", "MES", "QQQX"]
[strategies.micro.webhook]
dedupe_window_s = 0
ip_allowlist = false
"""


class World:
    def __init__(self) -> None:
        self.queue = FakeQueue()
        self.gate = FakeGate()
        self.journal = FakeJournal()
        self.ingestor = Ingestor(
            IngestDeps(
                strategies=parse_strategies(STRATEGIES, "door"),
                secrets=FakeSecrets({"WEBHOOK_DOOR": SECRET}),
                gate=self.gate,
                queue=self.queue,
                journal=self.journal,
                journal_timeout_s=0.05,
            )
        )
        self.n = 0

    async def send(self, body: str, strategy: str = "any") -> IngestResult:
        self.n += 1
        return await self.ingestor.ingest(
            IncomingAlert(
                strategy_id=strategy,
                body=body.encode(),
                forwarded_for=None,
                received_at=datetime(2026, 11, 20, 15, 0, self.n, tzinfo=UTC),
                correlation_id=f"corr-{self.n}",
            )
        )

    async def refused(self, body: str, strategy: str = "any") -> InvalidSignal:
        with pytest.raises(InvalidSignal) as info:
            await self.send(body, strategy)
        return info.value


@pytest.fixture
def world() -> World:
    return World()


def simple(**fields: object) -> str:
    return json.dumps({"secret": SECRET, **fields})


def group_alert(window: str, group: str = "nq-long", note: str = "") -> str:
    return (
        f"key={SECRET};command=PLACE;account=Sim101;instrument=MNQ1!;action=BUY;qty=1;"
        f"order_type=MARKET;tif=DAY;rate_limit={window};id={group};comment={note};"
    )


async def test_ingest_with_readme_first_alert_queues_a_buy(world: World) -> None:
    body = simple(symbol="MNQ1!", action="buy", quantity=1)
    result = await world.send(body)
    assert (result.status, result.messages) == ("accepted", 1)


@pytest.mark.parametrize("symbol", ["AAPL", "ZZ1!", "SPY", "FOOZ2026"])
async def test_ingest_with_unknown_product_refuses_unknown_symbol_without_redis(
    world: World, symbol: str
) -> None:
    error = await world.refused(simple(symbol=symbol, action="buy", quantity=1))
    assert (error.code, error.field) == ("unknown_symbol", "symbol")
    assert error.message
    assert world.gate.counts == {}  # refused before the gate's round trip
    assert world.queue.messages == []


async def test_ingest_with_unknown_symbol_journals_the_refusal(world: World) -> None:
    await world.refused(simple(symbol="AAPL", action="exit"))
    await flush_journal_writes()
    [record] = world.journal.records
    assert (record.status, record.reason_code) == ("refused", "unknown_symbol")


async def test_ingest_with_root_outside_allowlist_refuses_an_entry(world: World) -> None:
    error = await world.refused(simple(symbol="ES1!", action="buy", quantity=1), "micro")
    assert error.code == "unknown_symbol"
    assert "MES, MNQ, QQQX" in error.message
    assert world.gate.counts == {}


@pytest.mark.parametrize(
    "body",
    [
        simple(symbol="ES1!", action="exit"),
        simple(symbol="ES1!", action="flatten"),
        simple(symbol="ES1!", action="cancel"),
        simple(symbol="ES1!", action="sell", market_position="flat", quantity=1),
        json.dumps({"secret": SECRET, "ticker": "ES1!", "action": "buy", "sentiment": "flat"}),
    ],
)
async def test_ingest_with_root_outside_allowlist_lets_an_exit_through(
    world: World, body: str
) -> None:
    assert (await world.send(body, "micro")).status == "accepted"


@pytest.mark.parametrize(
    "body",
    [
        simple(symbol="ES1!", action="reverse"),
        simple(symbol="ES1!", action="sell", market_position="short", quantity=1),
        json.dumps({"secret": SECRET, "ticker": "ES1!", "action": "sell", "sentiment": "bearish"}),
    ],
)
async def test_ingest_with_root_outside_allowlist_refuses_what_may_open(
    world: World, body: str
) -> None:
    assert (await world.refused(body, "micro")).code == "unknown_symbol"


async def test_ingest_with_mapped_root_checks_the_traded_root(world: World) -> None:
    # NQ is mapped to MNQ, which is allowed; XYZ (no product) is mapped to MES.
    assert (await world.send(simple(symbol="NQ1!", action="buy"), "micro")).status == "accepted"
    assert (await world.send(simple(symbol="XYZ1!", action="buy"), "micro")).status == "accepted"


async def test_ingest_with_root_the_strategy_configures_accepts_it(world: World) -> None:
    # A product missing from the known list can be traded by naming it in the strategy file.
    assert (await world.send(simple(symbol="QQQX", action="buy"), "micro")).status == "accepted"


async def test_ingest_with_rate_group_admits_one_per_window_then_a_new_signal(
    world: World,
) -> None:
    first = await world.send(group_alert("1/120", note="a"))
    world.gate.now += 60
    second = await world.send(group_alert("1/120", note="b"))
    assert (first.status, second.status) == ("accepted", "duplicate")
    assert second.signal_id == first.signal_id
    world.gate.now += 61  # past the window: the group's next alert trades
    third = await world.send(group_alert("1/120", note="c"))
    assert third.status == "accepted"
    assert third.signal_id != first.signal_id
    assert len(world.queue.messages) == 2
    # And the next day: a 24-hour de-duplication id would have refused this one.
    world.gate.now += 3600
    assert (await world.send(group_alert("1/120", note="a"))).status == "accepted"


async def test_ingest_with_rate_limit_default_window_is_sixty_seconds(world: World) -> None:
    assert (await world.send(group_alert("1", group="g60"))).status == "accepted"
    world.gate.now += 59
    assert (await world.send(group_alert("1", group="g60"))).status == "duplicate"
    world.gate.now += 2
    assert (await world.send(group_alert("1", group="g60"))).status == "accepted"


async def test_ingest_with_two_groups_admits_each_once(world: World) -> None:
    assert (await world.send(group_alert("1/300", group="a"))).status == "accepted"
    assert (await world.send(group_alert("1/300", group="b"))).status == "accepted"


async def test_ingest_with_crosstrade_id_alone_does_not_deduplicate_for_a_day(
    world: World,
) -> None:
    body = (
        f"key={SECRET};command=PLACE;account=Sim101;instrument=MNQ1!;action=BUY;qty=1;"
        "order_type=MARKET;tif=DAY;id=mystrategy;"
    )
    first = await world.send(body, "micro")
    second = await world.send(body, "micro")  # dedupe_window_s = 0: a new alert
    assert (first.status, second.status) == ("accepted", "accepted")
    assert first.signal_id != second.signal_id
