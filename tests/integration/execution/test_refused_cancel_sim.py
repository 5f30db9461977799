"""An exit whose cancel Tradovate refuses because the order is already gone, end to end.

The worker's cache says it is synced but still shows a bracket the simulator has already
closed (the trader cancelled the stop in Tradovate's app, or the target filled): the state
the executor met in the chaos run that dead-lettered its flats. Here no worker runs; the test
writes the stale documents itself, in the shapes ``shared.services.live_state`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis

from shared import redis_keys as keys
from shared.domain.planning.model import client_order_id
from shared.ports import LedgerEntry
from tests.integration.execution.conftest import System, wait_for

pytestmark = pytest.mark.integration

BRACKET = {"take_profit": {"ticks": 40}, "stop_loss": {"ticks": 20}}
ACCOUNT_ID = 10001
_TYPES = {"Limit": "limit", "Stop": "stop"}


@pytest.fixture
def stale(fresh: System) -> Iterator[System]:
    """Remove the fake worker's keys after the test, so no later test trusts them."""
    yield fresh
    redis.Redis.from_url(fresh.redis_url).delete(
        keys.WORKER_HEARTBEAT,
        keys.WORKER_SYNC_STATE,
        keys.live_positions(ACCOUNT_ID),
        keys.live_orders(ACCOUNT_ID),
    )


def working(system: System) -> list[dict[str, Any]]:
    return [o for o in system.orders(ACCOUNT_ID) if o["ordStatus"] == "Working"]


def remember_as_cache(system: System) -> None:
    """Write the simulator's position and orders now as the worker's synced cache.

    The cache is current when written: it holds every fill and order of the entry (so the
    executor's check that the cache shows its last signal passes); what it misses is what
    the trader does in Tradovate's own app afterwards.
    """
    now = datetime.now(UTC).isoformat()
    positions = {
        str(p["contractId"]): {
            "net_pos": p["netPos"],
            "net_price": str(p["netPrice"]),
            "bought": p["bought"],
            "sold": p["sold"],
        }
        for p in system.sim.state()["positions"]
        if p["accountId"] == ACCOUNT_ID and p["netPos"]
    }
    settled = [
        {
            "order_id": o["id"],
            "contract_id": o["contractId"],
            "status": o["ordStatus"].lower(),
            "filled_qty": o["version"]["orderQty"] if o["ordStatus"] == "Filled" else 0,
            "parent_id": o.get("parentId"),
        }
        for o in system.orders(ACCOUNT_ID)
        if o["ordStatus"] in ("Filled", "Canceled", "Rejected", "Expired")
    ]
    orders = [
        {
            "order_id": o["id"],
            "contract_id": o["contractId"],
            "side": o["action"].lower(),
            "status": "working",
            "qty": o["version"]["orderQty"],
            "order_type": _TYPES[o["version"]["orderType"]],
            "price": o["version"].get("price"),
            "stop_price": o["version"].get("stopPrice"),
            "oco_id": o.get("ocoId"),
            "parent_id": o.get("parentId"),
        }
        for o in working(system)
    ]
    client = redis.Redis.from_url(system.redis_url)
    client.set(keys.WORKER_HEARTBEAT, json.dumps({"at": now, "state": "synced"}), ex=120)
    client.set(keys.WORKER_SYNC_STATE, "synced", ex=120)
    client.set(keys.live_positions(ACCOUNT_ID), json.dumps({"as_of": now, "positions": positions}))
    document = {"as_of": now, "orders": orders, "settled": settled}
    client.set(keys.live_orders(ACCOUNT_ID), json.dumps(document))


