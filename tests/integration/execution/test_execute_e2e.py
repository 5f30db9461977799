"""Alerts through the whole system: webhook → local queue → execute → simulator."""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis

from tests.integration.execution.conftest import KEY, SECRET, System, now_iso, wait_for

pytestmark = pytest.mark.integration

BRACKET = {"take_profit": {"ticks": 40}, "stop_loss": {"ticks": 20}}


def working(system: System, account_id: int = 10001) -> list[dict[str, Any]]:
    return [o for o in system.orders(account_id) if o["ordStatus"] == "Working"]


def placements(system: System, signal_id: str) -> list[str]:
    return [
        r.row_key
        for r in system.ledger(signal_id)
        if r.fields.get("kind") in ("PlaceOrder", "PlaceBracketOrder")
    ]


def test_long_entry_with_bracket_fills_and_rests_its_exits(fresh: System) -> None:
    sent = fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000, **BRACKET)
    [summary] = fresh.outcome(sent["id"])
    assert summary.status == "done", summary.fields
    assert fresh.positions(10001) == {"MNQ": 1}
    exits = working(fresh)
    assert sorted(str(o["version"]["orderType"]) for o in exits) == ["Limit", "Stop"]


def test_reversal_long_to_short_is_one_order_and_cancels_old_brackets(fresh: System) -> None:
    first = fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000, **BRACKET)
    fresh.outcome(first["id"])
    assert len(working(fresh)) == 2
    second = fresh.post(
        "solo",
        intent="sell",
        symbol="MNQ1!",
        quantity=1,
        price=21000,
        market_position="short",
        position_size=1,
    )
    [summary] = fresh.outcome(second["id"])
    assert summary.status == "done", summary.fields
    assert fresh.positions(10001) == {"MNQ": -1}
    assert len(placements(fresh, second["id"])) == 1
    assert working(fresh) == []


def test_sentiment_flat_exits_the_position(fresh: System) -> None:
    fresh.outcome(
        fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=2, price=21000, **BRACKET)["id"]
    )
    body = {
        "secret": SECRET,
        "ticker": "MNQ1!",
        "action": "sell",
        "sentiment": "flat",
        "id": "tp-flat-1",
    }
    r = httpx.post(f"{fresh.url}/api/webhook/solo?code={KEY}", content=json.dumps(body), timeout=10)
    assert r.status_code == 202, r.text
    [summary] = fresh.outcome(r.json()["id"])
    assert summary.status == "done", summary.fields
    assert fresh.positions(10001) == {}
    assert working(fresh) == []


def test_partial_exit_leaves_the_rest_and_shrinks_exits(fresh: System) -> None:
    fresh.outcome(
        fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=3, price=21000, **BRACKET)["id"]
    )
    [summary] = fresh.outcome(
        fresh.post("solo", intent="exit", symbol="MNQ1!", quantity=1, price=21000)["id"]
    )
    assert summary.status == "done", summary.fields
    assert fresh.positions(10001) == {"MNQ": 2}
    assert all(int(o["version"]["orderQty"]) <= 2 for o in working(fresh))


def test_cancel_removes_a_working_entry(fresh: System) -> None:
    limit = fresh.post(
        "solo", intent="buy", symbol="MNQ1!", quantity=1, order_type="limit", limit_price=20000
    )
    fresh.outcome(limit["id"])
    assert len(working(fresh)) == 1
    [summary] = fresh.outcome(fresh.post("solo", intent="cancel", symbol="MNQ1!")["id"])
    assert summary.status == "done", summary.fields
    assert working(fresh) == []
    assert fresh.positions(10001) == {}


def test_same_alert_sent_four_times_places_one_order(fresh: System) -> None:
    body = {
        "secret": SECRET,
        "intent": "buy",
        "symbol": "MNQ1!",
        "quantity": 1,
        "price": 21000,
        "alert_id": "four-times",
    }
    answers = [
        httpx.post(f"{fresh.url}/api/webhook/solo?code={KEY}", json=body, timeout=10).json()
        for _ in range(4)
    ]
    assert [a["status"] for a in answers] == ["accepted", "duplicate", "duplicate", "duplicate"]
    fresh.outcome(answers[0]["id"])
    assert fresh.positions(10001) == {"MNQ": 1}
    assert len(fresh.orders(10001)) == 1


