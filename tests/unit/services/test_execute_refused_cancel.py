"""A cancel or modify refused because the order is already gone, against in-memory ports.

The worker's cache (``StaleLive``) claims to be synced but shows the account as it was before
the broker closed an order; the broker fake (``FakeBroker.book``) holds the truth.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from shared.domain.alerts import parse_alert
from shared.domain.broker import OrderFate, OrderState, OrderStatus, OrderType, Position, Side
from shared.domain.clock import ManualClock
from shared.domain.errors import TransientBrokerError, TransientError
from shared.domain.planning.model import WorkingOrder, client_order_id
from shared.ports import LedgerEntry
from shared.services.envelope import Envelope
from shared.services.execute import REPLAN, Delivery, ExecuteDeps, Executor, Outcome
from shared.services.live_state import LiveView
from shared.strategies import load_strategies
from tests.fakes import FakeBroker, FakeContracts, FakeLedger, FakeStore

STRATEGIES = Path(__file__).resolve().parents[2] / "fixtures" / "strategies.test.toml"
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SIGNAL = "r" * 32
ACCOUNT = "DEMO10001"
EXIT = {"intent": "exit", "symbol": "MNQ1!"}
SHORT_ONE = {"intent": "sell", "symbol": "MNQ1!", "market_position": "short", "position_size": 1}


class StaleLive:
    """The worker's cache, alive and synced by its flags, but showing an older account."""

    def __init__(self) -> None:
        self.net_pos = 0
        self.working: tuple[WorkingOrder, ...] = ()
        self.reads = 0

    def shows(self, net_pos: int, *working: WorkingOrder) -> None:
        self.net_pos, self.working = net_pos, working

    async def view(self, account_id: int, contract_id: int) -> LiveView:
        self.reads += 1
        position = Position(
            id=1, account_id=account_id, contract_id=contract_id, net_pos=self.net_pos
        )
        return LiveView(position, self.working, cash=None, last_price=Decimal(21000))

    async def settled(self, account_id: int) -> None:
        return None  # an older worker that does not list settled orders: fills come from REST


def exit_order(
    order_id: int, qty: int, kind: str = "limit", group: int | None = 77
) -> WorkingOrder:
    price = {"limit": Decimal(21100), "stop": None}[kind]
    stop = {"limit": None, "stop": Decimal(20900)}[kind]
    return WorkingOrder(order_id, Side.SELL, qty, OrderType(kind), price, stop, group=group)


class World:
    def __init__(self) -> None:
        self.broker = FakeBroker()
        self.ledger = FakeLedger()
        self.store = FakeStore()
        self.live = StaleLive()
        self.executor = Executor(
            ExecuteDeps(
                strategies=load_strategies(STRATEGIES),
                broker=self.broker,
                contracts=FakeContracts(),
                ledger=self.ledger,
                store=self.store,
                live=self.live,
                clock=ManualClock(NOW),
            )
        )

    def resting(self, order: WorkingOrder, status: str = "working") -> None:
        """Put an order the cache shows into the broker's book, with its true status."""
        self.broker.add_order(
            order.order_id, str(order.side), order.qty, str(order.order_type), status=status,
            price=None if order.price is None else str(order.price),
            stop_price=None if order.stop_price is None else str(order.stop_price),
            oco_id=order.group,
        )  # fmt: skip

    async def run(self, body: dict[str, object], delivery: int = 1) -> Outcome:
        envelope = Envelope(
            signal_id=SIGNAL, strategy_id="nq-trend", account=ACCOUNT, account_id=10001,
            multiplier=Decimal(1), alert_format="native", received_at=NOW,
            correlation_id="corr", signal=parse_alert(json.dumps(body)).signal,
        )  # fmt: skip
        return await self.executor.execute(Delivery(envelope, f"{SIGNAL}:{ACCOUNT}", delivery))

    def row(self, leg: str) -> LedgerEntry:
        key = "exec:DEMO10001" if leg == "summary" else client_order_id(SIGNAL, ACCOUNT, leg)
        entry = self.ledger.table[(SIGNAL, key)]
        assert isinstance(entry, LedgerEntry)
        return entry


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize(
    ("status", "filled", "fate"),
    [
        (OrderStatus.CANCELED, 0, OrderFate.CANCELLED),
        (OrderStatus.EXPIRED, 0, OrderFate.CANCELLED),
        (OrderStatus.REJECTED, 0, OrderFate.CANCELLED),
        (OrderStatus.CANCELED, 1, OrderFate.FILLED),  # cancelled after a partial fill
        (OrderStatus.FILLED, 2, OrderFate.FILLED),
        (OrderStatus.FILLED, 0, OrderFate.FILLED),  # fills not listed yet: the status rules
        (OrderStatus.COMPLETED, 0, OrderFate.FILLED),
        (OrderStatus.WORKING, 0, OrderFate.OPEN),
        (OrderStatus.WORKING, 1, OrderFate.OPEN),
        (OrderStatus.PENDING_CANCEL, 0, OrderFate.OPEN),
        (OrderStatus.UNKNOWN, 0, OrderFate.UNKNOWN),
        (None, 0, OrderFate.UNKNOWN),  # Tradovate does not know the id
    ],
)
def test_order_state_with_status_and_fills_has_its_fate(
    status: OrderStatus | None, filled: int, fate: OrderFate
) -> None:
    assert OrderState(1, status, filled).fate is fate