def cancel_at_the_broker(system: System, order_id: int) -> None:
    """Cancel an order as another Tradovate client would (the trader's own app)."""
    login = {
        "name": "sim-trader", "password": "sim-password", "cid": 8, "sec": "sim-api-secret",
        "appId": "trader-app", "appVersion": "1", "deviceId": "trader-phone",
    }  # fmt: skip
    base = system.sim.base_url
    token = httpx.post(f"{base}/auth/accesstokenrequest", json=login).json()["accessToken"]
    answer = httpx.post(
        f"{base}/order/cancelorder",
        json={"orderId": order_id, "isAutomated": False},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert "commandId" in answer, answer


def dead_letters(system: System, signal_id: str) -> list[dict[str, Any]]:
    report = httpx.get(
        f"{system.url}/admin/queues/signals", headers={"x-functions-key": "e2e-master"}
    ).json()
    return [d for d in report["dead_letters"] if d["message_id"].startswith(signal_id)]


def leg(rows: list[LedgerEntry], signal_id: str, name: str) -> LedgerEntry:
    cl_ord_id = client_order_id(signal_id, "DEMO10001", name)
    [row] = [r for r in rows if r.row_key == cl_ord_id]
    return row


def long_two_with_bracket(system: System) -> tuple[int, int]:
    """Buy 2 with a target and a stop; return (target id, stop id)."""
    sent = system.post("solo", intent="buy", symbol="MNQ1!", quantity=2, price=21000, **BRACKET)
    [summary] = system.outcome(sent["id"])
    assert summary.status == "done", summary.fields
    exits = {o["version"]["orderType"]: int(o["id"]) for o in working(system)}
    return exits["Limit"], exits["Stop"]


def test_exit_with_stop_cancelled_at_the_broker_and_stale_cache_is_done_in_one_delivery(
    stale: System,
) -> None:
    target, stop = long_two_with_bracket(stale)
    remember_as_cache(stale)
    cancel_at_the_broker(stale, stop)  # the cache still shows it working

    sent = stale.post("solo", intent="exit", symbol="MNQ1!")
    [summary] = stale.outcome(sent["id"])

    assert summary.status == "done", summary.fields
    assert summary.fields["delivery_count"] == 1
    assert stale.positions(ACCOUNT_ID) == {}
    assert working(stale) == []
    rows = stale.ledger(sent["id"])
    refused = leg(rows, sent["id"], f"cancel.{stop}")
    assert refused.status == "already_cancelled", refused.fields
    assert refused.fields["broker_status"] == "canceled"
    assert leg(rows, sent["id"], f"cancel.{target}").status == "acknowledged"
    assert leg(rows, sent["id"], "close").status == "filled"  # known before the message ended
    assert dead_letters(stale, sent["id"]) == []


def test_reversal_with_target_filled_at_the_broker_and_stale_cache_trades_from_rest(
    stale: System,
) -> None:
    target, stop = long_two_with_bracket(stale)
    remember_as_cache(stale)
    stale.sim.set_price("MNQ", "21010")  # the target fills; its OCO partner (the stop) goes
    wait_for(lambda: stale.positions(ACCOUNT_ID) == {} and working(stale) == [])

    # From the cache's long 2 this would sell 3; the broker is flat, so it must sell 1.
    sent = stale.post(
        "solo", intent="sell", symbol="MNQ1!", price=21010,
        market_position="short", position_size=1,
    )  # fmt: skip
    [summary] = stale.outcome(sent["id"])

    assert summary.status == "done", summary.fields
    assert summary.fields["delivery_count"] == 1
    assert json.loads(summary.fields["basis"])["source"] == "rest"
    assert (summary.fields["position_before"], summary.fields["position_after"]) == (0, -1)
    assert stale.positions(ACCOUNT_ID) == {"MNQ": -1}
    rows = stale.ledger(sent["id"])
    filled = leg(rows, sent["id"], f"cancel.{target}")
    assert filled.status == "already_filled", filled.fields
    assert (filled.fields["broker_status"], filled.fields["filled_qty"]) == ("filled", 2)
    cancels = {r.row_key for r in rows if r.fields.get("kind") == "CancelOrder"}
    assert client_order_id(sent["id"], "DEMO10001", f"cancel.{stop}") in cancels
    assert dead_letters(stale, sent["id"]) == []
