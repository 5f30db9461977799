"""Safety rails: hand-built drafts against their facts, then the same rails through ``plan()``.

The drafts stand for what a buggy or misled planner could produce; each row says which rail
refuses it (or that it passes). The planner only ever sees its facts, so "an exit planned from -6
while the broker held +4" is tested as what the rails can see: a draft that adds exposure
*relative to its facts* is refused; what the facts hide is bounded in test_rails_properties.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.domain.broker import (
    BracketLeg as BrokerLeg,
)
from shared.domain.broker import (
    BracketOrderRequest,
    ModifyOrderRequest,
    OrderRequest,
    OrderType,
    Side,
)
from shared.domain.planning import (
    Book,
    CancelOrder,
    Command,
    ModifyOrder,
    PlaceBracketOrder,
    PlaceOrder,
    Plan,
    WorkingOrder,
)
from shared.domain.planning.rails import Facts, check, measure, rails
from shared.domain.policy import OppositeSignal, RiskLimits
from shared.domain.risk import Denial, DenialCode
from shared.domain.signal import BracketLeg, Intent, MarketPosition, TargetPosition
from tests.unit.planning.builders import (
    bracket_pair,
    denied,
    entry_of,
    planned,
    policy,
    signal,
    simulate,
    ticks,
    working,
)

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
LIMIT, STOP, MARKET = OrderType.LIMIT, OrderType.STOP, OrderType.MARKET


# --- drafts -----------------------------------------------------------------------------------


def _request(leg: str, side: Side, qty: int, kind: OrderType) -> OrderRequest:
    price = D(20000) if kind is LIMIT else None
    stop = D(20010) if kind is STOP else None
    return OrderRequest(7, "NQZ4", side, qty, kind, f"tb-{leg}", price=price, stop_price=stop)


def place(leg: str, side: Side, qty: int, kind: OrderType = MARKET) -> PlaceOrder:
    return PlaceOrder(leg, _request(leg, side, qty, kind))


def bracket(leg: str, side: Side, qty: int) -> PlaceBracketOrder:
    take = BrokerLeg(side.opposite, LIMIT, price=D(20100) if side is BUY else D(19900))
    return PlaceBracketOrder(leg, BracketOrderRequest(_request(leg, side, qty, MARKET), (take,)))


def cancel(order_id: int) -> CancelOrder:
    return CancelOrder(f"cancel.{order_id}", order_id, f"tb-cancel.{order_id}")


def trim(order_id: int, qty: int, kind: OrderType = LIMIT) -> ModifyOrder:
    price = D(20000) if kind is LIMIT else None
    stop = D(19990) if kind is STOP else None
    return ModifyOrder(
        f"trim.{order_id}", ModifyOrderRequest(order_id, qty, kind, price=price, stop_price=stop)
    )


def draft(book: Book, *commands: Command) -> Plan:
    """Return a plan of ``commands`` whose positions are honest about its orders."""
    result = Plan(tuple(commands), book.net_pos, book.net_pos)
    return Plan(result.commands, book.net_pos, simulate(result))


def facts(
    book: Book,
    intent: Intent = Intent.BUY,
    *,
    reduce_only: bool = False,
    sig: dict[str, Any] | None = None,
    **pol: Any,
) -> Facts:
    limits = RiskLimits(
        max_position=pol.pop("max_position", None), max_order_qty=pol.pop("max_order_qty", None)
    )
    return Facts(book, signal(intent, **(sig or {})), policy(limits=limits, **pol), reduce_only)


def _oco(first_id: int, side: Side, qty: int, group: int) -> tuple[WorkingOrder, WorkingOrder]:
    return (
        working(first_id, side, qty, LIMIT, group=group),
        working(first_id + 1, side, qty, STOP, group=group),
    )


FLAT_TARGET = {"target": TargetPosition(MarketPosition.FLAT, D(0))}

# id, book, intent, facts options, commands, expected code (None: the draft passes)
Row = tuple[str, Book, Intent, dict[str, Any], tuple[Command, ...], DenialCode | None]
E, SIZE, ORDER = (
    DenialCode.EXIT_WOULD_ADD_EXPOSURE,
    DenialCode.SIGNAL_SIZE_BOUND,
    DenialCode.ORDER_SIZE_BOUND,
)
WORST, ADD = DenialCode.WORST_CASE_POSITION, DenialCode.WORST_CASE_ADD

EXIT_ROWS: list[Row] = [
    # Facts short 6: the exit buys back 6 at most, and never sells.
    ("exit from -6 buys 6", Book(-6), Intent.EXIT, {}, (place("close", BUY, 6),), None),
    ("exit from -6 buys 12", Book(-6), Intent.EXIT, {}, (place("close", BUY, 12),), E),
    ("exit from -6 sells 6", Book(-6), Intent.EXIT, {}, (place("close", SELL, 6),), E),
    ("exit from -6 buys 7", Book(-6), Intent.EXIT, {}, (place("close", BUY, 7),), E),
    ("exit while flat places nothing", Book(0), Intent.EXIT, {}, (), None),
    ("exit while flat sells 1", Book(0), Intent.EXIT, {}, (place("close", SELL, 1),), E),
    ("exit while flat buys 1", Book(0), Intent.EXIT, {}, (place("close", BUY, 1),), E),
    ("partial exit 2 of 5", Book(5), Intent.EXIT, {}, (place("close", SELL, 2),), None),
    ("partial exit of 6 from 5", Book(5), Intent.EXIT, {}, (place("close", SELL, 6),), E),
    (
        "close of 4 in 2 orders",
        Book(4),
        Intent.CLOSE,
        {},
        (
            place("close.1", SELL, 2),
            place("close.2", SELL, 2),
        ),
        None,
    ),
    (
        "close with a buy added",
        Book(4),
        Intent.CLOSE,
        {},
        (
            place("close", SELL, 4),
            place("entry", BUY, 1),
        ),
        E,
    ),
    # A flat whose position is the other way round never flips past zero.
    ("flat from +4 sells 4", Book(4), Intent.FLAT, {}, (place("close", SELL, 4),), None),
    ("flat from +4 buys 4", Book(4), Intent.FLAT, {}, (place("close", BUY, 4),), E),
    ("flat from +4 sells 10", Book(4), Intent.FLAT, {}, (place("close", SELL, 10),), E),
    (
        "flat target from -3 sells",
        Book(-3),
        Intent.BUY,
        {"sig": FLAT_TARGET},
        (place("close", SELL, 3),),
        E,
    ),
    (
        "flat target from -3 buys 3",
        Book(-3),
        Intent.BUY,
        {"sig": FLAT_TARGET},
        (place("close", BUY, 3),),
        None,
    ),
    ("cancel intent buys while long", Book(2), Intent.CANCEL, {}, (place("x", BUY, 1),), E),
    ("cancel intent cancels", Book(2), Intent.CANCEL, {}, (cancel(5),), None),
    (
        "exit-only reduce past flat",
        Book(2),
        Intent.SELL,
        {"reduce_only": True},
        (place("close", SELL, 3),),
        E,
    ),
    ("bracketed exit from flat", Book(0), Intent.EXIT, {}, (bracket("entry", SELL, 1),), E),
    # Chunked closes stay chunked: each order within max_order_qty, together within |p|.
    (
        "chunked close 4+4+2 of -10",
        Book(-10),
        Intent.FLAT,
        {"max_order_qty": 4},
        (
            place("close.1", BUY, 4),
            place("close.2", BUY, 4),
            place("close.3", BUY, 2),
        ),
        None,
    ),
    (
        "chunked close 4+4+4 of -10",
        Book(-10),
        Intent.FLAT,
        {"max_order_qty": 4},
        (
            place("close.1", BUY, 4),
            place("close.2", BUY, 4),
            place("close.3", BUY, 4),
        ),
        E,
    ),
    (
        "close of -10 in 5+5, cap 4",
        Book(-10),
        Intent.FLAT,
        {"max_order_qty": 4},
        (
            place("close.1", BUY, 5),
            place("close.2", BUY, 5),
        ),
        ORDER,
    ),
]

SIZE_ROWS: list[Row] = [
    # One target-flat alert traded 16,691 contracts: no close beyond max_position.
    (
        "flat of 16691 with max 6",
        Book(16691),
        Intent.FLAT,
        {"max_position": 6},
        (place("close", SELL, 16691),),
        SIZE,
    ),
    (
        "flat of 16691 in chunks",
        Book(-16691),
        Intent.FLAT,
        {"max_position": 6, "max_order_qty": 6},
        (*(place(f"close.{n}", BUY, 6) for n in range(1, 6)), place("close.6", BUY, 1)),
        SIZE,
    ),
    (
        "close of 6 with max 6",
        Book(6),
        Intent.CLOSE,
        {"max_position": 6},
        (place("close", SELL, 6),),
        None,
    ),
    (
        "close of 7 with max 6",
        Book(7),
        Intent.CLOSE,
        {"max_position": 6},
        (place("close", SELL, 7),),
        SIZE,
    ),
    (
        "reversal +6 to -6 in one order",
        Book(6),
        Intent.SELL,
        {"max_position": 6},
        (place("entry", SELL, 12),),
        None,
    ),
    (
        "reversal +6 to -7 in one order",
        Book(6),
        Intent.SELL,
        {"max_position": 6},
        (place("entry", SELL, 13),),
        SIZE,
    ),
    (
        "entry of 7 with max 6",
        Book(0),
        Intent.BUY,
        {"max_position": 6},
        (place("entry", BUY, 7),),
        SIZE,
    ),
    (
        "bracketed entry of 3 with max 2",
        Book(0),
        Intent.BUY,
        {"max_position": 2},
        (bracket("entry", BUY, 3),),
        SIZE,
    ),
    (
        "entry of 3 in one order, cap 2",
        Book(0),
        Intent.BUY,
        {"max_order_qty": 2},
        (place("entry", BUY, 3),),
        ORDER,
    ),
]

WORST_ROWS: list[Row] = [
    (
        "entry to exactly max",
        Book(0),
        Intent.BUY,
        {"max_position": 2},
        (place("entry", BUY, 2),),
        None,
    ),
    (
        "add over a working entry",
        Book(4, (working(20, BUY, 2),)),
        Intent.BUY,
        {"max_position": 6, "allow_add": True},
        (place("entry", BUY, 1),),
        WORST,
    ),
    # The cancel may land after the entry filled: it still counts.
    (
        "add cancelling that entry",
        Book(4, (working(20, BUY, 2),)),
        Intent.BUY,
        {"max_position": 6, "allow_add": True},
        (cancel(20), place("entry", BUY, 1)),
        WORST,
    ),
    (
        "add next to an OCO of entries",
        Book(3, _oco(20, BUY, 2, group=9)),
        Intent.BUY,
        {"max_position": 6, "allow_add": True},
        (place("entry", BUY, 1),),
        None,
    ),
    (
        "add, OCO one over",
        Book(3, _oco(20, BUY, 3, group=9)),
        Intent.BUY,
        {"max_position": 6, "allow_add": True},
        (place("entry", BUY, 1),),
        WORST,
    ),
    (
        "sell entries do not grow a buy",
        Book(3, (working(20, SELL, 9),)),
        Intent.BUY,
        {"max_position": 6, "allow_add": True},
        (place("entry", BUY, 3),),
        None,
    ),
    # The exits of the position up to its size close it; beyond that they open the other way.
    (
        "reversal over its own bracket",
        Book(2, bracket_pair(11, SELL, 2)),
        Intent.SELL,
        {"max_position": 2},
        (cancel(11), cancel(12), place("entry", SELL, 4)),
        None,
    ),
    (
        "reversal over a sell entry too",
        Book(2, (*bracket_pair(11, SELL, 2), working(30, SELL, 1))),
        Intent.SELL,
        {"max_position": 2},
        (cancel(11), cancel(12), cancel(30), place("entry", SELL, 4)),
        WORST,
    ),
    (
        "bracketed reversal at max",
        Book(2, bracket_pair(11, SELL, 2)),
        Intent.SELL,
        {"max_position": 2},
        (cancel(11), cancel(12), place("close", SELL, 2), bracket("entry", SELL, 2)),
        None,
    ),
    # Flatten, then enter the same side: a market close sent first fills first.
    (
        "flatten at market, re-enter",
        Book(3),
        Intent.BUY,
        {"max_position": 3},
        (
            place("close", SELL, 3),
            place("entry", BUY, 1),
        ),
        None,
    ),
    (
        "flatten at a limit, re-enter",
        Book(3),
        Intent.BUY,
        {"max_position": 3, "allow_add": True},
        (place("close", SELL, 3, LIMIT), place("entry", BUY, 1)),
        WORST,
    ),
    (
        "entry before its close",
        Book(3),
        Intent.BUY,
        {"max_position": 3, "allow_add": True},
        (place("entry", BUY, 1), place("close", SELL, 3)),
        WORST,
    ),
    # A trimmed order may still fill at its old size; a grown one at its new size.
    (
        "add beside a grown entry",
        Book(2, (working(20, BUY, 1),)),
        Intent.BUY,
        {"max_position": 5, "allow_add": True},
        (trim(20, 3), place("entry", BUY, 1)),
        WORST,
    ),
    (
        "add beside a shrunk entry",
        Book(2, (working(20, BUY, 3),)),
        Intent.BUY,
        {"max_position": 5, "allow_add": True},
        (trim(20, 1), place("entry", BUY, 1)),
        WORST,
    ),
    (
        "reduce with trims",
        Book(3, bracket_pair(11, SELL, 3)),
        Intent.SELL,
        {"max_position": 3},
        (trim(11, 1), trim(12, 1, STOP), place("close", SELL, 2)),
        None,
    ),
]

ADD_ROWS: list[Row] = [
    # allow_add = false reached 8 contracts: a second entry beside a working one.
    (
        "entry beside a working entry",
        Book(0, (working(20, BUY, 4),)),
        Intent.BUY,
        {},
        (place("entry", BUY, 4),),
        ADD,
    ),
    (
        "entry replacing that entry",
        Book(0, (working(20, BUY, 4),)),
        Intent.BUY,
        {},
        (
            cancel(20),
            place("entry", BUY, 4),
        ),
        None,
    ),
    ("entry while long", Book(4), Intent.BUY, {}, (place("entry", BUY, 4),), ADD),
    (
        "add intent while long",
        Book(4),
        Intent.ADD,
        {"sig": {"quantity": D(1)}},
        (place("entry", BUY, 1),),
        None,
    ),
    (
        "entry while long, adding on",
        Book(4),
        Intent.BUY,
        {"allow_add": True},
        (place("entry", BUY, 4),),
        None,
    ),
    (
        "sell beside working buys",
        Book(0, (working(20, BUY, 4),)),
        Intent.SELL,
        {},
        (place("entry", SELL, 1),),
        None,
    ),
    (
        "flatten at market, re-enter",
        Book(3),
        Intent.BUY,
        {},
        (
            place("close", SELL, 3),
            place("entry", BUY, 1),
        ),
        None,
    ),
    (
        "flatten at a limit, re-enter",
        Book(3),
        Intent.BUY,
        {},
        (
            place("close", SELL, 3, LIMIT),
            place("entry", BUY, 1),
        ),
        ADD,
    ),
    (
        "reversal beside its exits",
        Book(2, bracket_pair(11, SELL, 2)),
        Intent.SELL,
        {},
        (place("entry", SELL, 3),),
        None,
    ),
    (
        "reversal beside exits and more",
        Book(2, (*bracket_pair(11, SELL, 2), working(30, SELL, 1))),
        Intent.SELL,
        {},
        (place("entry", SELL, 3),),
        ADD,
    ),
]

ROWS = EXIT_ROWS + SIZE_ROWS + WORST_ROWS + ADD_ROWS


@pytest.mark.parametrize(
    ("book", "intent", "options", "commands", "code"),
    [r[1:] for r in ROWS],
    ids=[r[0] for r in ROWS],
)
def test_rails_with_drafted_plan_refuse_exactly_the_breaking_drafts(
    book: Book,
    intent: Intent,
    options: dict[str, Any],
    commands: tuple[Command, ...],
    code: DenialCode | None,
) -> None:
    plan = draft(book, *commands)
    result = rails(plan, facts(book, intent, **options))
    if code is None:
        assert result is plan
    else:
        assert isinstance(result, Denial)
        assert result.code == code


def test_rails_with_plan_not_starting_from_its_book_deny_plan_inconsistent() -> None:
    book = Book(2)
    wrong_start = Plan((place("close", SELL, 2),), 3, 1)
    assert check(wrong_start, facts(book, Intent.EXIT)) == Denial(
        DenialCode.PLAN_INCONSISTENT,
        "the plan says 3 to 1, but its orders take the position 2 to 0",
    )
    wrong_end = Plan((place("close", SELL, 2),), 2, 1)
    result = check(wrong_end, facts(book, Intent.EXIT))
    assert isinstance(result, Denial)
    assert result.code == DenialCode.PLAN_INCONSISTENT


def test_rails_with_reversal_measure_the_closing_and_opening_parts() -> None:
    book = Book(2, (*bracket_pair(11, SELL, 2), working(30, SELL, 1), working(40, BUY, 5)))
    exposure = measure(draft(book, cancel(11), cancel(12), place("entry", SELL, 5)), book)
    assert (exposure.closing, exposure.opening, exposure.traded, exposure.after) == (2, 3, 5, -3)
    # Of the sells left in place (order 30 only), up to the long's 2 may be its exits.
    assert (exposure.sell.held, exposure.sell.working, exposure.sell.kept) == (0, 1, 0)
    assert exposure.sell.worst == 4
    # The market sell goes first, so none of the long is left for a buy to add to.
    assert (exposure.buy.held, exposure.buy.working, exposure.buy.opening) == (0, 5, 0)


# --- through plan(): every path ends at the rails ------------------------------------------


def test_plan_with_flat_alert_from_a_huge_view_denies_signal_size_bound() -> None:
    pol = policy(limits=RiskLimits(max_position=6, max_order_qty=6))
    result = denied(
        signal(Intent.BUY, target=TargetPosition(MarketPosition.FLAT, D(0))), Book(16691), pol=pol
    )
    assert result.code == DenialCode.SIGNAL_SIZE_BOUND


def test_plan_with_entry_beside_a_working_entry_and_adding_off_denies_worst_case_add() -> None:
    book = Book(0, (working(20, BUY, 4),))
    assert denied(signal(Intent.BUY, quantity=D(4)), book).code == DenialCode.WORST_CASE_ADD


def test_plan_with_entry_replacing_a_working_entry_is_allowed() -> None:
    book = Book(0, (working(20, BUY, 4),))
    result = planned(signal(Intent.BUY, quantity=D(4), cancel_first=True), book)
    assert (result.legs, result.position_after) == (("cancel.20", "entry"), 4)


def test_plan_with_add_intent_beside_a_working_entry_is_bounded_by_max_position() -> None:
    book = Book(2, (working(20, BUY, 2),))
    pol = policy(limits=RiskLimits(max_position=5))
    sig = signal(Intent.ADD, quantity=D(1))
    assert planned(sig, book, pol=pol).position_after == 3
    sig = signal(Intent.ADD, quantity=D(2))
    # The gate sees 4 + 2 resting = 6 first; the rails agree.
    assert denied(sig, book, pol=pol).code == DenialCode.MAX_POSITION


def test_plan_with_reversal_whose_worst_case_passes_max_closes_only_and_withholds() -> None:
    # The exits close the long; the extra sell entry would open beyond it, cancel or not.
    book = Book(2, (*bracket_pair(11, SELL, 2), working(30, SELL, 2)))
    pol = policy(opposite_signal=OppositeSignal.REVERSE, limits=RiskLimits(max_position=3))
    result = planned(
        signal(Intent.SELL, target=TargetPosition(MarketPosition.SHORT, D(2))), book, pol=pol
    )
    assert result.legs == ("cancel.11", "cancel.12", "cancel.30", "close")
    assert (entry_of(result.placements[0]).qty, result.position_after) == (2, 0)
    assert result.withheld is not None
    assert result.withheld.code == DenialCode.WORST_CASE_POSITION
    assert result.note == "reverse: closing only"


def test_plan_with_bracketed_reversal_at_max_position_passes_the_rails() -> None:
    book = Book(2, bracket_pair(11, SELL, 2))
    sig = signal(
        Intent.SELL,
        target=TargetPosition(MarketPosition.SHORT, D(2)),
        signal_price=D(20000),
        brackets=(BracketLeg(take_profit=ticks(8), stop_loss=ticks(8)),),
    )
    pol = policy(opposite_signal=OppositeSignal.REVERSE, limits=RiskLimits(max_position=2))
    result = planned(sig, book, pol=pol)
    assert result.legs == ("cancel.11", "cancel.12", "close", "entry")
    assert (result.position_after, result.withheld) == (-2, None)


def test_plan_with_flatten_then_enter_at_max_position_passes_the_rails() -> None:
    pol = policy(limits=RiskLimits(max_position=3))
    result = planned(signal(Intent.BUY, quantity=D(1), flatten_first=True), Book(3), pol=pol)
    assert (result.legs, result.position_after) == (("close", "entry"), 1)


def test_plan_with_shrunk_exits_and_chunked_close_passes_the_rails() -> None:
    book = Book(-6, bracket_pair(11, BUY, 6))
    pol = policy(limits=RiskLimits(max_position=6, max_order_qty=2))
    result = planned(signal(Intent.EXIT, quantity=D(5)), book, pol=pol)
    assert result.legs == ("trim.11", "trim.12", "close.1", "close.2", "close.3")
    assert [entry_of(c).qty for c in result.placements] == [2, 2, 1]
    assert result.position_after == -1


def test_plan_with_exit_of_a_position_the_view_got_wrong_trades_the_view() -> None:
    # The chaos run's case: the view says -6, the broker holds +4. The planner sees only the
    # view, so it buys 6 back; the rails bound it (at most |view| and max_position), and only
    # fresh facts (the executor's job) can stop it. See test_rails_properties for the bound.
    pol = policy(limits=RiskLimits(max_position=6))
    result = planned(signal(Intent.EXIT), Book(-6), pol=pol)
    request = entry_of(result.placements[0])
    assert (request.side, request.qty, result.position_after) == (BUY, 6, 0)


def test_plan_with_gates_and_rails_both_refusing_reports_the_gate() -> None:
    pol = policy(limits=RiskLimits(max_position=6))
    assert denied(signal(Intent.BUY, quantity=D(7)), pol=pol).code == DenialCode.MAX_POSITION
