"""Property tests: targets are reached, brackets sit on tick on the right side, limits hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.domain.broker import Contract, ContractSpec, OrderType, Product, Side
from shared.domain.planning import Book, PlaceBracketOrder, Plan, WorkingOrder
from shared.domain.policy import OppositeSignal, RiskLimits
from shared.domain.risk import Denial, DenialCode
from shared.domain.signal import (
    BracketLeg,
    Intent,
    MarketPosition,
    PositionRules,
    PriceSpec,
    PriceUnit,
    TargetPosition,
)
from shared.domain.signal import Side as SignalSide
from tests.unit.planning.builders import NQ, entry_of, policy, run, signal, simulate

D = Decimal
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Tick sizes from the reference (§5.3) plus a bond-style 1/64 to exercise long fractions.
CONTRACTS = [
    NQ,
    ContractSpec(Contract(201, "CLF5"), Product(11, "CL", D("0.01"), D(1000))),
    ContractSpec(Contract(202, "YMZ4"), Product(12, "YM", D(1), D(5))),
    ContractSpec(Contract(203, "RTYZ4"), Product(13, "RTY", D("0.1"), D(50))),
    ContractSpec(Contract(204, "ZNZ4"), Product(14, "ZN", D("0.015625"), D(1000))),
]
MULTIPLIERS = [D(1), D(2), D(3), D("0.5"), D("1.5"), D("2.25")]
SIGN = {MarketPosition.LONG: 1, MarketPosition.SHORT: -1, MarketPosition.FLAT: 0}

positions = st.integers(min_value=-25, max_value=25)
sizes = st.integers(min_value=1, max_value=25)


@st.composite
def working_orders(draw: st.DrawFn) -> tuple[WorkingOrder, ...]:
    count = draw(st.integers(min_value=0, max_value=4))
    orders = []
    for order_id in range(1, count + 1):
        side = draw(st.sampled_from(Side))
        qty = draw(st.integers(min_value=1, max_value=6))
        group = draw(st.sampled_from([None, 100, 200]))
        if draw(st.booleans()):
            orders.append(WorkingOrder(order_id, side, qty, OrderType.LIMIT, D(20010), group=group))
        else:
            orders.append(WorkingOrder(order_id, side, qty, OrderType.STOP, stop_price=D(19990)))
    return tuple(orders)


@FAST
@given(
    current=positions,
    market=st.sampled_from(MarketPosition),
    size=sizes,
    multiplier=st.sampled_from(MULTIPLIERS),
    working=working_orders(),
)
def test_plan_with_target_position_reaches_the_scaled_target(
    current: int,
    market: MarketPosition,
    size: int,
    multiplier: Decimal,
    working: tuple[WorkingOrder, ...],
) -> None:
    target = TargetPosition(market, D(0) if market is MarketPosition.FLAT else D(size))
    pol = policy(
        opposite_signal=OppositeSignal.REVERSE,
        allow_add=True,
        account_multipliers={"DEMO1": multiplier},
    )
    result = run(signal(Intent.BUY, target=target), Book(current, working), pol=pol)
    expected = SIGN[market] * int(D(size) * multiplier)
    if market is not MarketPosition.FLAT and expected == 0:
        assert isinstance(result, Denial)
        assert result.code == DenialCode.ZERO_QUANTITY
        return
    assert isinstance(result, Plan), result
    assert simulate(result) == result.position_after == expected
    placements = result.placements
    crosses = current * expected < 0
    # One order for any move without brackets, reversals included.
    assert len(placements) == (0 if expected == current else 1)
    if crosses or expected == 0:
        # Nothing from before survives a reversal or a flat target.
        cancelled = {c.order_id for c in result.commands if hasattr(c, "order_id")}
        assert cancelled == {order.order_id for order in working}


UNITS = st.sampled_from([PriceUnit.TICKS, PriceUnit.POINTS, PriceUnit.PERCENT, PriceUnit.DOLLARS])


@st.composite
def distances(draw: st.DrawFn) -> PriceSpec:
    unit = draw(UNITS)
    if unit is PriceUnit.PERCENT:
        value = draw(st.decimals(min_value=D("0.001"), max_value=D(20), places=3))
    else:
        value = draw(st.decimals(min_value=D("0.01"), max_value=D(500), places=2))
    return PriceSpec(value, unit)


def _asked(spec: PriceSpec, reference: Decimal, contract: ContractSpec) -> Decimal:
    if spec.unit is PriceUnit.TICKS:
        return spec.value * contract.tick_size
    if spec.unit is PriceUnit.PERCENT:
        return reference * spec.value / 100
    if spec.unit is PriceUnit.DOLLARS:
        return spec.value / contract.value_per_point
    return spec.value


@FAST
@given(
    contract=st.sampled_from(CONTRACTS),
    side=st.sampled_from(SignalSide),
    reference=st.decimals(min_value=D(1), max_value=D(60000), places=4),
    take=distances(),
    stop=distances(),
)
def test_plan_with_distance_brackets_puts_them_on_tick_on_the_right_side_and_never_wider(
    contract: ContractSpec,
    side: SignalSide,
    reference: Decimal,
    take: PriceSpec,
    stop: PriceSpec,
) -> None:
    sig = signal(
        Intent.BUY if side is SignalSide.BUY else Intent.SELL,
        symbol=f"{contract.root}1!",
        quantity=D(1),
        signal_price=reference,
        brackets=(BracketLeg(take_profit=take, stop_loss=stop),),
    )
    result = run(sig, contract=contract)
    if isinstance(result, Denial):
        assert result.code in (DenialCode.BRACKET_TOO_CLOSE, DenialCode.INVALID_PRICE)
        return
    command = result.placements[0]
    assert isinstance(command, PlaceBracketOrder)
    profit_leg, stop_leg = command.request.legs
    assert profit_leg.price is not None
    assert stop_leg.stop_price is not None
    tick = contract.tick_size
    sign = 1 if side is SignalSide.BUY else -1
    assert profit_leg.price % tick == 0
    assert stop_leg.stop_price % tick == 0
    assert 0 < (profit_leg.price - reference) * sign <= _asked(take, reference, contract)
    assert 0 < (reference - stop_leg.stop_price) * sign <= _asked(stop, reference, contract)


@FAST
@given(
    reference=st.decimals(min_value=D(100), max_value=D(30000), places=2),
    side=st.sampled_from(SignalSide),
    take=st.decimals(min_value=D(1), max_value=D(60000), places=3),
    stop=st.decimals(min_value=D(1), max_value=D(60000), places=3),
)
def test_plan_with_price_brackets_accepts_only_the_right_side_and_rounds_toward_entry(
    reference: Decimal, side: SignalSide, take: Decimal, stop: Decimal
) -> None:
    sign = 1 if side is SignalSide.BUY else -1
    # The signal model already refuses inverted prices; the planner sees the rest.
    assume((take - stop) * sign > 0)
    leg = BracketLeg(
        take_profit=PriceSpec(take, PriceUnit.PRICE), stop_loss=PriceSpec(stop, PriceUnit.PRICE)
    )
    intent = Intent.BUY if side is SignalSide.BUY else Intent.SELL
    result = run(signal(intent, quantity=D(1), brackets=(leg,)), Book(0, (), reference))
    if isinstance(result, Denial):
        assert result.code in (DenialCode.BRACKET_WRONG_SIDE, DenialCode.INVALID_PRICE)
        return
    profit_leg, stop_leg = result.placements[0].request.legs  # type: ignore[union-attr]
    assert profit_leg.price is not None
    assert stop_leg.stop_price is not None
    assert (profit_leg.price - reference) * sign > 0
    assert (reference - stop_leg.stop_price) * sign > 0
    assert 0 <= (take - profit_leg.price) * sign < NQ.tick_size
    assert 0 <= (stop_leg.stop_price - stop) * sign < NQ.tick_size


@st.composite
def any_signal(draw: st.DrawFn) -> Any:
    intent = draw(st.sampled_from(Intent))
    fields: dict[str, Any] = {}
    if intent in (Intent.BUY, Intent.SELL, Intent.ADD, Intent.REVERSE, Intent.EXIT):
        fields["quantity"] = draw(st.none() | sizes.map(D))
    if intent in (Intent.ADD, Intent.REVERSE, Intent.EXIT):
        fields["side"] = draw(st.none() | st.sampled_from(SignalSide))
    if intent in (Intent.BUY, Intent.SELL) and draw(st.booleans()):
        market = draw(st.sampled_from(MarketPosition))
        size = D(0) if market is MarketPosition.FLAT else D(draw(sizes))
        fields["target"] = TargetPosition(market, size)
    if intent in (Intent.BUY, Intent.SELL) and draw(st.booleans()):
        fields["signal_price"] = D(20000)
        fields["brackets"] = (BracketLeg(take_profit=PriceSpec(D(8), PriceUnit.TICKS)),)
        fields.pop("quantity", None)
    fields["flatten_first"] = draw(st.booleans())
    if draw(st.booleans()):
        maybe_bool = st.none() | st.booleans()
        fields["position_rules"] = PositionRules(
            draw(maybe_bool), draw(maybe_bool), draw(maybe_bool)
        )
    return signal(intent, **fields)


@FAST
@given(
    sig=any_signal(),
    current=positions,
    working=working_orders(),
    max_order_qty=st.none() | st.integers(min_value=1, max_value=10),
    max_position=st.none() | st.integers(min_value=1, max_value=20),
    behaviour=st.sampled_from(OppositeSignal),
    allow_add=st.booleans(),
    multiplier=st.sampled_from(MULTIPLIERS),
)
def test_plan_with_any_signal_never_exceeds_the_order_and_position_limits(
    sig: Any,
    current: int,
    working: tuple[WorkingOrder, ...],
    max_order_qty: int | None,
    max_position: int | None,
    behaviour: OppositeSignal,
    allow_add: bool,
    multiplier: Decimal,
) -> None:
    pol = policy(
        opposite_signal=behaviour,
        allow_add=allow_add,
        account_multipliers={"DEMO1": multiplier},
        limits=RiskLimits(max_order_qty=max_order_qty, max_position=max_position),
    )
    result = run(sig, Book(current, working), pol=pol)
    if isinstance(result, Denial):
        return
    after = simulate(result)
    assert after == result.position_after
    for command in result.placements:
        assert max_order_qty is None or entry_of(command).qty <= max_order_qty
    reduced_only = after * current >= 0 and abs(after) <= abs(current)
    assert max_position is None or abs(after) <= max_position or reduced_only
    _assert_exact_types(result)
    assert run(sig, Book(current, working), pol=pol) == result  # deterministic


def _assert_exact_types(value: Any) -> None:
    # Quantities are ints and prices Decimals: a float anywhere is a bug.
    assert not isinstance(value, float)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            child = getattr(value, item.name)
            if item.name in ("qty", "position_before", "position_after"):
                assert type(child) is int
            if item.name in ("price", "stop_price", "trail", "offset", "distance"):
                assert child is None or type(child) is Decimal
            _assert_exact_types(child)
    elif isinstance(value, tuple | list):
        for child in value:
            _assert_exact_types(child)
    elif isinstance(value, Mapping):
        for child in value.values():
            _assert_exact_types(child)
    else:
        assert value is None or isinstance(value, str | int | Decimal | Enum | datetime | Denial)


@FAST
@given(
    weights=st.lists(st.integers(min_value=1, max_value=5), min_size=2, max_size=4),
    quantity=sizes,
)
def test_plan_with_several_targets_splits_the_whole_quantity_first_targets_first(
    weights: list[int], quantity: int
) -> None:
    legs = tuple(
        BracketLeg(D(w), take_profit=PriceSpec(D(4 * n), PriceUnit.TICKS))
        for n, w in enumerate(weights, start=1)
    )
    # A target position sizes the entry freely; the legs' sizes only weigh the split.
    target = TargetPosition(MarketPosition.LONG, D(quantity))
    result = run(signal(Intent.BUY, target=target, signal_price=D(20000), brackets=legs))
    assert isinstance(result, Plan)
    parts = [entry_of(command).qty for command in result.placements]
    assert sum(parts) == quantity
    assert all(part >= 1 for part in parts)
    # Each target gets its proportional share rounded down, plus at most one leftover contract.
    total = sum(weights)
    shares = {f"entry.{n}": quantity * w // total for n, w in enumerate(weights, start=1)}
    for command in result.placements:
        assert 0 <= entry_of(command).qty - shares[command.leg] <= 1
