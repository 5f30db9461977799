"""Contract maps against the simulator (a fixed 2024 calendar), real Redis and Azurite."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from local.tradovate_sim import SimulatorServer
from shared.adapters.tables_events import TablesEventJournal
from shared.adapters.tradovate.client import TradovateClient
from shared.domain.broker import OrderRequest, OrderType, Side
from shared.domain.errors import InvalidSignal
from shared.domain.rolls import continuous_names
from shared.domain.symbols import parse_symbol
from shared.services.contracts import listings_of, policy_of
from tests.integration.timers.conftest import (
    ShiftedClock,
    at,
    refresher,
    requests,
    resolver,
    settings_for,
)

pytestmark = pytest.mark.integration

NOW = at("2024-11-04T15:00")
# Thursday, 8 days before ESZ4's expiry: Tradovate stamps it 16:29 CT on the third Friday.
ES_ROLL = at("2024-12-12T22:29")
CL_ROLL = at("2024-11-16T19:30")  # 4 days before CLZ4's last trade


class Published:
    """Collect what is published on one channel."""

    def __init__(self, redis: Redis, channel: str) -> None:
        self._pubsub = redis.pubsub()
        self._channel = channel
        self.messages: list[dict[str, Any]] = []

    async def __aenter__(self) -> Published:
        await self._pubsub.subscribe(self._channel)
        await self._pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        return self

    async def drain(self) -> list[dict[str, Any]]:
        while (msg := await self._pubsub.get_message(timeout=0.2)) is not None:
            if msg["type"] == "message":
                self.messages.append(json.loads(msg["data"]))
        return self.messages

    async def __aexit__(self, *exc: object) -> None:
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


def consistent(doc: dict[str, Any]) -> bool:
    """Tell whether a map agrees with itself: its chain is the one its own dates give."""
    chain = continuous_names(listings_of(doc), policy_of(doc), at(doc["updated_at"][:19]))
    return (
        {int(k): v for k, v in doc["continuous"].items()} == chain
        and doc["front"] == chain[1]
        and all(name.startswith(doc["root"]) for name in doc["contracts"])
    )


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("ES1!", "ESZ4"),
        ("MES1!", "MESZ4"),
        ("NQ1!", "NQZ4"),
        ("MNQ1!", "MNQZ4"),
        ("NQ2!", "NQH5"),
        ("CME_MINI:NQ1!", "NQZ4"),
        ("NQZ2024", "NQZ4"),
        ("NQZ24", "NQZ4"),
        ("NQZ4", "NQZ4"),
        ("NQ", "NQZ4"),
        ("RTY1!", "RTYZ4"),
        ("M2K1!", "M2KZ4"),
        ("YM1!", "YMZ4"),
        ("MYM1!", "MYMZ4"),
        ("CL1!", "CLZ4"),
        ("CL2!", "CLF5"),
        ("MCL1!", "MCLZ4"),
        ("GC1!", "GCZ4"),
        ("MGC1!", "MGCZ4"),
        ("NYMEX:CLF2025", "CLF5"),
    ],
)
async def test_resolver_with_each_symbol_form_names_the_simulator_contract(
    tradovate_2024: TradovateClient,
    redis: Redis,
    journal: TablesEventJournal,
    symbol: str,
    expected: str,
) -> None:
    clock = ShiftedClock(NOW)
    spec = await resolver(refresher(tradovate_2024, redis, journal, clock), redis, clock).resolve(
        parse_symbol(symbol)
    )
    assert spec.symbol == expected
    found = await tradovate_2024.rest.find_contract(expected)
    assert spec.contract_id == found.id
    assert spec.maturity is not None
    assert spec.maturity.id == found.contract_maturity_id


async def test_resolver_spec_with_product_terms_carries_tick_value_and_expiry(
    tradovate_2024: TradovateClient, redis: Redis, journal: TablesEventJournal
) -> None:
    clock = ShiftedClock(NOW)
    res = resolver(refresher(tradovate_2024, redis, journal, clock), redis, clock)
    es, cl, mgc = [await res.resolve(parse_symbol(s)) for s in ("ES1!", "CL1!", "MGC1!")]
    assert (es.tick_size, es.value_per_point) == (Decimal("0.25"), Decimal(50))
    assert (cl.tick_size, cl.value_per_point) == (Decimal("0.01"), Decimal(1000))
    assert (mgc.tick_size, mgc.value_per_point) == (Decimal("0.1"), Decimal(10))
    assert es.expiration == at("2024-12-20T22:29")  # Tradovate's expirationDate, 16:29 CT
    assert mgc.maturity is not None
    assert mgc.maturity.first_intent_date == at("2024-11-28T23:00")


async def test_resolver_with_unknown_root_raises_unknown_product(
    tradovate_2024: TradovateClient, redis: Redis, journal: TablesEventJournal
) -> None:
    clock = ShiftedClock(NOW)
    res = resolver(refresher(tradovate_2024, redis, journal, clock), redis, clock)
    with pytest.raises(InvalidSignal) as caught:
        await res.resolve(parse_symbol("ZZZ1!"))
    assert caught.value.code == "unknown_product"


async def test_resolver_with_equity_index_roll_boundary_moves_front_and_flags_held_position(
    tradovate_2024: TradovateClient, redis: Redis, journal: TablesEventJournal
) -> None:
    clock = ShiftedClock(at("2024-12-12T22:28"))
    res = resolver(refresher(tradovate_2024, redis, journal, clock), redis, clock)
    assert (await res.resolve(parse_symbol("ES1!"))).symbol == "ESZ4"
    order = OrderRequest(10001, "ESZ4", Side.BUY, 2, OrderType.MARKET, cl_ord_id="roll-held-1")
    await tradovate_2024.rest.place_order(order)
    async with Published(redis, "contract.rolled") as published:
        clock.set(ES_ROLL)
        assert (await res.resolve(parse_symbol("ES1!"))).symbol == "ESH5"
        assert (await res.resolve(parse_symbol("ESZ2024"))).symbol == "ESZ4"  # until expiry
        messages = await published.drain()
    (event,) = await journal.events("contract.rolled")
    esz4 = await tradovate_2024.rest.find_contract("ESZ4")
    assert (event["from_contract"], event["to_contract"]) == ("ESZ4", "ESH5")
    assert event["position_in_old_contract"] is True
    assert event["held"] == [{"account_id": 10001, "contract_id": esz4.id, "net_pos": 2}]
    assert [m["event_id"] for m in messages] == ["ES:ESZ4->ESH5"]


async def test_refresh_with_energy_roll_boundary_moves_front_a_month_without_a_held_flag(
    tradovate_2024: TradovateClient, redis: Redis, journal: TablesEventJournal
) -> None:
    clock = ShiftedClock(at("2024-11-16T19:29"))
    refresh = refresher(tradovate_2024, redis, journal, clock)
    assert (await refresh.refresh("CL")).front == "CLZ4"
    clock.set(CL_ROLL)
    result = await refresh.refresh("CL")
    assert (result.status, result.front) == ("written", "CLF5")
    assert result.rolled is not None
    assert result.rolled["position_in_old_contract"] is False
    clock.set(at("2024-12-16T19:30"))  # CLF5 rolls 4 days before its 20 December expiry
    assert (await refresh.refresh("CL")).front == "CLG5"
    events = await journal.events("contract.rolled")
    assert sorted(e["event_id"] for e in events) == ["CL:CLF5->CLG5", "CL:CLZ4->CLF5"]


async def test_two_concurrent_refreshes_with_a_roll_leave_one_map_and_one_roll_event(
    tradovate_2024: TradovateClient,
    sim_2024: SimulatorServer,
    redis_url: str,
    redis: Redis,
    journal: TablesEventJournal,
) -> None:
    clock = ShiftedClock(at("2024-12-12T22:00"))
    first = refresher(tradovate_2024, redis, journal, clock)
    await first.refresh("ES")
    other_redis = Redis.from_url(redis_url)
    other = TradovateClient.from_settings(
        settings_for(sim_2024, redis_url), other_redis, clock=ShiftedClock(NOW)
    )
    second = refresher(other, other_redis, journal, clock)
    clock.set(ES_ROLL)
    async with Published(redis, "contract.rolled") as published:
        results = await asyncio.gather(
            first.refresh("ES", force=True), second.refresh("ES", force=True, wait=True)
        )
        messages = await published.drain()
    await other.aclose()
    await other_redis.aclose()
    # Whichever takes the lock writes; the other skips (timer) or waits for it (executor).
    statuses = [r.status for r in results]
    assert statuses.count("written") == 1
    assert set(statuses) - {"written"} <= {"busy", "waited"}
    raw = await redis.get("contracts:ES")
    assert raw is not None
    doc = json.loads(raw)
    assert consistent(doc)
    assert doc["front"] == "ESH5"
    assert len(await journal.events("contract.rolled")) == 1
    assert len(messages) == 1


async def test_reader_during_refreshes_with_alternating_fronts_never_sees_a_mix(
    tradovate_2024: TradovateClient, redis_url: str, redis: Redis, journal: TablesEventJournal
) -> None:
    clock = ShiftedClock(ES_ROLL)
    refresh = refresher(tradovate_2024, redis, journal, clock)
    reader_redis = Redis.from_url(redis_url)
    done = asyncio.Event()
    fronts: list[str] = []
    mixed: list[dict[str, Any]] = []

    async def read() -> None:
        while not done.is_set():
            raw = await reader_redis.get("contracts:ES")
            if raw is not None:
                doc = json.loads(raw)
                fronts.append(doc["front"])
                if not consistent(doc):
                    mixed.append(doc)
            await asyncio.sleep(0)

    async def write() -> None:
        for i in range(12):
            clock.set(at("2024-12-12T22:28") if i % 2 else ES_ROLL)
            await refresh.refresh("ES", force=True)
        done.set()

    await asyncio.gather(read(), write())
    await reader_redis.aclose()
    assert not mixed
    assert set(fronts) == {"ESZ4", "ESH5"}
    assert len(fronts) > 12


async def test_resolver_with_fifty_concurrent_misses_builds_the_map_once(
    tradovate_2024: TradovateClient,
    sim_2024: SimulatorServer,
    redis: Redis,
    journal: TablesEventJournal,
) -> None:
    clock = ShiftedClock(NOW)
    refresh = refresher(tradovate_2024, redis, journal, clock)
    resolvers = [resolver(refresh, redis, clock) for _ in range(50)]
    specs = await asyncio.gather(*(r.resolve(parse_symbol("NQ1!")) for r in resolvers))
    assert {s.symbol for s in specs} == {"NQZ4"}
    assert requests(sim_2024, "product/find") == 1
    assert requests(sim_2024, "contractmaturity/deps") == 1


async def test_resolver_with_broker_down_after_a_roll_uses_the_stored_dates(
    sim_2024: SimulatorServer, redis_url: str, redis: Redis, journal: TablesEventJournal
) -> None:
    client = TradovateClient.from_settings(
        settings_for(sim_2024, redis_url, tradovate_retry_budget_s=0.3),
        redis,
        clock=ShiftedClock(NOW),
    )
    clock = ShiftedClock(at("2024-12-12T22:00"))
    res = resolver(refresher(client, redis, journal, clock), redis, clock)
    assert (await res.resolve(parse_symbol("ES1!"))).symbol == "ESZ4"
    sim_2024.inject(error_rate=1.0, error_status=503, error_endpoint="product/find")
    clock.set(ES_ROLL)
    assert (await res.resolve(parse_symbol("ES1!"))).symbol == "ESH5"
    raw = await redis.get("contracts:ES")
    assert raw is not None
    assert json.loads(raw)["front"] == "ESZ4"  # not rewritten: the refresh failed
    await client.aclose()


async def test_refresh_all_with_two_instances_builds_each_root_once(
    tradovate_2024: TradovateClient,
    sim_2024: SimulatorServer,
    redis: Redis,
    journal: TablesEventJournal,
) -> None:
    clock = ShiftedClock(NOW)
    refresh = refresher(tradovate_2024, redis, journal, clock)
    await resolver(refresh, redis, clock).resolve(parse_symbol("MNQ1!"))  # added on demand
    twin = refresher(tradovate_2024, redis, journal, clock)
    runs = await asyncio.gather(refresh.refresh_all(["ES", "cl"]), twin.refresh_all(["ES", "CL"]))
    statuses: dict[str, list[str]] = {}
    for result in (r for run in runs for r in run):
        statuses.setdefault(result.root, []).append(result.status)
    assert sorted(statuses) == ["CL", "ES", "MNQ"]
    assert all(s.count("written") <= 1 for s in statuses.values())
    assert set(statuses["MNQ"]) <= {"fresh", "busy"}  # built on demand a moment ago
    assert requests(sim_2024, "product/find") == 3
