"""Property tests of the safety rails: random facts, signals and policies; every plan keeps them.

Facts are drawn freely, stale and contradictory ones included (a position far beyond the limit,
OCO groups that mix sides, exits larger than the position), and so are signals and policies.
Every plan ``plan()`` returns is then checked from the outside, with this file's own arithmetic:

(a) no order exceeds ``max_order_qty``;
(b) a signal trades at most ``max_position`` per part (close, open): ``2*M`` when it reverses;
(c) an exit, close, flat, cancel or flat target never grows the position nor passes flat, even
    part-way through its orders;
(d) an opening plan's worst case (every growing order fills, OCO groups once, cancels included)
    stays within ``max_position``;
(e) with adding off, nothing opens beside a held same-side position or a working entry left in
    place (an explicit ``add`` intent aside).

The last tests run sequences where the facts are replaced by a random wrong view before each plan
and the plan is applied to the TRUE position (all orders fill). What they check is what
``shared.domain.planning.rails`` promises in its docstring: with ``t`` the true position, ``f``
the view and ``t'`` the true position after the plan, ``|t'| <= max(|t|, M + |t - f|)``, so over
a sequence starting within ``M`` the true position stays within ``M + e`` (``e`` the largest
error of any view); a signal moves it by at most ``2*M``; an exit whose view has the true sign
never leaves it beyond ``max(|t|, M)``, never passes flat when the view does not overstate the
position, and passes flat by at most the overstatement otherwise. An exit from a view of the
wrong sign can add exposure (up to ``min(|f|, M)``): no planner that sees only its facts can
tell, and the tests show that bound rather than pretend otherwise.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import product
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.broker import OrderRequest, OrderType, Side
from shared.domain.planning import (
    Book,
    CancelOrder,
    ModifyOrder,
    Plan,
    WorkingOrder,
)
from shared.domain.policy import OppositeSignal, RiskLimits, StrategyPolicy
from shared.domain.risk import Denial, DenialCode
from shared.domain.signal import (
    BracketLeg,
    Intent,
    MarketPosition,
    PositionRules,
    PriceSpec,
    PriceUnit,
    QuantityUnit,
    Signal,
    TargetPosition,
)
from shared.domain.signal import OrderType as SignalOrderType
from shared.domain.signal import Side as SignalSide
from tests.unit.planning.builders import entry_of, policy, run, signal

D = Decimal
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEQUENCES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REDUCING = frozenset({Intent.EXIT, Intent.CLOSE, Intent.FLAT, Intent.CANCEL})
MULTIPLIERS = [D(1), D(2), D(3), D("0.5"), D("1.5")]
TAKE = PriceSpec(D(8), PriceUnit.TICKS)
STOP = PriceSpec(D(8), PriceUnit.TICKS)


# --- strategies --------------------------------------------------------------------------------


@st.composite
def policies(draw: st.DrawFn, *, limited: bool = False) -> StrategyPolicy:
    max_position = draw(st.integers(1, 12) if limited else st.none() | st.integers(1, 12))
    top = max_position or 12
    max_order_qty = draw(st.none() | st.integers(1, top))
    brackets = draw(st.sampled_from([(), (BracketLeg(take_profit=TAKE, stop_loss=STOP),)]))
    return policy(
        opposite_signal=draw(st.sampled_from(OppositeSignal)),
        allow_add=draw(st.booleans()),
        default_quantity=D(draw(st.integers(1, 4))),
        default_brackets=brackets,
        account_multipliers={"DEMO1": draw(st.sampled_from(MULTIPLIERS))},
        limits=RiskLimits(max_position=max_position, max_order_qty=max_order_qty),
    )


@st.composite
def working_orders(draw: st.DrawFn) -> tuple[WorkingOrder, ...]:
    orders: list[WorkingOrder] = []
    next_id = 1
    for _ in range(draw(st.integers(0, 4))):
        side = draw(st.sampled_from(Side))
        qty = draw(st.integers(1, 8))
        if draw(st.booleans()):
            # A bracket's take profit and stop (an OCO pair), sometimes of different sizes.
            group = 100 + next_id
            other = draw(st.integers(1, 8))
            orders.append(WorkingOrder(next_id, side, qty, OrderType.LIMIT, D(20010), group=group))
            orders.append(
                WorkingOrder(
                    next_id + 1, side, other, OrderType.STOP, stop_price=D(19990), group=group
                )
            )
            next_id += 2
        else:
            # Stray groups may tie orders of both sides together: contradictory facts.
            stray = draw(st.sampled_from([None, 7, 8]))
            orders.append(WorkingOrder(next_id, side, qty, OrderType.LIMIT, D(20000), group=stray))
            next_id += 1
    return tuple(orders)


sizes = st.integers(1, 15)


@st.composite
def signals(draw: st.DrawFn) -> Signal:
    intent = draw(st.sampled_from(Intent))
    fields: dict[str, Any] = {}
    if intent in (Intent.BUY, Intent.SELL, Intent.ADD, Intent.REVERSE, Intent.EXIT):
        fields["quantity"] = draw(st.none() | sizes.map(D))
    if intent in (Intent.ADD, Intent.REVERSE, Intent.EXIT):
        fields["side"] = draw(st.none() | st.sampled_from(SignalSide))
    if intent is Intent.EXIT and fields["quantity"] is not None and draw(st.booleans()):
        fields["quantity"] = D(draw(st.integers(1, 100)))
        fields["quantity_unit"] = QuantityUnit.PERCENT_OF_POSITION
    if intent in (Intent.EXIT, Intent.CLOSE) and draw(st.booleans()):
        fields["order_type"] = SignalOrderType.LIMIT
        fields["limit_price"] = D(20000)
    if intent in (Intent.BUY, Intent.SELL) and draw(st.booleans()):
        market = draw(st.sampled_from(MarketPosition))
        flat = market is MarketPosition.FLAT
        size = None if not flat and draw(st.booleans()) else D(0 if flat else draw(sizes))
        prev = draw(st.none() | st.sampled_from(MarketPosition))
        prev_size = None if prev is None else D(0 if prev is MarketPosition.FLAT else draw(sizes))
        fields["target"] = TargetPosition(market, size, prev, prev_size)
    if intent in (Intent.BUY, Intent.SELL, Intent.ADD, Intent.REVERSE):
        fields["signal_price"] = D(20000)
        if draw(st.booleans()):
            legs = draw(st.integers(1, 2))
            fields["brackets"] = tuple(
                BracketLeg(D(1) if legs > 1 else None, take_profit=TAKE, stop_loss=STOP)
                for _ in range(legs)
            )
            if legs > 1:
                fields.pop("quantity", None)
        fields["flatten_first"] = draw(st.booleans())
        fields["cancel_first"] = draw(st.none() | st.booleans())
        if draw(st.booleans()):  # an alert's own position rules (PickMyTrade)
            maybe_bool = st.none() | st.booleans()
            rules = (draw(maybe_bool), draw(maybe_bool), draw(maybe_bool))
            fields["position_rules"] = PositionRules(*rules)
    return signal(intent, **fields)


# --- this file's own arithmetic ----------------------------------------------------------------


def _reducing(sig: Signal) -> bool:
    target = sig.target
    return sig.intent in REDUCING or (
        target is not None and target.market_position is MarketPosition.FLAT
    )


def _orders(result: Plan) -> list[OrderRequest]:
    return [entry_of(command) for command in result.placements]


def _parts(before: int, orders: list[OrderRequest]) -> tuple[int, int]:
    """Return (closing, opening) contracts: closing is what the side against ``before`` takes
    back, up to ``|before|``; the rest opens."""
    against = sum(o.qty for o in orders if o.side.sign * before < 0)
    closing = min(against, abs(before))
    return closing, sum(o.qty for o in orders) - closing


def _credit(orders: list[OrderRequest], side: Side) -> int:
    """Return the plan's market orders on the other side sent before its first on ``side``."""
    credit = 0
    for order in orders:
        if order.side is side:
            break
        credit += order.qty if order.order_type is OrderType.MARKET else 0
    return credit


