"""Twenty alerts for one account and instrument, 5 ms apart: every order the right size.

Back to back is the common case after a restart and whenever a strategy fires quickly. Each
message of a session plans only once the previous one's fill is known and from a view that
shows it (``shared.services.expectation``), so the sequence ends at exactly the intended
position and each signal trades exactly the difference it asks for: once with the worker's
cache, once without it (the lean deployment, where every plan reads REST).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from shared.domain.planning.model import is_leg_of
from tests.integration.execution.conftest import System, now_iso

pytestmark = pytest.mark.integration

ACCOUNT_ID = 10001


def long_(size: int) -> dict[str, Any]:
    return {"intent": "buy", "market_position": "long", "position_size": size}


def short(size: int) -> dict[str, Any]:
    return {"intent": "sell", "market_position": "short", "position_size": -size}


def exit_(qty: int) -> dict[str, Any]:
    return {"intent": "exit", "quantity": qty}


FLAT: dict[str, Any] = {"intent": "flat"}
# Alternating long / short / flat / partial exit, with the position each one intends.
SEQUENCE: list[tuple[dict[str, Any], int]] = [
    (long_(2), 2), (short(1), -1), (FLAT, 0), (long_(3), 3), (exit_(1), 2),
    (short(2), -2), (exit_(1), -1), (long_(1), 1), (FLAT, 0), (short(3), -3),
    (exit_(2), -1), (long_(2), 2), (exit_(1), 1), (short(1), -1), (FLAT, 0),
    (long_(3), 3), (short(3), -3), (exit_(1), -2), (long_(1), 1), (FLAT, 0),
]  # fmt: skip


def run_sequence(system: System) -> None:
    signals: list[str] = []
    for alert, _ in SEQUENCE:
        body = {**alert, "symbol": "MNQ1!", "price": 21000, "time": now_iso(-1)}
        signals.append(system.post("solo", **body)["id"])
        time.sleep(0.005)
    for signal_id in signals:
        [summary] = system.outcome(signal_id, timeout_s=60)
        assert summary.status == "done", (signal_id, summary.fields)
        assert summary.fields.get("fills") in ("confirmed", "none"), summary.fields
    state = system.sim.state()
    fills: dict[int, int] = {}
    for fill in state["fills"]:
        sign = 1 if fill["action"] == "Buy" else -1
        fills[fill["orderId"]] = fills.get(fill["orderId"], 0) + sign * fill["qty"]
    orders = [o for o in state["orders"] if o["accountId"] == ACCOUNT_ID]
    before = 0
    for step, (signal_id, (_, intended)) in enumerate(zip(signals, SEQUENCE, strict=True)):
        mine = [o for o in orders if is_leg_of(o.get("clOrdId") or "", signal_id, "DEMO10001")]
        traded = [fills.get(o["id"], 0) for o in mine]
        need = intended - before
        assert sum(traded) == need, f"step {step}: traded {traded}, needed {need}"
        for qty in traded:  # each order is part of the move, never against it or beyond it
            assert qty * need > 0, f"step {step}: order {qty} against the move {need}"
            assert abs(qty) <= abs(need), f"step {step}: order {qty} beyond the move {need}"
        before = intended
    net = [p["netPos"] for p in state["positions"] if p["accountId"] == ACCOUNT_ID]
    assert sum(net) == SEQUENCE[-1][1] == 0
    # Every plan says what it was made from, and it was the broker's position at the time.
    before = 0
    for signal_id, (_, intended) in zip(signals, SEQUENCE, strict=True):
        [summary] = [r for r in system.ledger(signal_id) if r.row_key.startswith("exec:")]
        basis = json.loads(summary.fields["basis"])
        assert basis["source"] in ("cache", "rest")
        assert basis["net_pos"] == before, (signal_id, basis)
        before = intended


def test_back_to_back_with_the_worker_trades_each_step_exactly(worker: System) -> None:
    run_sequence(worker)


def test_back_to_back_without_the_worker_trades_each_step_exactly(fresh: System) -> None:
    run_sequence(fresh)
