"""The executor's exactly-once rules against in-memory ports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from shared.domain.alerts import parse_alert
from shared.domain.clock import ManualClock
from shared.domain.errors import DependencyUnavailable, TransientBrokerError
from shared.domain.planning.model import client_order_id
from shared.services.envelope import OPERATOR_FORMAT, Envelope
from shared.services.execute import Delivery, ExecuteDeps, Executor, Outcome
from shared.services.settle import Timing
from shared.strategies import load_strategies
from tests.fakes import FakeBroker, FakeContracts, FakeLedger, FakeLive, FakeStore

STRATEGIES = Path(__file__).resolve().parents[2] / "fixtures" / "strategies.test.toml"
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


class World:
    """The executor over in-memory ports; other executor tests build on it."""

    def __init__(
        self,
        *,
        strategies: Path = STRATEGIES,
        broker: FakeBroker | None = None,
        live: Callable[[FakeBroker], FakeLive] = FakeLive,
        timing: Timing | None = None,
    ) -> None:
        self.broker = broker or FakeBroker()
        self.ledger = FakeLedger()
        self.store = FakeStore()
        self.live = live(self.broker)
        self.executor = Executor(
            ExecuteDeps(
                strategies=load_strategies(strategies),
                broker=self.broker,
                contracts=FakeContracts(),
                ledger=self.ledger,
                store=self.store,
                live=self.live,
                clock=ManualClock(NOW),
                timing=timing or Timing(),
            )
        )

    async def run(
        self,
        body: dict[str, object],
        signal_id: str = "s" * 32,
        delivery: int = 1,
        *,
        strategy: str = "nq-trend",
    ) -> Outcome:
        signal = parse_alert(json.dumps(body)).signal
        envelope = Envelope(
            signal_id=signal_id, strategy_id=strategy, account="DEMO10001", account_id=10001,
            multiplier=Decimal(1), alert_format="native", received_at=NOW,
            correlation_id="corr", signal=signal,
        )  # fmt: skip
        return await self.executor.execute(Delivery(envelope, f"{signal_id}:DEMO10001", delivery))


BUY = {"intent": "buy", "symbol": "MNQ1!", "quantity": 2, "signal_price": "21000"}


@pytest.fixture
def world() -> World:
    return World()


async def test_execute_with_buy_places_one_order_and_journals_done(world: World) -> None:
    outcome = await world.run(BUY)
    assert outcome.status == "done"
    assert len(world.broker.sent) == 1
    assert world.broker.net_pos == 2
    summary = world.ledger.table[("s" * 32, "exec:DEMO10001")]
    assert summary.status == "done"  # type: ignore[attr-defined]
    assert [e for e, _ in world.store.events] == ["trade.signal", "order.request", "order.placed"]
    assert set(world.store.links) == set(world.broker.sent)


async def test_execute_with_a_bracket_indexes_its_exits_as_exits_of_the_signal(
    world: World,
) -> None:
    bracket = {**BUY, "take_profit": {"ticks": 40}, "stop_loss": {"ticks": 20}}
    assert (await world.run(bracket)).status == "done"
    signal = "s" * 32
    legs = {
        client_order_id(signal, "DEMO10001", leg): leg for leg in ("entry", "entry.tp", "entry.sl")
    }
    assert set(world.store.links) == set(legs)
    for cl_ord_id, leg in legs.items():
        link = world.store.links[cl_ord_id]
        assert link["leg"] == leg
        assert link["signal_id"] == signal
        # The entry's fills merge into its ledger row; the exits have none of their own.
        assert ("ledger" in link) is (leg != "entry")  # type: ignore[operator]
    assert {key for _, key in world.ledger.table} == {"exec:DEMO10001", *list(legs)[:1]}


async def test_execute_with_a_fill_known_at_once_records_answer_and_fill_in_one_write(
    world: World,
) -> None:
    assert (await world.run(BUY)).status == "done"
    entry = client_order_id("s" * 32, "DEMO10001", "entry")
    # After the claim, one write: the leg's answer merged with its fill, the summary done.
    assert world.ledger.writes == [[(entry, "filled"), ("exec:DEMO10001", "done")]]
    leg = world.ledger.table[("s" * 32, entry)]
    assert leg.fields["order_id"] == world.broker.placed[entry]  # type: ignore[attr-defined]
    assert "acked_at" in leg.fields  # type: ignore[attr-defined]
    summary = world.ledger.table[("s" * 32, "exec:DEMO10001")]
    assert summary.fields["fills"] == "confirmed"  # type: ignore[attr-defined]
    assert summary.fields["position_after"] == 2  # the answers' summary fields are kept
    assert world.store.events[-1][0] == "order.placed"


async def test_execute_with_a_fill_slower_than_the_linger_records_the_answer_first() -> None:
    world = World(timing=Timing(answer_linger_s=0.02, rest_poll_s=0.01, fill_cache_s=0))
    world.broker.state_fails = True  # Tradovate cannot say yet where the order stands

    async def answer_later() -> None:
        await asyncio.sleep(0.15)
        world.broker.state_fails = False

    later = asyncio.create_task(answer_later())
    assert (await world.run(BUY)).status == "done"
    await later
    entry = client_order_id("s" * 32, "DEMO10001", "entry")
    # The answer went out once the linger passed ("sent" while the wait went on), then the
    # fill with the summary's final status.
    assert world.ledger.writes == [
        [(entry, "acknowledged"), ("exec:DEMO10001", "sent")],
        [(entry, "filled"), ("exec:DEMO10001", "done")],
    ]


async def test_execute_delivered_four_times_places_one_order(world: World) -> None:
    outcomes = [await world.run(BUY, delivery=n) for n in range(1, 5)]
    assert [o.status for o in outcomes] == ["done", "already_done", "already_done", "already_done"]
    assert len(world.broker.sent) == 1


async def test_execute_killed_between_broker_call_and_ledger_update_places_once(
    world: World,
) -> None:
    # The process dies after the broker said yes: the write of the answer (which travels with
    # the fill's, the leg "filled") never happens.
    world.ledger.fail_on_status = "filled"
    with pytest.raises(DependencyUnavailable):
        await world.run(BUY)
    assert len(world.broker.sent) == 1
    outcome = await world.run(BUY, delivery=2)
    assert outcome.status == "done"
    assert len(world.broker.sent) == 1  # found by clOrdId, not placed again
    leg = next(r for (s, k), r in world.ledger.table.items() if k != "exec:DEMO10001")
    # Acknowledged, then its fill confirmed by REST before the message completed.
    assert leg.status == "filled"  # type: ignore[attr-defined]
    assert leg.fields["settled_qty"] == world.broker.quantities[leg.row_key]  # type: ignore[attr-defined]
    assert leg.fields["settled_by"] == "rest"  # type: ignore[attr-defined]


async def test_execute_with_broker_timeout_after_placing_finds_the_order_on_redelivery(
    world: World,
) -> None:
    world.broker.fail_after_place = True
    with pytest.raises(TransientBrokerError):
        await world.run(BUY)
    assert (await world.run(BUY, delivery=2)).status == "done"
    assert len(world.broker.sent) == 1


async def test_execute_redelivered_after_the_ledger_lost_its_rows_records_the_order_placed(
    world: World,
) -> None:
    # The first delivery placed the order, then Redis failed over and lost the ledger rows:
    # planned again against the moved position, this strategy (no adding) would be refused,
    # but the order is at the broker under this signal's clOrdId, so that is the outcome.
    world.ledger.fail_on_status = "filled"  # the answer's write (with the fill's) is lost
    with pytest.raises(DependencyUnavailable):
        await world.run(BUY)
    world.ledger.table.clear()
    outcome = await world.run(BUY, delivery=2)
    assert len(world.broker.sent) == 1
    assert world.broker.net_pos == 2
    entry = client_order_id("s" * 32, "DEMO10001", "entry")
    assert outcome.status == "done"
    assert outcome.orders == (world.broker.placed[entry],)
    assert "recovered" in outcome.detail
    summary = world.ledger.table[("s" * 32, "exec:DEMO10001")]
    assert summary.status == "done"  # type: ignore[attr-defined]
    leg = world.ledger.table[("s" * 32, entry)]
    assert leg.status == "acknowledged"  # type: ignore[attr-defined]
    assert leg.fields["order_id"] == world.broker.placed[entry]  # type: ignore[attr-defined]


async def test_execute_redelivered_without_rows_or_orders_of_its_own_is_denied(
    world: World,
) -> None:
    # Nothing of this signal anywhere (the first delivery died before its claim), and the
    # position comes from another signal: the gate's refusal stands.
    world.broker.placed[client_order_id("o" * 32, "DEMO10001", "entry")] = 40
    world.broker.placed[client_order_id("s" * 32, "DEMO10002", "entry")] = 41  # other account
    world.broker.net_pos = 2
    outcome = await world.run(BUY, delivery=2)
    assert outcome.status == "denied"
    assert "add_not_allowed" in outcome.detail
    assert world.broker.sent == []


async def test_execute_redelivered_without_rows_with_the_broker_down_keeps_the_denial(
    world: World,
) -> None:
    world.broker.net_pos = 2
    world.broker.lookups_fail = True
    outcome = await world.run(BUY, delivery=2)
    assert outcome.status == "denied"
    assert world.broker.sent == []


async def test_execute_redelivered_with_a_fresh_claim_looks_legs_up_before_placing(
    world: World,
) -> None:
    # An earlier delivery placed the entry but recorded nothing anywhere (its claim was lost).
    world.broker.placed[client_order_id("s" * 32, "DEMO10001", "entry")] = 41
    outcome = await world.run(BUY, delivery=2)
    assert world.broker.sent == []  # found at the broker: not placed again
    assert outcome.orders == (41,)


async def test_execute_with_kill_switch_is_denied_without_broker_call(world: World) -> None:
    world.store.kills = (True, False, False)
    outcome = await world.run(BUY)
    assert outcome.status == "denied"
    assert outcome.detail.startswith("kill_switch_global")
    assert world.broker.sent == []
    assert world.store.events[-1][0] == "risk.denied"


async def test_execute_with_broker_rejection_is_journaled_and_not_retried(world: World) -> None:
    world.broker.reject_next = "Insufficient margin"
    outcome = await world.run(BUY)
    assert outcome.status == "rejected"
    assert "Insufficient margin" in outcome.detail
    assert (await world.run(BUY, delivery=2)).status == "already_done"
    assert world.broker.sent == []
    assert ("order.rejected") in [e for e, _ in world.store.events]


async def test_execute_with_unknown_contract_is_denied_not_retried(world: World) -> None:
    outcome = await world.run({**BUY, "symbol": "ZZ1!"})
    assert (outcome.status, outcome.detail.split(":")[0]) == ("denied", "unknown_contract")


async def test_execute_with_target_position_records_intent(world: World) -> None:
    body = {"intent": "buy", "symbol": "MNQ1!", "quantity": 3, "market_position": "long",
            "position_size": 3, "signal_price": "21000"}  # fmt: skip
    assert (await world.run(body)).status == "done"
    assert world.store.intents == [("nq-trend", "DEMO10001", "MNQ", 3)]
    assert world.broker.net_pos == 3


async def test_execute_redelivered_after_crash_finishes_the_first_plan(world: World) -> None:
    world.ledger.fail_on_status = "filled"  # the answer's write (with the fill's) is lost
    with pytest.raises(DependencyUnavailable):
        await world.run(BUY)
    world.broker.price = Decimal("25000")  # the world moved; the stored plan still rules
    outcome = await world.run(BUY, delivery=2)
    assert outcome.status == "done"
    summary = world.ledger.table[("s" * 32, "exec:DEMO10001")]
    assert summary.fields["position_after"] == 2  # type: ignore[attr-defined]
    assert len(world.broker.sent) == 1


def test_plan_record_round_trips_a_bracket_plan() -> None:
    from shared.domain import broker
    from shared.domain.planning.model import Book
    from shared.domain.planning.planner import plan
    from shared.domain.policy import RiskState, StrategyPolicy
    from shared.services.plan_record import dump_plan, load_plan

    signal = parse_alert(
        json.dumps({**BUY, "take_profit": {"ticks": 40}, "stop_loss": {"ticks": 20}})
    ).signal
    contract = broker.ContractSpec(
        contract=broker.Contract(id=777, name="MNQZ6"),
        product=broker.Product(
            id=7, name="MNQ", tick_size=Decimal("0.25"), value_per_point=Decimal(2)
        ),
    )
    made = plan(
        signal, Book(), contract, RiskState(now=NOW), StrategyPolicy(strategy_id="s"),
        broker.Account(id=1, name="A"), signal_id="x" * 32,
    )  # fmt: skip
    assert not isinstance(made, Exception)
    assert load_plan(dump_plan(made)) == made


async def test_execute_with_fresh_live_cache_reads_no_position_over_rest(world: World) -> None:
    world.live.fresh = True
    calls: list[str] = []
    original = world.broker.positions

    async def counting(account_id=None):  # type: ignore[no-untyped-def]
        calls.append("positions")
        return await original(account_id)

    world.broker.positions = counting  # type: ignore[method-assign]
    assert (await world.run(BUY)).status == "done"
    assert calls == []
    assert world.live.reads == 1


async def test_execute_with_stale_live_cache_falls_back_to_rest(world: World) -> None:
    world.broker.net_pos = 2  # REST knows a long position the cache cannot vouch for
    outcome = await world.run({**BUY, "market_position": "long", "position_size": 2})
    assert outcome.status == "done"
    assert world.broker.sent == []  # already at the target: nothing to send


WINDOWED = """\
version = 1