def _grouped(orders: list[WorkingOrder], side: Side, resized: dict[int, int]) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for order in orders:
        if order.side is side:
            groups.setdefault(order.group_key, []).append(
                max(order.qty, resized.get(order.order_id, 0))
            )
    return list(groups.values())


def _worst(result: Plan, book: Book, side: Side) -> int:
    """Return the largest position on ``side`` over every way its growing orders can fill."""
    orders = _orders(result)
    sign, p = side.sign, book.net_pos
    base = sign * p - _credit(orders, side) if sign * p > 0 else sign * p
    opening = max(0, sum(o.qty for o in orders if o.side is side) - max(0, -sign * p))
    resized = {
        c.request.order_id: c.request.qty for c in result.commands if isinstance(c, ModifyOrder)
    }
    # Cancelled orders too: the cancel may come after the fill. Each OCO group fills at most
    # one of its orders (or none).
    choices = [[0, *members] for members in _grouped(list(book.working), side, resized)]
    fills = (sum(choice) for choice in product(*choices))
    return max(max(0, base + fill) for fill in fills) + opening


def _adds(result: Plan, book: Book, side: Side) -> bool:
    """Tell whether an order opening on ``side`` would stack on a held position or on a
    working order left in place beyond what could close an opposite position."""
    sign, p = side.sign, book.net_pos
    held = sign * p - _credit(_orders(result), side)
    cancelled = {c.order_id for c in result.commands if isinstance(c, CancelOrder)}
    kept = [o for o in book.working if o.order_id not in cancelled]
    resting = sum(max(group) for group in _grouped(kept, side, {}))
    return held > 0 or resting > max(0, -sign * p)