def test_two_accounts_trade_with_their_multipliers(fresh: System) -> None:
    sent = fresh.post("both", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    assert sent["messages"] == 2
    summaries = fresh.outcome(sent["id"], accounts=2)
    assert {s.status for s in summaries} == {"done"}
    assert fresh.positions(10001) == {"MNQ": 1}
    assert fresh.positions(10002) == {"MNQ": 3}


def test_burst_over_ten_instruments_keeps_each_instruments_order(fresh: System) -> None:
    roots = ["MNQ", "ES", "MES", "NQ", "RTY", "M2K", "YM", "MYM", "CL", "MCL"]
    queues = {root: list(range(1, 6)) for root in roots}
    rng = random.Random(7)
    ids = []
    while any(queues.values()):
        root = rng.choice([r for r, q in queues.items() if q])
        target = queues[root].pop(0)
        ids.append(
            fresh.post(
                "solo",
                intent="buy",
                symbol=f"{root}1!",
                quantity=1,
                market_position="long",
                position_size=target,
                price=1000,
            )["id"]
        )
    assert len(ids) == 50
    for signal_id in ids:
        fresh.outcome(signal_id, timeout_s=60)
    assert fresh.positions(10001) == dict.fromkeys(roots, 5)


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("kill:global", "kill_switch_global"),
        ("kill:strategy:solo", "kill_switch_strategy"),
        ("kill:account:DEMO10001", "kill_switch_account"),
    ],
)
def test_kill_switch_denies_before_any_broker_call(fresh: System, key: str, code: str) -> None:
    redis.Redis.from_url(fresh.redis_url).set(key, "test")
    fresh.sim.reset_stats()
    [summary] = fresh.outcome(
        fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000)["id"]
    )
    assert (summary.status, summary.fields["reason_code"]) == ("denied", code)
    requests = fresh.sim.stats()["requests"]
    assert not any("place" in name.lower() for name in requests)


@pytest.mark.parametrize(
    ("strategy", "alerts", "code"),
    [
        ("sizes", [{"quantity": 3}], "max_order_qty"),
        ("sizes", [{"quantity": 2}, {"quantity": 2}], "max_position"),
        ("cooldown", [{"quantity": 1}, {"quantity": 1}], "cooldown"),
        ("window", [{"quantity": 1}], "outside_trading_window"),
        ("solo", [{"quantity": 1, "time": now_iso(-7200)}], "stale_alert"),
    ],
)
def test_risk_gate_denies_with_its_code(
    fresh: System, strategy: str, alerts: list[dict[str, object]], code: str
) -> None:
    summary = None
    for extra in alerts:
        body = {"intent": "buy", "symbol": "MNQ1!", "price": 21000, **extra}
        [summary] = fresh.outcome(fresh.post(strategy, **body)["id"])
    assert summary is not None
    assert (summary.status, summary.fields.get("reason_code")) == ("denied", code), summary.fields


def test_entry_outside_the_symbol_allowlist_is_refused_at_the_webhook(fresh: System) -> None:
    # The allowlist gate is checked at the door (issue 14): 400, nothing queued or placed.
    body = {"secret": SECRET, "intent": "buy", "symbol": "ES1!", "quantity": 1, "price": 6000}
    fresh.sim.reset_stats()
    r = httpx.post(f"{fresh.url}/api/webhook/micro?code={KEY}", json=body, timeout=10)
    assert (r.status_code, r.json()["code"]) == (400, "unknown_symbol")
    assert not any("place" in name.lower() for name in fresh.sim.stats()["requests"])


def test_daily_loss_limit_stops_new_entries(fresh: System) -> None:
    fresh.outcome(fresh.post("lossy", intent="buy", symbol="MNQ1!", quantity=1, price=21000)["id"])
    fresh.sim.set_price("MNQ", "20900")
    fresh.outcome(fresh.post("lossy", intent="exit", symbol="MNQ1!", price=20900)["id"])
    client = redis.Redis.from_url(fresh.redis_url)
    alerts = client.pubsub(ignore_subscribe_messages=True)
    alerts.subscribe("risk.alert")
    try:
        signal_id = fresh.post("lossy", intent="buy", symbol="MNQ1!", quantity=1, price=20900)["id"]
        [summary] = fresh.outcome(signal_id)

        def alerted() -> dict[str, Any] | None:
            message = alerts.get_message(timeout=0.2)
            return json.loads(message["data"]) if message else None

        event = wait_for(alerted, 5)
    finally:
        alerts.close()
        client.close()
    assert (summary.status, summary.fields.get("reason_code")) == ("denied", "daily_loss_limit")
    # Reaching the limit is also a risk alert (dashboards, notifications).
    assert (event["kind"], event["code"], event["signal_id"]) == (
        "daily_loss_limit",
        "daily_loss_limit",
        signal_id,
    )


