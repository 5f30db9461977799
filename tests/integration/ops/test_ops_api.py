"""Every ops API route over the real dev host, Redis, Azurite and the Tradovate simulator.

Reads use the function key, changes the master key; the dev host enforces both exactly as
the Functions host does (admin = master key only).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import redis

from shared import redis_keys as keys
from tests.integration.execution.conftest import KEY, System, wait_for

pytestmark = pytest.mark.integration

MASTER = "e2e-master"
BRACKET = {"take_profit": {"ticks": 40}, "stop_loss": {"ticks": 20}}


def get(system: System, path: str, key: str | None = KEY, **params: Any) -> httpx.Response:
    headers = {"x-functions-key": key} if key else {}
    return httpx.get(f"{system.url}/api/{path}", params=params, headers=headers, timeout=15)


def post(system: System, path: str, body: dict[str, Any], key: str = MASTER) -> httpx.Response:
    headers = {"x-functions-key": key, "x-ops-actor": "e2e"}
    return httpx.post(f"{system.url}/api/{path}", json=body, headers=headers, timeout=30)


def working(system: System) -> list[dict[str, Any]]:
    return [o for o in system.orders() if o["ordStatus"] == "Working"]


def no_worker(system: System) -> None:
    """Forget a heartbeat an earlier test's worker may have left (it expires in seconds)."""
    redis.Redis.from_url(system.redis_url).delete(keys.WORKER_HEARTBEAT, keys.WORKER_SYNC_STATE)


def flat_everywhere(system: System) -> bool:
    return not system.positions(10001) and not system.positions(10002) and not working(system)


def test_health_routes_report_each_part_and_enforce_keys(fresh: System) -> None:
    no_worker(fresh)
    anonymous = get(fresh, "health", key=None)
    assert anonymous.status_code == 200
    assert anonymous.json()["uptime"] >= 0
    assert get(fresh, "health/live", key=None).status_code == 401
    live = get(fresh, "health/live")
    assert live.json()["status"] == "ok"
    ready = get(fresh, "health/ready")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    for part in ("redis", "tables", "queue"):
        assert checks[part]["status"] == "ok", checks
        assert checks[part]["latency_ms"] >= 0
    assert checks["worker"]["status"] == "down"  # no worker in this test: degraded, not down
    assert ready.json()["status"] == "degraded"
    detailed = get(fresh, "health/detailed").json()
    assert detailed["environment"]["queue_backend"] == "local"
    assert detailed["backlog"]["journal_pending"] == 0
    assert "sim-password" not in str(detailed)
    assert "e2e-master" not in str(detailed)


def test_admin_routes_refuse_the_function_key_and_bad_bodies(fresh: System) -> None:
    body = {"scope": "global", "reason": "test"}
    refused = post(fresh, "trading/pause", body, key=KEY)
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized_key"
    assert not redis.Redis.from_url(fresh.redis_url).exists(keys.KILL_GLOBAL)
    cases = [
        ({"reason": "no scope"}, 400, "missing_scope"),
        ({"scope": "global"}, 400, "missing_reason"),
        ({"acount": "DEMO10001", "reason": "typo"}, 400, "unknown_field"),
        ({"account": "GHOST", "reason": "r"}, 404, "unknown_account"),
        ({"strategy": "ghost", "reason": "r"}, 404, "unknown_strategy"),
    ]
    for sent, status, code in cases:
        r = post(fresh, "trading/pause", sent)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    conflict = post(fresh, "trading/enable", {"account": "DEMO10002", "reason": "r"})
    assert (conflict.status_code, conflict.json()["code"]) == (409, "not_disabled")
    account = {"account": "DEMO10002", "reason": "margin call"}
    assert post(fresh, "trading/pause", account).json()["changed"] is True
    again = post(fresh, "trading/pause", account)
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert post(fresh, "trading/enable", account).status_code == 200