def _check_plan(result: Plan, sig: Signal, book: Book, pol: StrategyPolicy) -> None:
    limits, p = pol.limits, book.net_pos
    orders = _orders(result)
    after = p + sum(o.side.sign * o.qty for o in orders)
    assert result.position_before == p
    assert result.position_after == after
    # (a) every order within max_order_qty
    if limits.max_order_qty is not None:
        assert all(o.qty <= limits.max_order_qty for o in orders)
    # (b) the signal bound: M per part, 2M for a reversal
    closing, opening = _parts(p, orders)
    if limits.max_position is not None:
        bound = limits.max_position * (2 if closing and opening else 1)
        assert closing + opening <= bound
        assert max(closing, opening) <= limits.max_position
    # (c) exits never grow the position nor pass flat, at any point of their orders
    if _reducing(sig):
        assert opening == 0
        assert all(o.side.sign * p < 0 for o in orders)
        position = p
        for order in orders:
            position += order.side.sign * order.qty
            assert position * p >= 0
            assert abs(position) <= abs(p)
    for side in Side:
        back = max(0, -side.sign * p)
        opens = sum(o.qty for o in orders if o.side is side) > back
        # (d) the worst case of an opening plan within max_position
        if opens and limits.max_position is not None:
            assert _worst(result, book, side) <= limits.max_position
        # (e) adding off: nothing opens beside a held position or a working entry left in place
        if opens and not pol.allow_add and sig.intent is not Intent.ADD:
            assert not _adds(result, book, side)


# --- every plan keeps the rails ------------------------------------------------------------------


@FAST
@given(
    sig=signals(),
    current=st.integers(-40, 40),
    working=working_orders(),
    pol=policies(),
)
def test_plan_with_any_facts_signal_and_policy_keeps_every_rail(
    sig: Signal, current: int, working: tuple[WorkingOrder, ...], pol: StrategyPolicy
) -> None:
    book = Book(current, working)
    result = run(sig, book, pol=pol)
    if isinstance(result, Denial):
        return
    _check_plan(result, sig, book, pol)
    assert run(sig, book, pol=pol) == result  # deterministic


@FAST
@given(
    intent=st.sampled_from(sorted(REDUCING)),
    current=st.integers(-40, 40),
    working=working_orders(),
    pol=policies(),
    quantity=st.none() | sizes.map(D),
)
def test_plan_with_exit_close_flat_or_cancel_never_grows_nor_flips_the_position(
    intent: Intent,
    current: int,
    working: tuple[WorkingOrder, ...],
    pol: StrategyPolicy,
    quantity: Decimal | None,
) -> None:
    sig = signal(intent, quantity=quantity if intent is Intent.EXIT else None)
    book = Book(current, working)
    result = run(sig, book, pol=pol)
    if isinstance(result, Denial):
        # An exit sized below one contract, or a close larger than max_position: nothing else.
        if result.code is DenialCode.ZERO_QUANTITY:
            return
        assert result.code is DenialCode.SIGNAL_SIZE_BOUND
        assert pol.limits.max_position is not None
        assert abs(current) > pol.limits.max_position
        return
    _check_plan(result, sig, book, pol)
    assert abs(result.position_after) <= abs(current)
    assert result.position_after * current >= 0