async def test_cancel_refused_with_order_canceled_records_already_cancelled_and_finishes_the_plan(
    world: World,
) -> None:
    stop, target = exit_order(900, 2, "stop"), exit_order(901, 2)
    world.live.shows(2, stop, target)
    world.resting(stop, status="canceled")  # cancelled by the trader in Tradovate's own app
    world.resting(target)
    world.broker.net_pos = 2

    outcome = await world.run(EXIT)

    assert outcome.status == "done", outcome.detail
    assert world.broker.cancels == [900, 901]
    assert world.broker.net_pos == 0  # the close went out in the same delivery
    assert world.broker.sent == [client_order_id(SIGNAL, ACCOUNT, "close")]
    leg = world.row("cancel.900")
    assert leg.status == "already_cancelled"
    assert leg.fields["broker_text"] == "Order 900 is already canceled"
    assert leg.fields["broker_status"] == "canceled"
    assert world.row("cancel.901").status == "acknowledged"
    # No replan: one cache read, no REST book read, no "order.rejected" event.
    assert (world.live.reads, world.broker.position_reads) == (1, 0)
    assert world.row("summary").status == "done"
    assert json.loads(world.row("summary").fields["basis"])["source"] == "cache"
    assert "order.rejected" not in [event for event, _ in world.store.events]


@pytest.mark.parametrize("gone", ["filled", "unknown"])
async def test_cancel_refused_with_order_filled_replans_from_rest_and_trades_the_true_size(
    world: World, gone: str
) -> None:
    # The cache still shows long 2 with its bracket; really the target filled (flat) and the
    # stop went with it (OCO). A reversal to short 1 planned from the cache would sell 3.
    stop, target = exit_order(900, 2, "stop"), exit_order(901, 2)
    world.live.shows(2, stop, target)
    world.resting(stop, status="canceled")
    if gone == "filled":
        world.resting(target)
        world.broker.net_pos = 2
        world.broker.fill(901)
    else:
        world.broker.unknown.add(901)
    assert world.broker.net_pos == 0

    outcome = await world.run(SHORT_ONE)

    assert outcome.status == "done", outcome.detail
    [entry] = world.broker.sent
    assert world.broker.quantities[entry] == 1  # from the true flat position, not 3
    assert world.broker.net_pos == -1
    # The two refused cancels, then the new order's fill (this cache lists no settled orders).
    assert world.broker.state_reads == [900, 901, world.broker.placed[entry]]
    assert world.live.reads == 1  # the replan did not consult the cache...
    assert world.broker.position_reads == 1  # ...it read the position over REST
    assert world.row("cancel.900").status == "already_cancelled"
    assert world.row("cancel.901").status == f"already_{'filled' if gone == 'filled' else 'gone'}"
    summary = world.row("summary")
    basis = json.loads(summary.fields["basis"])
    assert (summary.status, basis["source"], basis["net_pos"]) == ("done", "rest", 0)
    assert (summary.fields["position_before"], summary.fields["position_after"]) == (0, -1)


