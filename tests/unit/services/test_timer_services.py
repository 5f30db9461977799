"""Contract refresh, resolution, reconcile and token timer edge cases against in-memory ports."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared import redis_keys as keys
from shared.domain.broker import (
    Account,
    Contract,
    ContractMaturity,
    Order,
    OrderStatus,
    Position,
    Product,
    Side,
)
from shared.domain.errors import AuthError, BrokerRejected, InvalidSignal, TransientError
from shared.domain.signal import Intent, MarketPosition
from shared.domain.symbols import parse_symbol
from shared.ports import OutboundMessage
from shared.services.contracts import (
    ContractRefresher,
    ContractResolver,
    RefreshTuning,
    is_stale,
    strategy_roots,
)
from shared.services.envelope import from_body
from shared.services.reconcile import ReconcileDeps, Reconciler
from shared.services.token_refresh import refresh_token
from shared.strategies import parse_strategies

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class Clock:
    """Fixed wall time the test moves; real monotonic time (waits really wait)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now_at = now

    def now(self) -> datetime:
        return self.now_at

    def monotonic(self) -> float:
        return time.monotonic()


class Memory:
    """One in-memory stand-in for every Redis-side port: maps, locks, events, intents."""

    def __init__(self) -> None:
        self.maps: dict[str, dict[str, Any]] = {}
        self.locks: dict[str, str] = {}
        self.published: list[tuple[str, Mapping[str, Any]]] = []
        self.recorded: dict[str, Mapping[str, Any]] = {}
        self.intent: dict[str, dict[str, str]] = {}
        self.sent: list[OutboundMessage] = []

    async def load(self, root: str) -> dict[str, Any] | None:
        return self.maps.get(root)

    async def save(self, root: str, doc: Mapping[str, Any], ttl_s: int) -> None:
        self.maps[root] = json.loads(json.dumps(doc))

    async def roots(self) -> list[str]:
        return sorted(self.maps)

    async def acquire(self, key: str, ttl_s: float) -> str | None:
        if key in self.locks:
            return None
        self.locks[key] = "me"
        return "me"

    async def release(self, key: str, token: str) -> None:
        if self.locks.get(key) == token:
            del self.locks[key]

    async def held(self, key: str) -> bool:
        return key in self.locks

    async def publish(self, event: str, payload: Mapping[str, Any]) -> None:
        self.published.append((event, payload))

    async def record(self, kind: str, event_id: str, payload: Mapping[str, Any]) -> None:
        self.recorded[f"{kind}/{event_id}"] = payload

    async def intents(self, strategy_id: str) -> dict[str, str]:
        return self.intent.get(strategy_id, {})

    async def send(self, messages: Sequence[OutboundMessage]) -> None:
        self.sent.extend(messages)

    async def close(self) -> None:
        return None


def maturity(mid: int, month: int, expires: datetime) -> ContractMaturity:
    return ContractMaturity(mid, 1, month, expires)


class Broker:
    """Tradovate reference data and positions for one product, ES."""

    def __init__(self) -> None:
        self.product = Product(1, "ES", Decimal("0.25"), Decimal(50))
        self.maturities = (
            maturity(11, 202612, datetime(2026, 12, 18, 14, 30, tzinfo=UTC)),
            maturity(12, 202703, datetime(2027, 3, 19, 13, 30, tzinfo=UTC)),
            maturity(13, 202706, datetime(2027, 6, 18, 13, 30, tzinfo=UTC)),
        )
        self.contracts = {
            "ESZ6": Contract(101, "ESZ6", 11),
            "ESH7": Contract(102, "ESH7", 12),
            "ESM7": Contract(103, "ESM7", 13),
        }
        self.suggested: tuple[str, ...] = ("ESZ6",)  # suggest leaves the later months out
        self.missing: set[str] = set()
        self.down = False
        self.held: tuple[Position, ...] = ()
        self.working: tuple[Order, ...] = ()

    async def find_product(self, name: str) -> Product:
        if self.down:
            raise TransientError("down")
        if name != "ES":
            raise BrokerRejected(f"no {name}", code="broker_not_found")
        return self.product

    async def product_maturities(self, product_id: int) -> tuple[ContractMaturity, ...]:
        return self.maturities

    async def suggest_contracts(self, text: str, limit: int = 10) -> tuple[Contract, ...]:
        return tuple(self.contracts[n] for n in self.suggested)

    async def find_contract(self, name: str) -> Contract:
        if name in self.missing:
            raise BrokerRejected(f"no {name}", code="broker_not_found")
        return self.contracts[name]

    async def positions(self, account_id: int | None = None) -> tuple[Position, ...]:
        return self.held

    async def accounts(self) -> tuple[Account, ...]:
        return (Account(10001, "DEMO10001"),)

    async def orders(self, account_id: int | None = None) -> tuple[Order, ...]:
        return self.working

    async def contract(self, contract_id: int) -> Contract:
        return Contract(contract_id, "ESU6", 10)