# --- sequences on wrong facts, applied to the true position ---------------------------------------


@st.composite
def views(draw: st.DrawFn, truth: int, limit: int) -> int:
    """Return a view of the position: right, a little off, the wrong sign or anything at all."""
    kind = draw(st.sampled_from(["right", "off", "sign", "any"]))
    if kind == "right":
        return truth
    if kind == "off":
        return truth + draw(st.integers(-3, 3))
    if kind == "sign":
        return -truth
    return draw(st.integers(-3 * limit, 3 * limit))


def _step_bounds(pol: StrategyPolicy, sig: Signal, result: Plan, truth: int, view: int) -> int:
    """Apply ``result`` to the true position and check the promised bounds; return it."""
    limit = pol.limits.max_position
    assert limit is not None
    orders = _orders(result)
    moved = sum(o.side.sign * o.qty for o in orders)
    after = truth + moved
    error = abs(truth - view)
    closing, opening = _parts(view, orders)
    assert abs(moved) <= (2 * limit if closing and opening else limit)
    assert abs(after) <= max(abs(truth), limit + error)
    if _reducing(sig):
        assert abs(after) <= abs(truth) + min(abs(view), limit)
        if view * truth > 0:
            assert abs(after) <= max(abs(truth), limit)
            if abs(view) <= abs(truth):
                # Facts of the true sign that do not overstate: no added exposure, no flip.
                assert after * truth >= 0
                assert abs(after) <= abs(truth)
            elif after * truth < 0:
                assert abs(after) <= abs(view) - abs(truth)
    return after


@SEQUENCES
@given(data=st.data(), pol=policies(limited=True), start=st.integers(-12, 12))
def test_plan_sequence_on_wrong_views_keeps_the_true_position_within_max_plus_the_error(
    data: st.DataObject, pol: StrategyPolicy, start: int
) -> None:
    limit = pol.limits.max_position
    assert limit is not None
    truth = max(-limit, min(limit, start))
    worst_error = 0
    for _ in range(data.draw(st.integers(1, 8))):
        view = data.draw(views(truth, limit))
        sig = data.draw(signals())
        book = Book(view, data.draw(working_orders()))
        result = run(sig, book, pol=pol)
        worst_error = max(worst_error, abs(truth - view))
        if isinstance(result, Denial):
            continue
        _check_plan(result, sig, book, pol)
        truth = _step_bounds(pol, sig, result, truth, view)
        assert abs(truth) <= limit + worst_error


@SEQUENCES
@given(data=st.data(), pol=policies(limited=True), start=st.integers(-12, 12))
def test_plan_sequence_on_true_facts_never_passes_max_position(
    data: st.DataObject, pol: StrategyPolicy, start: int
) -> None:
    limit = pol.limits.max_position
    assert limit is not None
    truth = max(-limit, min(limit, start))
    for _ in range(data.draw(st.integers(1, 8))):
        sig = data.draw(signals())
        result = run(sig, Book(truth), pol=pol)
        if isinstance(result, Denial):
            continue
        truth = _step_bounds(pol, sig, result, truth, truth)
        assert abs(truth) <= limit


@FAST
@given(
    truth=st.integers(1, 12), pol=policies(limited=True), intent=st.sampled_from(sorted(REDUCING))
)
def test_plan_with_exit_from_a_view_of_the_wrong_sign_adds_at_most_min_view_or_max(
    truth: int, pol: StrategyPolicy, intent: Intent
) -> None:
    # The one case no rail can see: the view says short, the account is long (or the reverse).
    limit = pol.limits.max_position
    assert limit is not None
    view = -truth
    result = run(signal(intent), Book(view), pol=pol)
    if isinstance(result, Denial):
        assert truth > limit  # a close beyond max_position is refused outright
        return
    after = truth + sum(o.side.sign * o.qty for o in _orders(result))
    assert after - truth <= min(abs(view), limit)
