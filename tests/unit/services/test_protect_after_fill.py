"""A market entry whose bracket needs a price it does not have: exits placed around its fill.

The lean deployment has no quotes, and many alerts send no price: the entry goes out alone,
and once its fill is known the executor places the take profit and the stop, OCO-linked, at
their distances from the average fill, exactly once. Refused exits never leave the position
unprotected unnoticed: the default closes what filled; ``notify`` keeps it; both publish
``risk.alert``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.domain.broker import OrderType
from shared.domain.planning.model import client_order_id
from tests.fakes import FakeBroker
from tests.unit.services.test_current_view import FAST
from tests.unit.services.test_execute import World as ExecuteWorld

STRATEGIES = """version = 1
[strategies.s]
secret = {{ env = "WEBHOOK_S" }}
accounts = [{{ name = "DEMO10001", id = 10001 }}]
[strategies.s.behaviour]
bracket_failure = "{failure}"
"""
SIGNAL = "f" * 32
ALERT = {
    "intent": "buy", "symbol": "MNQ1!", "quantity": 2,
    "take_profit": {"ticks": 40}, "stop_loss": {"ticks": 20},
}  # fmt: skip


class World(ExecuteWorld):
    """The executor with strategy "s" (its bracket_failure set), one alert, one signal."""

    def __init__(self, tmp: Any, failure: str = "flatten", *, worker: bool = False) -> None:
        path = tmp / "strategies.toml"
        path.write_text(STRATEGIES.format(failure=failure))
        super().__init__(strategies=path, broker=FakeBroker(price="21000.50"), timing=FAST)
        self.live.fresh = worker

    async def run(self, delivery: int = 1) -> Any:  # type: ignore[override]
        return await super().run(ALERT, SIGNAL, delivery, strategy="s")

    def row(self, leg: str) -> Any:
        return self.ledger.table[(SIGNAL, client_order_id(SIGNAL, "DEMO10001", leg))]


@pytest.mark.parametrize("worker", [False, True], ids=["lean", "with-worker"])
async def test_entry_without_a_price_gets_its_oco_exits_around_the_fill(
    tmp_path: Any, worker: bool
) -> None:
    world = World(tmp_path, worker=worker)
    outcome = await world.run()
    assert outcome.status == "done", outcome.detail
    [oco] = world.broker.oco
    take, stop = oco.order, oco.other  # type: ignore[attr-defined]
    # MNQ ticks are 0.25: 40 above and 20 below the average fill of 21000.50.
    assert (take.order_type, take.price, take.qty) == (OrderType.LIMIT, Decimal("21010.50"), 2)
    assert (stop.order_type, stop.stop_price) == (OrderType.STOP, Decimal("20995.50"))
    assert take.cl_ord_id == client_order_id(SIGNAL, "DEMO10001", "entry.tp")
    assert world.row("entry.tp").status == "acknowledged"
    assert "exits placed around the fill at 21000.50" in outcome.detail
    assert world.broker.net_pos == 2
    # Both exits are indexed with the claim, as exits: the worker names the signal in their
    # fills and merges nothing into the ledger (the stop has no row; the entry's is its own).
    for leg, order in (("entry.tp", take), ("entry.sl", stop)):
        link = world.store.links[order.cl_ord_id]
        assert link == {"signal_id": SIGNAL, "strategy": "s", "account": "DEMO10001",
                        "account_id": 10001, "leg": leg, "ledger": False}  # fmt: skip


async def test_redelivery_after_the_exits_places_nothing_again(tmp_path: Any) -> None:
    world = World(tmp_path)
    await world.run()
    sent = list(world.broker.sent)
    outcome = await world.run(delivery=2)
    assert outcome.status == "already_done"
    assert world.broker.sent == sent
    assert len(world.broker.oco) == 1


async def test_refused_exits_flatten_what_filled_by_default(tmp_path: Any) -> None:
    world = World(tmp_path)
    world.broker.place_oco = _refusing(world.broker)  # type: ignore[method-assign]
    outcome = await world.run()
    assert world.broker.net_pos == 0  # the entry's 2 closed again
    assert world.row("entry.flatten").status in ("acknowledged", "filled")
    assert "position flattened" in outcome.detail
    flatten = world.store.links[client_order_id(SIGNAL, "DEMO10001", "entry.flatten")]
    assert (flatten["leg"], flatten["ledger"]) == ("entry.flatten", False)  # type: ignore[index]
    [(_, alert)] = [(e, p) for e, p in world.store.events if e == "risk.alert"]
    assert (alert["kind"], alert["action"]) == ("unprotected_entry", "flattened")


async def test_refused_exits_keep_the_position_when_the_strategy_says_notify(
    tmp_path: Any,
) -> None:
    world = World(tmp_path, failure="notify")
    world.broker.place_oco = _refusing(world.broker)  # type: ignore[method-assign]
    outcome = await world.run()
    assert world.broker.net_pos == 2
    assert "position kept" in outcome.detail
    assert [p["action"] for e, p in world.store.events if e == "risk.alert"] == ["kept"]


def _refusing(broker: FakeBroker) -> Any:
    async def refuse(req: Any, *, lookup_first: bool = False) -> Any:
        from shared.domain.errors import BrokerRejected

        raise BrokerRejected("Price is out of the daily limits", code="InvalidPrice")

    return refuse