async def test_cancel_refused_twice_with_rest_replan_raises_transient_error_not_a_loop(
    world: World,
) -> None:
    # Two resting targets; the first filled before the exit came, the second fills just as
    # the replanned exit cancels it.
    first, second = exit_order(901, 1, group=None), exit_order(902, 1, group=None)
    world.live.shows(2, first, second)
    world.resting(first)
    world.resting(second)
    world.broker.net_pos = 2
    world.broker.fill(901)
    world.broker.fill_on_cancel.add(902)

    with pytest.raises(TransientError, match="right after planning from Tradovate's REST"):
        await world.run(EXIT)

    assert world.broker.cancels == [901, 902]  # one refusal per plan, then it stops
    assert world.broker.sent == []
    assert world.row("summary").status == REPLAN  # the re-delivery plans from REST again
    assert world.row("cancel.902").status == "already_filled"

    outcome = await world.run(EXIT, delivery=2)

    assert outcome.status == "done", outcome.detail
    assert world.broker.net_pos == 0
    assert world.broker.sent == []  # the targets closed the position: nothing left to send
    assert world.live.reads == 1  # the re-delivery did not trust the cache either


async def test_place_order_refused_with_a_cancel_already_cancelled_ends_rejected(
    world: World,
) -> None:
    stop = exit_order(900, 2, "stop")
    world.live.shows(2, stop)
    world.resting(stop, status="expired")
    world.broker.net_pos = 2
    world.broker.reject_next = "Insufficient margin"

    outcome = await world.run(EXIT)

    assert outcome.status == "rejected"
    assert "Insufficient margin" in outcome.detail
    assert "already" not in outcome.detail
    assert world.row("cancel.900").status == "already_cancelled"
    assert world.row("close").status == "rejected"
    assert (await world.run(EXIT, delivery=2)).status == "already_done"


async def test_modify_refused_with_order_canceled_records_already_cancelled_and_closes(
    world: World,
) -> None:
    # Long 3 with a target and a stop for 3; exiting 1 shrinks both to 2, then closes 1.
    target, stop = exit_order(901, 3), exit_order(902, 3, "stop")
    world.live.shows(3, target, stop)
    world.resting(target, status="canceled")
    world.resting(stop)
    world.broker.net_pos = 3

    outcome = await world.run({**EXIT, "quantity": 1})

    assert outcome.status == "done", outcome.detail
    assert world.broker.modifies == [901, 902]
    assert world.row("trim.901").status == "already_cancelled"
    assert world.row("trim.902").status == "acknowledged"
    assert world.broker.net_pos == 2
    assert world.broker.position_reads == 0


async def test_cancel_refused_with_order_state_unreadable_raises_and_keeps_the_leg_open(
    world: World,
) -> None:
    stop = exit_order(900, 2, "stop")
    world.live.shows(2, stop)
    world.resting(stop, status="canceled")
    world.broker.net_pos = 2
    world.broker.state_fails = True

    with pytest.raises(TransientBrokerError):
        await world.run(EXIT)

    assert world.row("cancel.900").status == "claimed"  # unanswered: sent again next time
    assert world.row("summary").status == "planned"
    assert world.broker.sent == []

    world.broker.state_fails = False
    outcome = await world.run(EXIT, delivery=2)

    assert outcome.status == "done", outcome.detail
    assert world.broker.cancels == [900, 900]
    assert world.row("cancel.900").status == "already_cancelled"
    assert world.broker.net_pos == 0


def _long_two_with_a_busy_stop(world: World) -> None:
    """Long 2 with a working stop, whose next cancel Tradovate refuses as busy."""
    stop = exit_order(900, 2, "stop")
    world.live.shows(2, stop)
    world.resting(stop)
    world.broker.net_pos = 2
    world.broker.refuse_next_command = "Another command is pending"


async def test_cancel_refused_with_order_still_working_raises_transient_error_unanswered(
    world: World,
) -> None:
    # Refused for another reason (say another command is pending): the order is still there,
    # so closing the position now would leave it working against a flat account.
    _long_two_with_a_busy_stop(world)

    with pytest.raises(TransientError, match="still working at Tradovate") as raised:
        await world.run(EXIT)

    assert not isinstance(raised.value, TransientBrokerError)
    assert world.row("cancel.900").status == "claimed"
    assert world.broker.sent == []

    outcome = await world.run(EXIT, delivery=2)  # the stored plan, its cancel sent again

    assert outcome.status == "done", outcome.detail
    assert world.broker.cancels == [900, 900]
    assert world.row("cancel.900").status == "acknowledged"
    assert world.broker.net_pos == 0


