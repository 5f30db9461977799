"""How an order's moments are read from each design (ledger rows, forwarder records) and cut
into stages, and the bench-only forwarders app's parts that need no stack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.designs import Order, forwarded_order, ledger_orders
from bench.execute import stage_samples
from bench.forwarding import instrument_root
from shared.ports import LedgerEntry

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 3, 4, 15, 0, 0, tzinfo=UTC)


def at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def test_ledger_orders_join_each_leg_with_its_accounts_summary() -> None:
    rows = [
        LedgerEntry(
            "s1",
            "exec:DEMO10001",
            "done",
            {"received_at": at(1), "enqueued_at": at(2), "dequeued_at": at(5)},
        ),
        LedgerEntry(
            "s1",
            "exec:DEMO10002",
            "done",
            {"received_at": at(1), "enqueued_at": at(2), "dequeued_at": at(7)},
        ),
        LedgerEntry(
            "s1",
            "tb-a",
            "acknowledged",
            {
                "account": "DEMO10001",
                "claimed_at": at(6),
                "sent_at": at(8),
                "acked_at": at(11),
                "order_id": 42,
            },
        ),
        LedgerEntry(
            "s1",
            "tb-b",
            "acknowledged",
            {
                "account": "DEMO10002",
                "claimed_at": at(8),
                "sent_at": at(9),
                "acked_at": at(13),
                "order_id": 43,
            },
        ),
        LedgerEntry("s1", "tb-c", "claimed", {"account": "DEMO10002", "claimed_at": at(8)}),
    ]
    posted = T0.timestamp()
    orders = ledger_orders(rows, posted)
    assert [o.order_id for o in orders] == [42, 43]  # the unanswered leg is left out
    first, second = orders
    assert first.latency_s == pytest.approx(0.011, abs=1e-6)
    assert first.moments["delivered"] == pytest.approx(at(5).timestamp())
    assert second.moments["delivered"] == pytest.approx(at(7).timestamp())  # its own account's
    assert second.latency_s == pytest.approx(0.013, abs=1e-6)


def test_forwarded_order_reads_a_forwarders_record() -> None:
    record = {
        "account_id": 10003,
        "order_id": 7,
        "started": 10.004,
        "sent": 10.005,
        "acked": 10.009,
        "enqueued": 10.002,
        "signal_id": "s",
        "account": "DEMO10003",
    }
    order = forwarded_order(json.loads(json.dumps(record)), posted=10.0)
    assert order.latency_s == pytest.approx(0.009)
    assert order.moments == {
        "delivered": 10.004,
        "sent": 10.005,
        "acked": 10.009,
        "enqueued": 10.002,
    }
    direct = forwarded_order({**record, "enqueued": None, "order_id": None}, posted=10.0)
    assert "enqueued" not in direct.moments
    assert direct.order_id is None


def test_stage_samples_use_only_orders_that_carry_both_moments() -> None:
    tradebridge = Order(
        0.0,
        {
            "received": 0.001,
            "enqueued": 0.002,
            "delivered": 0.005,
            "claimed": 0.006,
            "sent": 0.008,
            "acked": 0.011,
        },
    )
    direct = Order(0.0, {"delivered": 0.001, "sent": 0.0012, "acked": 0.004})
    samples = stage_samples([tradebridge, direct])
    assert samples["enqueued_to_delivery"] == pytest.approx([0.003])
    assert samples["executor_own"] == pytest.approx([0.003, 0.0002])
    assert samples["broker"] == pytest.approx([0.003, 0.0028])
    assert samples["http_in"] == pytest.approx([0.001])
    assert samples["post_to_delivery"] == pytest.approx([0.005, 0.001])


@pytest.mark.parametrize(
    ("symbol", "root"),
    [("MNQ1!", "MNQ"), ("CME_MINI:ES1!", "ES"), ("CL2!", "CL"), ("NQ", "NQ")],
)
def test_instrument_root_strips_the_continuous_suffix(symbol: str, root: str) -> None:
    assert instrument_root(symbol) == root


def test_forwarders_app_pumps_its_queue_with_the_apps_service_bus_settings() -> None:
    ours = json.loads((ROOT / "bench" / "forwarders" / "host.json").read_text())
    app = json.loads((ROOT / "host.json").read_text())
    assert ours["extensions"] == app["extensions"]