@pytest.mark.parametrize(
    "faults",
    [
        {"fail_next": 2, "error_endpoint": "order/placeorder"},
        {"throttle_next": 2, "throttle_endpoint": "order/placeorder"},
        {"pticket_next": 1, "pticket_endpoint": "order/placeorder", "pticket_time_s": 0.2},
    ],
    ids=["5xx", "429", "p-ticket"],
)
def test_broker_faults_still_place_exactly_one_order(
    fresh: System, faults: dict[str, object]
) -> None:
    fresh.sim.inject(**faults)
    [summary] = fresh.outcome(
        fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000)["id"],
        timeout_s=40,
    )
    assert summary.status == "done", summary.fields
    assert fresh.positions(10001) == {"MNQ": 1}
    assert len(fresh.orders(10001)) == 1


def test_broker_down_for_good_dead_letters_with_the_reason(fresh: System) -> None:
    fresh.sim.inject(error_rate=1.0, error_endpoint="order/placeorder")
    sent = fresh.post("solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000)
    report = wait_for(
        lambda: next(
            (
                d
                for d in httpx.get(
                    f"{fresh.url}/admin/queues/signals", headers={"x-functions-key": "e2e-master"}
                ).json()["dead_letters"]
                if d["message_id"].startswith(sent["id"])
            ),
            None,
        ),
        timeout_s=90,
    )
    fresh.sim.clear_faults()
    assert report["reason"] == "MaxDeliveryCountExceeded"
    assert report["delivery_count"] == 5
    assert "order/placeorder failed" in report["description"]
    assert fresh.orders(10001) == []


def test_ledger_mirror_timer_copies_the_execution_to_table_storage(fresh: System) -> None:
    sent = fresh.post("both", intent="buy", symbol="MES1!", quantity=1, price=6000, **BRACKET)
    fresh.outcome(sent["id"], accounts=2)
    assert fresh.archived(sent["id"]) == []  # nothing copied until the mirror runs
    r = httpx.post(
        f"{fresh.url}/admin/functions/ledger_mirror", headers={"x-functions-key": "e2e-master"}
    )
    assert r.status_code == 202, r.text
    working_copy = {(e.row_key, e.status): e.fields for e in fresh.ledger(sent["id"])}
    archived = wait_for(
        lambda: (
            rows
            if len(rows := {(e.row_key, e.status): e.fields for e in fresh.archived(sent["id"])})
            == len(working_copy)
            else None
        )
    )
    assert archived == working_copy
    # Two summaries (done) and two bracket entries with their order ids, filled: a market
    # entry's message completes once its fill is known.
    assert sorted(status for _, status in archived) == ["done", "done", "filled", "filled"]
    assert all(isinstance(f.get("order_id"), int) for (k, s), f in archived.items() if s != "done")


def test_the_ledger_records_each_step_from_tradingview_to_the_broker(fresh: System) -> None:
    sent = fresh.post(
        "solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000, time=now_iso(-2)
    )
    [summary] = fresh.outcome(sent["id"])
    [leg] = [r for r in fresh.ledger(sent["id"]) if not r.row_key.startswith("exec:")]
    steps = [
        summary.fields["tv_time"],
        summary.fields["received_at"],
        summary.fields["enqueued_at"],
        summary.fields["dequeued_at"],
        leg.fields["claimed_at"],
        leg.fields["sent_at"],
        leg.fields["acked_at"],
        summary.fields["finished_at"],
    ]
    assert all(isinstance(step, datetime) for step in steps), steps
    # The queue stamps enqueued_at after the webhook's received_at, on the same clock here, but
    # to the whole millisecond as Service Bus does; so the steps are compared at that resolution.
    in_ms = [step.replace(microsecond=step.microsecond // 1000 * 1000) for step in steps]
    assert in_ms == sorted(in_ms), steps
    assert isinstance(leg.fields["order_id"], int)