async def test_redelivery_with_legacy_rejected_cancel_row_sends_the_cancel_again(
    world: World,
) -> None:
    # Rows the executor wrote before refusals were classified: a "rejected" cancel and a
    # "replan" summary. The cancel is a question to ask again, not the signal's rejection.
    stop = exit_order(900, 2, "stop")
    world.live.shows(2, stop)
    world.resting(stop)
    world.broker.net_pos = 2
    leg = client_order_id(SIGNAL, ACCOUNT, "cancel.900")
    world.ledger.table[(SIGNAL, leg)] = LedgerEntry(SIGNAL, leg, "rejected", {"broker_text": "x"})
    world.ledger.table[(SIGNAL, "exec:DEMO10001")] = LedgerEntry(
        SIGNAL, "exec:DEMO10001", REPLAN, {"plan": ""}
    )

    outcome = await world.run(EXIT, delivery=2)

    assert outcome.status == "done", outcome.detail
    assert world.broker.cancels == [900]
    assert world.broker.net_pos == 0
    assert (world.live.reads, world.broker.position_reads) == (0, 1)  # "replan": from REST


async def test_cancel_refused_with_entry_filled_and_rest_replan_denied_records_the_denial(
    world: World,
) -> None:
    # The cache shows a resting buy for 2; it filled. Planned from REST, a second buy for 2
    # would add to the long this strategy does not add to: the gate's refusal is the outcome.
    entry = WorkingOrder(900, Side.BUY, 2, OrderType.LIMIT, Decimal(20900))
    world.live.shows(0, entry)
    world.resting(entry)
    world.broker.fill(900)

    body = {"intent": "buy", "symbol": "MNQ1!", "quantity": 2, "cancel_first": True}
    outcome = await world.run(body)

    assert outcome.status == "denied"
    assert outcome.detail.startswith("add_not_allowed")
    assert world.broker.sent == []
    assert world.broker.net_pos == 2
    assert world.row("cancel.900").status == "already_filled"
    assert world.row("summary").status == "denied"
    assert world.broker.position_reads == 1
    # The first plan's buy, claimed with it and never sent, says so.
    entry_row = world.row("entry")
    assert entry_row.status == "superseded"
    assert "cancel.900" in entry_row.fields["reason"]
    assert "order_id" not in entry_row.fields


async def test_exit_after_the_target_traded_marks_the_unsent_close_superseded(
    world: World,
) -> None:
    # The cache shows long 1 with its bracket; the target traded (flat) and took the stop
    # with it. Planned from the cache: cancel both, then sell 1. From REST: nothing to do.
    stop, target = exit_order(900, 1, "stop"), exit_order(901, 1)
    world.live.shows(1, stop, target)
    world.resting(stop, status="canceled")
    world.resting(target)
    world.broker.net_pos = 1
    world.broker.fill(901)

    outcome = await world.run(EXIT)

    assert outcome.status == "done", outcome.detail
    assert world.broker.sent == []
    assert world.broker.net_pos == 0
    assert world.row("cancel.900").status == "already_cancelled"
    assert world.row("cancel.901").status == "already_filled"
    close = world.row("close")
    assert close.status == "superseded"
    assert close.fields["superseded_at"] == NOW
    assert world.row("summary").status == "done"


async def test_replan_on_a_redelivery_leaves_legs_an_earlier_delivery_claimed_as_they_are(
    world: World,
) -> None:
    # The first delivery claimed cancel-then-close and stopped at a busy order; by the
    # re-delivery the stop had traded. The close was claimed by the earlier delivery, which
    # might have sent it, so it is not called superseded.
    _long_two_with_a_busy_stop(world)
    with pytest.raises(TransientError):
        await world.run(EXIT)
    assert world.row("close").status == "claimed"
    world.broker.fill(900)
    assert world.broker.net_pos == 0

    outcome = await world.run(EXIT, delivery=2)

    assert outcome.status == "done", outcome.detail
    assert world.row("cancel.900").status == "already_filled"
    assert world.row("close").status == "claimed"
    assert world.broker.sent == []