[strategies.windowed]
secret = { env = "WEBHOOK_WINDOWED" }
accounts = [{ name = "DEMO10001", id = 10001 }]
[strategies.windowed.risk]
timezone = "America/Chicago"
exits_outside_windows = false
trading_windows = [{ days = ["mon"], start = "08:30", end = "09:00" }]
"""


@pytest.mark.parametrize(
    ("alert_format", "status"), [("native", "denied"), (OPERATOR_FORMAT, "done")]
)
async def test_an_operators_flatten_closes_outside_the_windows_where_a_strategys_exit_waits(
    tmp_path: Path, alert_format: str, status: str
) -> None:
    path = tmp_path / "strategies.toml"
    path.write_text(WINDOWED, encoding="utf-8")
    world = World(strategies=path)
    world.broker.net_pos = 2  # held before the window closed (NOW is a Friday)
    signal = parse_alert(json.dumps({"intent": "flat", "symbol": "MNQ1!"})).signal
    envelope = Envelope(
        signal_id="f" * 32, strategy_id="windowed", account="DEMO10001", account_id=10001,
        multiplier=Decimal(1), alert_format=alert_format, received_at=NOW,
        correlation_id="corr", signal=signal,
    )  # fmt: skip

    outcome = await world.executor.execute(Delivery(envelope, f"{'f' * 32}:DEMO10001", 1))

    assert outcome.status == status
    if status == "denied":
        assert outcome.detail.startswith("outside_trading_window")
        assert (world.broker.sent, world.broker.net_pos) == ([], 2)
    else:
        assert world.broker.net_pos == 0
        assert len(world.broker.sent) == 1


@pytest.mark.parametrize(
    ("alert", "held", "status", "net_after"),
    [
        ({"ticker": "MNQ1!", "action": "exit"}, 2, "denied", 2),
        ({"ticker": "MNQ1!", "action": "exit", "ignoreTradingWindows": True}, 2, "done", 0),
        ({"ticker": "MNQ1!", "action": "buy", "quantity": 1}, 0, "denied", 0),
        ({"ticker": "MNQ1!", "action": "buy", "quantity": 1, "ignoreTradingWindows": "true"},
         0, "done", 1),
        # CrossTrade's bypass_trade_windows, "true" only.
        ("key=k; command=PLACE; account=DEMO10001; instrument=MNQ1!; action=BUY; qty=1; "
         "order_type=MARKET; tif=DAY; bypass_trade_windows=true;", 0, "done", 1),
        ("key=k; command=PLACE; account=DEMO10001; instrument=MNQ1!; action=BUY; qty=1; "
         "order_type=MARKET; tif=DAY; bypass_trade_windows=yes;", 0, "denied", 0),
    ],
    ids=["exit-waits", "exit-passes", "entry-waits", "entry-passes", "ct-passes", "ct-yes-is-no"],
)  # fmt: skip
async def test_an_alert_that_bypasses_the_trading_windows_trades_outside_them(
    tmp_path: Path, alert: dict[str, object] | str, held: int, status: str, net_after: int
) -> None:
    path = tmp_path / "strategies.toml"
    path.write_text(WINDOWED, encoding="utf-8")
    world = World(strategies=path)
    world.broker.net_pos = held  # from before the window closed (NOW is a Friday)
    signal = parse_alert(alert if isinstance(alert, str) else json.dumps(alert)).signal
    envelope = Envelope(
        signal_id="e" * 32, strategy_id="windowed", account="DEMO10001", account_id=10001,
        multiplier=Decimal(1), alert_format="traderspost", received_at=NOW,
        correlation_id="corr", signal=signal,
    )  # fmt: skip

    outcome = await world.executor.execute(Delivery(envelope, f"{'e' * 32}:DEMO10001", 1))

    assert outcome.status == status, outcome.detail
    assert world.broker.net_pos == net_after
    if status == "denied":
        assert outcome.detail.startswith("outside_trading_window")
