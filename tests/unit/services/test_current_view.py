"""Plan only from a view proven current: a lagging cache never sizes an order.

The worker's cache can show an account as it was before the last signal's fill. These tests
hold the cache back (it keeps showing the account as it was) and check that the executor
waits for it within its bound, else plans from REST, and that each signal's market fills are
part of its message: known before it completes, or recorded unconfirmed with the next plan
read from REST.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.broker import OrderStatus, OrderType, Position, Side
from shared.domain.planning.model import WorkingOrder
from shared.services.live_state import LiveView, SettledOrder
from shared.services.settle import Timing
from tests.fakes import FakeBroker, FakeLive
from tests.unit.services.test_execute import World as ExecuteWorld

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
FAST = Timing(view_wait_s=0.05, poll_s=0.001, fill_cache_s=0.02, fill_timeout_s=0.1,
              rest_poll_s=0.005)  # fmt: skip


class LaggingLive(FakeLive):
    """The worker's cache, live and synced, that can be held at the account as it was."""

    def __init__(self, broker: FakeBroker) -> None:
        super().__init__(broker)
        self.fresh = True
        self.held: tuple[LiveView, dict[int, SettledOrder]] | None = None
        self.release_after: int | None = None  # reads until a held cache catches up

    async def hold(self) -> None:
        view = await super().view(10001, 777)
        settled = await super().settled(10001)
        self.held = (view, dict(settled or {}))

    async def view(self, account_id: int, contract_id: int) -> LiveView | None:
        if self.held is not None and self.release_after is not None:
            self.release_after -= 1
            if self.release_after < 0:
                self.held = None
        if self.held is not None:
            self.reads += 1
            return self.held[0]
        return await super().view(account_id, contract_id)

    async def settled(self, account_id: int) -> Any:
        if self.held is not None:
            return self.held[1]
        return await super().settled(account_id)


class World(ExecuteWorld):
    """The executor with a cache that can lag; each run is a new signal."""

    def __init__(self, timing: Timing = FAST) -> None:
        super().__init__(live=LaggingLive, timing=timing)
        self.live: LaggingLive
        self.count = 0

    async def run(self, body: dict[str, object]) -> Any:  # type: ignore[override]
        self.count += 1
        signal_id = f"{self.count:032d}"
        outcome = await super().run(body, signal_id)
        self.summary = self.ledger.table[(signal_id, "exec:DEMO10001")]
        return outcome

    @property
    def basis(self) -> dict[str, Any]:
        return json.loads(self.summary.fields["basis"])  # type: ignore[attr-defined,no-any-return]


def buy(qty: int) -> dict[str, object]:
    return {"intent": "buy", "symbol": "MNQ1!", "quantity": qty, "signal_price": "21000"}


EXIT = {"intent": "exit", "symbol": "MNQ1!"}
SHORT_ONE = {"intent": "sell", "symbol": "MNQ1!", "market_position": "short", "position_size": 1}


@pytest.fixture
def world() -> World:
    return World()


async def test_exit_after_a_fill_the_cache_has_not_shown_reads_rest_and_sells_the_true_size(
    world: World,
) -> None:
    await world.live.hold()  # the cache stays flat: it will not show the next fill
    await world.run(buy(2))
    assert world.broker.net_pos == 2
    positions_before = world.broker.position_reads

    outcome = await world.run(EXIT)

    assert outcome.status == "done", outcome.detail
    assert world.broker.net_pos == 0  # sold 2, not nothing (the cache said flat)
    assert world.basis["source"] == "rest"
    assert world.basis["net_pos"] == 2
    assert "not settled in the cache" in world.basis["reason"]
    assert world.basis["waited_ms"] >= 40  # it gave the cache its bound first
    assert world.broker.position_reads == positions_before + 1


async def test_cache_that_catches_up_within_the_bound_is_used_without_rest(world: World) -> None:
    await world.run(buy(2))
    await world.live.hold()  # behind, before the exit ...
    await world.run(EXIT)
    world.live.release_after = 3  # ... and it catches up after a few reads
    positions_before, reads_before = world.broker.position_reads, world.live.reads

    await world.run(SHORT_ONE)

    assert world.broker.net_pos == -1
    assert world.basis["source"] == "cache"
    assert world.basis["net_pos"] == 0
    assert world.live.reads - reads_before >= 4  # polled until it showed the exit's fill
    assert world.broker.position_reads == positions_before


async def test_reversal_from_a_lagging_cache_never_trades_from_the_stale_position(
    world: World,
) -> None:
    for step, body in enumerate([buy(2), SHORT_ONE, EXIT, buy(1), SHORT_ONE, EXIT]):
        await world.live.hold()  # every signal sees a cache one fill behind
        before = world.broker.net_pos
        await world.run(body)
        assert world.basis["net_pos"] == before, f"step {step} planned from a stale position"
    assert world.broker.net_pos == 0


async def test_fill_not_confirmed_in_time_leaves_the_signal_done_unconfirmed_and_next_plan_rest(
    world: World,
) -> None:
    world.broker.state_fails = True  # REST cannot say, and the cache is held
    await world.live.hold()
    outcome = await world.run(buy(1))
    assert outcome.status == "done"
    assert "not confirmed closed within" in outcome.detail
    assert world.summary.fields["fills"] == "unconfirmed"  # type: ignore[attr-defined]
    world.broker.state_fails = False
    world.live.held = None  # the cache has caught up, but the expectation is unsure

    await world.run(EXIT)

    assert world.basis["source"] == "rest"
    assert "were not all confirmed" in world.basis["reason"]
    assert world.broker.net_pos == 0


async def test_market_order_closed_without_a_fill_after_its_answer_rejects_the_signal(
    world: World,
) -> None:
    world.broker.refuse_after_ack = True
    world.live.fresh = False  # lean: REST says what became of the order

    outcome = await world.run(buy(1))

    assert outcome.status == "rejected"
    assert "closed rejected without a fill" in outcome.detail
    assert world.broker.net_pos == 0
    rejected = [payload for name, payload in world.store.events if name == "order.rejected"]
    assert [(e["code"], e["leg"]) for e in rejected] == [("closed_without_fill", "entry")]
    assert "without a fill" in rejected[0]["message"]


async def test_fills_confirmed_from_the_cache_when_the_worker_shows_them(world: World) -> None:
    await world.run(buy(1))
    assert world.summary.fields["fills"] == "confirmed"  # type: ignore[attr-defined]
    assert world.summary.fields["settled_by"] == "cache"  # type: ignore[attr-defined]
    assert world.broker.state_reads == []  # no REST read for the fill


def test_working_order_with_another_size_in_the_cache_is_not_proven() -> None:
    from shared.services.expectation import Expectation, unproven

    order = WorkingOrder(41, Side.SELL, 2, OrderType.LIMIT, Decimal(21100))
    position = Position(1, 10001, 777, 2, bought=2)
    view = LiveView(position, (order,), None, None, settled={})
    assert unproven(view, Expectation("s", bought=2, working={41: 2})) is None
    assert "shows 2, not 1" in str(unproven(view, Expectation("s", bought=2, working={41: 1})))
    settled = {41: SettledOrder(OrderStatus.FILLED, 2)}
    moved = replace(view, working_orders=(), settled=settled)
    assert unproven(moved, Expectation("s", bought=2, working={41: 2})) is None