def test_pause_denies_the_next_entry_at_once_while_an_exit_passes(fresh: System) -> None:
    opened = fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    assert fresh.outcome(opened["id"])[0].status == "done"
    paused = post(fresh, "trading/disable", {"strategy": "solo", "reason": "drawdown review"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["switch"]["state"] == "paused"
    assert paused.json()["switch"]["by"]["actor"] == "e2e"

    entry = fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    [denied] = fresh.outcome(entry["id"])
    assert (denied.status, denied.fields.get("reason_code")) == ("denied", "kill_switch_strategy")
    leave = fresh.post("solo", intent="exit", symbol="MNQ1!", price=21000)
    assert fresh.outcome(leave["id"])[0].status == "done"
    assert fresh.positions(10001) == {}

    status = get(fresh, "trading/status").json()
    solo = next(s for s in status["strategies"] if s["id"] == "solo")
    assert solo["state"] == "paused"
    assert solo["reason"] == "drawdown review"
    assert status["recent_changes"][0]["action"] == "paused"

    detail = get(fresh, f"signals/{entry['id']}").json()
    [account] = detail["accounts"]
    assert account["reason_code"] == "kill_switch_strategy"
    assert [s["step"] for s in account["timeline"]["steps"] if s["at"]] == [
        "received", "enqueued", "dequeued", "finished"
    ]  # fmt: skip
    listed = get(fresh, "signals", strategy="solo", status="denied").json()["signals"]
    assert [s["id"] for s in listed] == [entry["id"]]

    enabled = post(fresh, "trading/enable", {"strategy": "solo", "reason": "reviewed"})
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["previous"]["state"] == "paused"
    again = fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    assert fresh.outcome(again["id"])[0].status == "done"


def test_stop_leaves_every_account_flat_with_no_working_orders(fresh: System) -> None:
    no_worker(fresh)
    both = fresh.post("both", intent="buy", symbol="MNQ1!", quantity=1, price=21000, **BRACKET)
    solo = fresh.post("solo", intent="sell", symbol="ES1!", quantity=1, price=6000, **BRACKET)
    fresh.outcome(both["id"], accounts=2)
    [solo_summary] = fresh.outcome(solo["id"])
    assert solo_summary.status == "done", solo_summary.fields
    assert fresh.positions(10001) == {"MNQ": 1, "ES": -1}
    assert fresh.positions(10002) == {"MNQ": 3}
    assert len(working(fresh)) == 6

    # The journal outlives the simulator's reset: list only what this test queued.
    since = str(time.time() - 1)
    stopped = post(fresh, "trading/stop", {"scope": "global", "reason": "stop everything now"})
    assert stopped.status_code == 202, stopped.text
    flatten = stopped.json()["flatten"]
    assert flatten["source"] == "rest"  # no worker: Tradovate REST said what is held
    assert sorted((q["account"], q["contract"][:-2]) for q in flatten["queued"]) == [
        ("DEMO10001", "ES"), ("DEMO10001", "MNQ"), ("DEMO10002", "MNQ")
    ]  # fmt: skip
    for queued in flatten["queued"]:
        fresh.outcome(queued["signal_id"])
    wait_for(lambda: flat_everywhere(fresh), 20)

    # Stopped: an entry is denied, and the flatten signals are in the journal.
    entry = fresh.post("both", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    assert {s.fields.get("reason_code") for s in fresh.outcome(entry["id"], accounts=2)} == {
        "kill_switch_global"
    }
    queued = {q["signal_id"]: q["contract"] for q in flatten["queued"]}
    listed = get(fresh, "signals", limit="50", since=since).json()["signals"]
    ops = {s["id"]: s for s in listed if s["format"] == "ops"}
    assert set(ops) == set(queued)
    assert {s["intent"] for s in ops.values()} == {"flat"}
    mnq = get(fresh, "signals", symbol="MNQ", status="done", limit="50", since=since)
    mnq = mnq.json()["signals"]
    assert {s["id"] for s in mnq if s["format"] == "ops"} == {
        i for i, contract in queued.items() if contract.startswith("MNQ")
    }
    assert post(fresh, "trading/resume", {"scope": "global", "reason": "done"}).status_code == 200


def test_flatten_one_account_through_the_queue_from_the_workers_cache(worker: System) -> None:
    opened = worker.post("both", intent="buy", symbol="MNQ1!", quantity=1, price=21000, **BRACKET)
    worker.outcome(opened["id"], accounts=2)
    # The worker's cache answers reads while it is live and synced.
    positions = wait_for(
        lambda: (r := get(worker, "positions", account="DEMO10002").json())["positions"] and r
    )
    assert positions["source"] == "cache"
    assert positions["positions"][0]["net_pos"] == 3
    orders = get(worker, "orders", account="DEMO10002").json()
    assert orders["source"] == "cache"
    assert sorted(o["order_type"] for o in orders["orders"]) == ["limit", "stop"]
    balance = get(worker, "balance", account="DEMO10002").json()
    assert balance["source"] == "cache"
    rest = get(worker, "positions", account="DEMO10002", max_age="0").json()
    assert rest["source"] == "rest"
    assert rest["positions"][0]["net_pos"] == 3
    assert get(worker, "accounts").json()["accounts"][0]["name"] == "DEMO10001"
    quote = get(worker, "quotes/MNQ1!").json()
    assert quote["contract"].startswith("MNQ")

    request = {"account": "DEMO10002", "reason": "too big", "request_id": f"e2e-{time.time_ns()}"}
    first = post(worker, "trading/flatten", request)
    assert first.status_code == 202, first.text
    assert first.json()["source"] == "cache"
    [queued] = first.json()["queued"]
    [summary] = worker.outcome(queued["signal_id"])
    assert summary.status == "done", summary.fields
    wait_for(lambda: not worker.positions(10002))
    assert not [o for o in working(worker) if o["accountId"] == 10002]
    assert worker.positions(10001) == {"MNQ": 1}  # the other account is untouched

    detail = get(worker, f"signals/{queued['signal_id']}").json()
    assert detail["journal"]["format"] == "ops"
    legs = detail["accounts"][0]["legs"]
    assert legs
    assert all(leg["cl_ord_id"] for leg in legs)
    assert any(leg.get("order_id") for leg in legs)


def test_reads_and_their_errors(fresh: System) -> None:
    no_worker(fresh)
    opened = fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    fresh.outcome(opened["id"])
    contracts = get(fresh, "contracts").json()
    mnq = next(m for m in contracts["maps"] if m["root"] == "MNQ")
    assert mnq["status"] == "fresh"
    assert mnq["front"]
    assert get(fresh, "contracts", root="MNQ").status_code == 200
    quote = get(fresh, "quotes/MNQ1!").json()
    assert quote["contract"] == mnq["front"]
    assert (quote["quote"] is None) == (quote["age_s"] is None)
    assert get(fresh, "positions").json()["source"] == "rest"

    page = get(fresh, "signals", limit="1").json()
    assert page["signals"][0]["id"] == opened["id"]
    assert page["next"]
    assert (
        get(fresh, "signals", limit="1", cursor=page["next"]).json()["signals"][0]["id"]
        != (opened["id"])
    )
    detail = get(fresh, f"signals/{opened['id']}").json()
    [account] = detail["accounts"]
    steps = {s["step"]: s for s in account["timeline"]["steps"]}
    assert all(steps[s]["at"] for s in ("received", "enqueued", "dequeued", "claimed", "sent",
                                        "acknowledged"))  # fmt: skip
    assert account["legs"][0]["order_id"]
    assert account["plan"]["commands"]

    errors = [
        (get(fresh, "signals/nope"), 404, "unknown_signal"),
        (get(fresh, "signals", status="exploded"), 400, "bad_filter"),
        (get(fresh, "signals", cursor="zzz"), 400, "bad_cursor"),
        (get(fresh, "positions", account="GHOST"), 404, "unknown_account"),
        (get(fresh, "orders", colour="red"), 400, "bad_filter"),
        (get(fresh, "quotes/!!"), 400, "bad_symbol"),
        (get(fresh, "contracts", root="ZZZ"), 404, "no_contract_map"),
        (get(fresh, "balance", key="wrong"), 401, "unauthorized_key"),
    ]
    for response, status, code in errors:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