def refresher(broker: Broker, memory: Memory, clock: Clock) -> ContractRefresher:
    tuning = RefreshTuning(wait_s=0.2, poll_s=0.01)
    return ContractRefresher(broker, memory, memory, memory, memory, clock, tuning=tuning)


async def test_refresh_with_suggest_missing_months_finds_them_by_name_or_skips_them() -> None:
    broker, memory = Broker(), Memory()
    broker.missing = {"ESM7"}
    result = await refresher(broker, memory, Clock()).refresh("es")
    assert (result.status, result.front) == ("written", "ESZ6")
    assert sorted(memory.maps["ES"]["contracts"]) == ["ESH7", "ESZ6"]
    assert memory.maps["ES"]["continuous"] == {"1": "ESZ6", "2": "ESH7"}


async def test_refresh_with_the_lock_held_skips_or_times_out_waiting() -> None:
    broker, memory = Broker(), Memory()
    memory.locks[keys.contract_refresh_lock("ES")] = "someone"
    refresh = refresher(broker, memory, Clock())
    assert (await refresh.refresh("ES")).status == "busy"
    with pytest.raises(TransientError, match="timed out"):
        await refresh.refresh("ES", wait=True)


async def test_refresh_all_with_an_unknown_root_builds_the_rest_and_raises_on_outage() -> None:
    broker, memory = Broker(), Memory()
    results = await refresher(broker, memory, Clock()).refresh_all(["ES", "ZZZ"])
    assert [(r.root, r.status) for r in results] == [("ES", "written")]
    broker.down = True
    with pytest.raises(TransientError, match="not refreshed: ES"):  # the stored map is found
        await refresher(broker, memory, Clock(NOW + timedelta(minutes=2))).refresh_all([])


def test_is_stale_with_another_version_or_no_stamp_is_stale() -> None:
    assert is_stale({"v": 0, "updated_at": NOW.isoformat()}, NOW, 3600)
    assert is_stale({"v": 1}, NOW, 3600)
    assert not is_stale({"v": 1, "updated_at": NOW.isoformat(), "next_roll_at": None}, NOW, 60)


async def test_resolver_with_broker_down_and_no_stored_map_raises_transient() -> None:
    broker, memory = Broker(), Memory()
    broker.down = True
    clock = Clock()
    with pytest.raises(TransientError):
        await ContractResolver(memory, refresher(broker, memory, clock), clock).resolve(
            parse_symbol("ES1!")
        )


async def test_resolver_with_a_stuck_lock_a_lost_refresh_or_no_contracts_says_which() -> None:
    broker, memory = Broker(), Memory()
    lock = keys.contract_refresh_lock("ES")
    memory.locks[lock] = "someone"
    clock = Clock()
    resolver = ContractResolver(memory, refresher(broker, memory, clock), clock)
    with pytest.raises(TransientError, match="timed out"):
        await resolver.resolve(parse_symbol("ES1!"))

    async def give_up_without_writing() -> None:
        await asyncio.sleep(0.05)
        del memory.locks[lock]

    task = asyncio.create_task(give_up_without_writing())
    with pytest.raises(TransientError, match="no contract map for ES"):
        await resolver.resolve(parse_symbol("ES1!"))
    await task
    broker.suggested = ()
    broker.missing = {"ESZ6", "ESH7", "ESM7"}  # a product with no contracts at all
    with pytest.raises(InvalidSignal, match="only 0 contract"):
        await resolver.resolve(parse_symbol("ES1!"))


class CountingMemory(Memory):
    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def load(self, root: str) -> dict[str, Any] | None:
        self.loads += 1
        return await super().load(root)


async def test_resolver_holds_a_map_in_memory_but_reads_the_stored_one_for_an_unknown_month() -> (
    None
):
    broker, memory = Broker(), CountingMemory()
    broker.missing = {"ESM7"}  # not listed when the map is first built
    clock = Clock()
    await refresher(broker, memory, clock).refresh("ES")
    resolver = ContractResolver(memory, refresher(broker, memory, clock), clock)
    memory.loads = 0
    assert (await resolver.resolve(parse_symbol("ES1!"))).contract.name == "ESZ6"
    assert (await resolver.resolve(parse_symbol("ES1!"))).contract.name == "ESZ6"
    assert memory.loads == 1  # the second resolve read no map
    # Another process stores a map that lists ESM7; the held one does not know it.
    broker.missing = set()
    await refresher(broker, memory, clock).refresh("ES", force=True)
    memory.loads = 0
    assert (await resolver.resolve(parse_symbol("ESM7"))).contract.name == "ESM7"
    assert memory.loads == 1
    with pytest.raises(InvalidSignal):  # a month no map lists is still refused
        await resolver.resolve(parse_symbol("ESU7"))


