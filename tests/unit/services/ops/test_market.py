"""Contract maps and quote snapshots, from Redis in one round trip."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared import redis_keys as keys
from shared.domain.clock import ManualClock
from shared.domain.errors import InvalidRequest, NotFound
from shared.services.contracts import MAP_VERSION
from shared.services.ops.market import MarketData
from tests.unit.services.ops.fakes import NOW, FakeStore, book


def contract_map(root: str = "MNQ", *, updated: datetime = NOW, front: str = "MNQZ6") -> str:
    def entry(cid: int, name: str, expires: str, roll: str) -> dict[str, Any]:
        return {"id": cid, "name": name, "maturity_id": cid + 1, "expiration_month": 202612,
                "expiration": expires, "first_intent": None, "roll_at": roll}  # fmt: skip

    return json.dumps({
        "v": MAP_VERSION, "root": root, "updated_at": updated.isoformat(),
        "policy": {"days_before_expiration": 8, "describe": "8 days before expiration"},
        "spec": {"product_id": 1, "name": root, "tick_size": "0.25", "value_per_point": "2",
                 "description": "Micro E-mini Nasdaq-100"},
        "front": front, "next_roll_at": "2026-12-10T00:00:00+00:00",
        "continuous": {"1": "MNQZ6", "2": "MNQH7"},
        "contracts": {
            "MNQZ6": entry(100, "MNQZ6", "2026-12-18T14:30:00+00:00", "2026-12-10T00:00:00+00:00"),
            "MNQH7": entry(200, "MNQH7", "2027-03-19T13:30:00+00:00", "2027-03-11T00:00:00+00:00"),
        },
    })  # fmt: skip


def market() -> tuple[MarketData, FakeStore, ManualClock]:
    store, clock = FakeStore(), ManualClock(NOW)
    return MarketData(book(), store, clock), store, clock


async def test_contracts_show_each_configured_root_fresh_or_missing() -> None:
    service, store, _ = market()
    store.strings[keys.contract_map("MNQ")] = contract_map()
    answer = await service.contracts(None)
    maps = {m["root"]: m for m in answer["maps"]}
    assert set(maps) == {"ES", "MNQ"}
    assert maps["ES"] == {"root": "ES", "status": "missing"}
    mnq = maps["MNQ"]
    assert mnq["status"] == "fresh"
    assert mnq["age_s"] == 0
    assert mnq["front"] == "MNQZ6"
    assert [c["name"] for c in mnq["contracts"]] == ["MNQZ6", "MNQH7"]
    assert mnq["policy"] == "8 days before expiration"
    assert store.reads == 1


async def test_contracts_of_one_root_say_stale_and_missing_is_not_found() -> None:
    service, store, _ = market()
    store.strings[keys.contract_map("NQ")] = contract_map("NQ", updated=NOW - timedelta(hours=2))
    assert (await service.contracts("nq"))["maps"][0]["status"] == "stale"
    with pytest.raises(NotFound) as info:
        await service.contracts("CL")
    assert info.value.code == "no_contract_map"
    with pytest.raises(InvalidRequest):
        await service.contracts("%%")


async def test_quote_of_a_continuous_symbol_with_its_age() -> None:
    service, store, _ = market()
    store.strings[keys.contract_map("MNQ")] = contract_map()
    received = (NOW - timedelta(seconds=2)).isoformat()
    store.strings[keys.quote(100)] = json.dumps(
        {"contract_id": 100, "bid": "21000", "ask": "21000.25", "last": "21000",
         "mark": "21000", "received_at": received}
    )  # fmt: skip
    answer = await service.quote("MNQ1!")
    assert answer["contract"] == "MNQZ6"
    assert answer["contract_id"] == 100
    assert answer["quote"]["bid"] == "21000"
    assert answer["age_s"] == 2


async def test_quote_without_a_snapshot_says_why() -> None:
    service, store, _ = market()
    store.strings[keys.contract_map("MNQ")] = contract_map()
    answer = await service.quote("MNQH7")
    assert answer["contract"] == "MNQH7"
    assert answer["quote"] is None
    assert "position or a working order" in answer["reason"]


async def test_quote_after_a_roll_the_stored_chain_missed_reads_the_new_front() -> None:
    service, store, clock = market()
    store.strings[keys.contract_map("MNQ")] = contract_map()
    store.strings[keys.quote(200)] = json.dumps({"contract_id": 200, "last": "21100"})
    clock.advance(timedelta(days=25).total_seconds())  # past MNQZ6's roll date
    answer = await service.quote("MNQ")
    assert answer["contract"] == "MNQH7"
    assert answer["quote"]["last"] == "21100"
    assert store.reads == 2


@pytest.mark.parametrize(("symbol", "code"), [("CL1!", "no_contract_map"),
                                              ("MNQU5", "unknown_contract")])  # fmt: skip
async def test_quote_of_an_unknown_root_or_contract_is_not_found(symbol: str, code: str) -> None:
    service, store, _ = market()
    store.strings[keys.contract_map("MNQ")] = contract_map()
    with pytest.raises(NotFound) as info:
        await service.quote(symbol)
    assert info.value.code == code


async def test_quote_of_nonsense_is_a_bad_symbol() -> None:
    service, _, _ = market()
    with pytest.raises(InvalidRequest) as info:
        await service.quote("!!")
    assert info.value.code == "bad_symbol"
