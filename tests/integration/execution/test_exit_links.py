"""A bracket's exits name their signal in the fill and order history, at the simulator.

The executor indexes every exit's clOrdId with its entry's (the take profit and stop of an
OSO bracket, the exits placed around a fill). When an exit trades, the worker's Fills row,
its execution reports and ``order.filled`` name the signal, strategy and leg. Nothing of
theirs goes into the ledger: the entry's row keeps the entry's fill, and no row appears for
an exit the executor did not claim. The ops API's view of the signal lists its trades.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.domain.planning.model import client_order_id
from tests.integration.execution.conftest import KEY, System, now_iso, wait_for

pytestmark = pytest.mark.integration

ACCOUNT = "DEMO10001"
TICK = Decimal("0.25")  # MNQ


def _fills_by_leg(system: System, signal_id: str, count: int) -> dict[str, dict[str, Any]]:
    def read() -> dict[str, dict[str, Any]] | None:
        rows = system.history("fills", signal_id)
        return {r["leg"]: r for r in rows} if len(rows) == count else None

    found: dict[str, dict[str, Any]] = wait_for(read, 20)
    return found


def _cancelled_legs(system: System, signal_id: str) -> set[str]:
    def read() -> set[str] | None:
        rows = system.history("executions", signal_id)
        legs = {r["leg"] for r in rows if r["exec_type"] == "Canceled"}
        return legs or None

    found: set[str] = wait_for(read, 20)
    return found


def _ledger_keys(system: System, signal_id: str) -> dict[str, Any]:
    return {r.row_key: r for r in system.ledger(signal_id)}


def test_take_profit_of_a_bracket_sent_with_its_entry_names_the_signal(worker: System) -> None:
    worker.sim.set_price("MNQ", "21000")
    sent = worker.post(
        "solo", intent="buy", symbol="MNQ1!", quantity=1, price=21000,
        take_profit={"ticks": 8}, stop_loss={"ticks": 40},
    )  # fmt: skip
    signal = sent["id"]
    [summary] = worker.outcome(signal)
    assert summary.status == "done", summary.fields
    try:
        worker.sim.set_price("MNQ", str(21000 + 8 * TICK + TICK))  # through the take profit
        fills = _fills_by_leg(worker, signal, 2)
        assert set(fills) == {"entry", "entry.tp"}
        take = fills["entry.tp"]
        assert (take["strategy"], take["side"], take["price"]) == ("solo", "sell", "21002")
        assert take["cl_ord_id"] == client_order_id(signal, ACCOUNT, "entry.tp")
        # The take profit's fill cancels its OCO stop: a report of the same signal.
        assert _cancelled_legs(worker, signal) == {"entry.sl"}
        rows = _ledger_keys(worker, signal)
        entry = client_order_id(signal, ACCOUNT, "entry")
        assert set(rows) == {f"exec:{ACCOUNT}", entry}
        assert (rows[entry].status, rows[entry].fields["fill_price"]) == ("filled", "21000")
        # The operator's view of the signal lists both trades, entry then exit.
        answer = httpx.get(f"{worker.url}/api/signals/{signal}?code={KEY}", timeout=10)
        assert answer.status_code == 200, answer.text
        [account] = answer.json()["accounts"]
        trades = [(t["leg"], t["side"], t["price"]) for t in account["trades"]]
        assert trades == [("entry", "buy", "21000"), ("entry.tp", "sell", "21002")]
    finally:
        worker.sim.set_price("MNQ", "21000")


def test_stop_placed_around_the_fill_names_the_signal(worker: System) -> None:
    worker.sim.set_price("MNQ", "21000")
    sent = worker.post(
        "solo", intent="buy", symbol="MNQ1!", quantity=1, time=now_iso(-1),
        take_profit={"ticks": 40}, stop_loss={"ticks": 20},
    )  # fmt: skip
    signal = sent["id"]
    [summary] = worker.outcome(signal, timeout_s=30)
    assert summary.status == "done", summary.fields
    try:
        worker.sim.set_price("MNQ", str(21000 - 20 * TICK - TICK))  # through the stop
        fills = _fills_by_leg(worker, signal, 2)
        assert set(fills) == {"entry", "entry.sl"}
        assert fills["entry.sl"]["side"] == "sell"
        assert _cancelled_legs(worker, signal) == {"entry.tp"}
        rows = _ledger_keys(worker, signal)
        stop = client_order_id(signal, ACCOUNT, "entry.sl")
        take = client_order_id(signal, ACCOUNT, "entry.tp")
        assert stop not in rows  # no row for an exit no one claimed
        if take in rows:  # claimed when placed around the fill: its own answer, not a fill's
            assert rows[take].status == "acknowledged"
        entry = rows[client_order_id(signal, ACCOUNT, "entry")]
        assert entry.fields["fill_price"] == "21000"
    finally:
        worker.sim.set_price("MNQ", "21000")
