"""A market entry with tick brackets and no price, at the simulator: exits around the fill.

Without an alert price and without quotes (always so without the worker), the entry goes
out alone; once its fill is known the executor places the take profit and the stop as an
OCO pair at their distances from the fill. Once with the worker, once without it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.execution.conftest import System, now_iso

pytestmark = pytest.mark.integration

ACCOUNT_ID = 10001
TICK = Decimal("0.25")  # MNQ


def run(system: System) -> None:
    sent = system.post(
        "solo", intent="buy", symbol="MNQ1!", quantity=2, time=now_iso(-1),
        take_profit={"ticks": 40}, stop_loss={"ticks": 20},
    )  # fmt: skip
    [summary] = system.outcome(sent["id"], timeout_s=30)
    assert summary.status == "done", summary.fields
    state = system.sim.state()
    orders = [o for o in state["orders"] if o["accountId"] == ACCOUNT_ID]
    [entry] = [o for o in orders if o["version"]["orderType"] == "Market"]
    assert entry["ordStatus"] == "Filled"
    entry_fills = [f for f in state["fills"] if f["orderId"] == entry["id"]]
    qty = sum(int(f["qty"]) for f in entry_fills)
    average = sum(Decimal(str(f["price"])) * int(f["qty"]) for f in entry_fills) / qty
    working = [o for o in orders if o["ordStatus"] == "Working"]
    [take] = [o for o in working if o["version"]["orderType"] == "Limit"]
    [stop] = [o for o in working if o["version"]["orderType"] == "Stop"]
    assert take.get("ocoId") == stop["id"] or stop.get("ocoId") == take["id"]
    assert (take["action"], stop["action"]) == ("Sell", "Sell")
    assert take["version"]["orderQty"] == stop["version"]["orderQty"] == qty == 2
    assert Decimal(str(take["version"]["price"])) == average + 40 * TICK
    assert Decimal(str(stop["version"]["stopPrice"])) == average - 20 * TICK


def test_exits_around_the_fill_with_the_worker(worker: System) -> None:
    run(worker)


def test_exits_around_the_fill_without_the_worker(fresh: System) -> None:
    run(fresh)
