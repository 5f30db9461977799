"""PickMyTrade's per-alert position rules, through the webhook and the executor, at the simulator.

The "solo" strategy reverses opposite signals and adds on the same side; each alert below
carries its own rule, and the position at Tradovate follows the alert's rule, not the
strategy's (PickMyTrade's table, docs/alerts/pickmytrade.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.execution.conftest import System

pytestmark = pytest.mark.integration

ACCOUNT_ID = 10001


def _pmt(system: System, data: str, quantity: int, **rules: str) -> Any:
    sent = system.post("solo", data=data, symbol="MNQ1!", quantity=str(quantity), **rules)
    [summary] = system.outcome(sent["id"], timeout_s=30)
    return summary


def test_each_alert_moves_the_position_as_its_own_rule_says(fresh: System) -> None:
    fresh.sim.set_price("MNQ", "21000")
    steps = [
        # (action, quantity, rules, status, position after, what the strategy alone would do)
        ("buy", 2, {}, "done", 2, "enter 2"),
        ("sell", 1, {"reverse_order_close": "false"}, "done", 1, "reverse to -1"),
        ("buy", 1, {"same_direction_ignore": "true", "pyramid": "true"}, "denied", 1, "add"),
        ("buy", 1, {"reverse_order_close": "true", "pyramid": "false"}, "done", 1, "add to 2"),
        ("sell", 2, {"reverse_order_close": "true"}, "done", -2, "reverse too"),
    ]
    for number, (data, qty, rules, status, after, _strategy_alone) in enumerate(steps):
        summary = _pmt(fresh, data, qty, **rules)
        assert summary.status == status, (number, summary.fields)
        assert fresh.positions(ACCOUNT_ID).get("MNQ", 0) == after, number
        if status == "denied":
            assert summary.fields["reason_code"] == "same_direction_ignored"