def test_strategy_roots_with_symbol_map_and_allowlist_names_traded_roots() -> None:
    book = parse_strategies(STRATEGIES)
    assert strategy_roots(book.values()) == {"ES", "MNQ", "CL"}


STRATEGIES = """
version = 1
[strategies.on]
secret = { env = "X_ON" }
accounts = [{ name = "DEMO10001" }, { name = "GHOST" }, { name = "OFF", enabled = false }]
symbols = { NQ = "MNQ" }
risk = { symbols = ["ES", "CL"] }
reconcile = { heal = true }
[strategies.off]
enabled = false
secret = { env = "X_OFF" }
accounts = [{ name = "DEMO10001" }]
"""


def world(memory: Memory, broker: Broker, clock: Clock) -> Reconciler:
    return Reconciler(
        ReconcileDeps(
            strategies=parse_strategies(STRATEGIES),
            intents=memory, broker=broker, maps=memory, locks=memory, bus=memory,
            journal=memory, queue=memory, clock=clock,
        )
    )  # fmt: skip


def intent(net_pos: int, age_s: float = 300) -> str:
    at = (NOW - timedelta(seconds=age_s)).isoformat()
    return json.dumps({"net_pos": net_pos, "signal_id": "s1", "at": at})


async def test_reconcile_with_odd_intents_reports_problems_and_skips_disabled() -> None:
    memory, broker = Memory(), Broker()
    memory.intent["on"] = {
        "DEMO10001:ES": "not json",
        "GHOST:ES": intent(1),
        "OFF:ES": intent(1),
        "NOBODY:ES": intent(1),
    }
    memory.intent["off"] = {"DEMO10001:ES": intent(1)}
    report = await world(memory, broker, Clock()).run()
    assert report.checked == 0
    assert report.problems == (
        "on/DEMO10001:ES: unreadable intent",
        "on: no broker account named GHOST",
    )


async def test_reconcile_with_flat_intent_heals_only_what_the_front_contract_holds() -> None:
    memory, broker, clock = Memory(), Broker(), Clock()
    await refresher(broker, memory, clock).refresh("ES")  # front ESZ6
    broker.held = (Position(1, 10001, 555, 2),)  # ESU6: in no map, named over REST
    memory.intent["on"] = {"DEMO10001:ES": intent(0)}
    (left,) = (await world(memory, broker, clock).run()).drifts
    assert (left.actual, dict(left.held)) == (2, {"ESU6": 2})
    assert left.heal == "skipped: held outside the front contract"
    broker.held = (Position(1, 10001, 101, 2),)
    broker.working = (Order(9, 10001, 101, Side.SELL, OrderStatus.WORKING),)  # its exit
    (drift,) = (await world(memory, broker, clock).run()).drifts
    assert drift.heal == "sent"  # a flat target cancels every working order first
    signal = from_body(memory.sent[0].body).signal
    assert signal.intent is Intent.FLAT
    assert signal.target is not None
    assert signal.target.market_position is MarketPosition.FLAT
    assert memory.recorded[f"position.drift/{drift.event_id}"]["heal"] == "sent"


async def test_reconcile_with_the_lock_held_does_not_run() -> None:
    memory = Memory()
    memory.locks[keys.RECONCILE_LOCK] = "other"
    report = await world(memory, Broker(), Clock()).run()
    assert (report.ran, report.healed) == (False, 0)


class Keeper:
    def __init__(self, error: Exception | None = None, suspended_s: float = 0.0) -> None:
        self.error, self.suspended_s, self.calls = error, suspended_s, 0

    async def ensure_fresh(self) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return type("T", (), {"expires_at": NOW + timedelta(minutes=80)})()

    async def captcha_backoff_s(self) -> float:
        return self.suspended_s


async def test_refresh_token_with_each_outcome_reports_it_and_raises_only_transient() -> None:
    refused = await refresh_token(Keeper(AuthError("bad password", code="x_bad")), Clock())
    assert (refused.state, refused.code, refused.alert_worthy) == ("refused", "x_bad", True)
    suspended_keeper = Keeper(suspended_s=1800)
    assert (await refresh_token(suspended_keeper, Clock())).state == "suspended"
    assert suspended_keeper.calls == 0
    fresh = await refresh_token(Keeper(), Clock())
    assert (fresh.state, fresh.seconds_left) == ("fresh", 4800)
    with pytest.raises(TransientError):
        await refresh_token(Keeper(TransientError("timeout")), Clock())
