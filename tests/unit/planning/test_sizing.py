"""The webhook's early refusal of a quantity unit agrees with the planner, for any signal.

``shared.domain.sizing.unusable_unit`` names the signals the webhook refuses with
``unsupported_quantity_unit`` before queueing them. It must name only signals that ``decide``
denies for every position and every strategy behaviour: else the webhook would refuse an alert
some account could have traded. And for every signal it leaves to the executor, some position
lets the unit through (what it refuses must be refused everywhere, what it lets through is not
refused for its unit everywhere).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from shared.domain.errors import InvalidSignal
from shared.domain.planning.targets import decide
from shared.domain.policy import OppositeSignal, StrategyPolicy
from shared.domain.risk import Denial, DenialCode
from shared.domain.signal import (
    Intent,
    MarketPosition,
    QuantityUnit,
    Side,
    Signal,
    TargetPosition,
)
from shared.domain.sizing import unusable_unit
from shared.domain.symbols import parse_symbol

POSITIONS = (-3, -1, 0, 1, 3)
POLICIES = tuple(
    StrategyPolicy(strategy_id="s", opposite_signal=rule, allow_add=add)
    for rule in OppositeSignal
    for add in (False, True)
)


@st.composite
def signals(draw: st.DrawFn) -> Signal:
    intent = draw(st.sampled_from(Intent))
    target = None
    if draw(st.booleans()):
        market = draw(st.sampled_from(MarketPosition))
        size = None if market is MarketPosition.FLAT else draw(st.sampled_from([None, 2]))
        target = TargetPosition(market, None if size is None else Decimal(size))
    quantity = draw(st.sampled_from([None, Decimal(1), Decimal(50)]))
    try:
        return Signal(
            source="test",
            intent=intent,
            symbol=parse_symbol("NQ1!"),
            side=draw(st.sampled_from([None, Side.BUY, Side.SELL])),
            quantity=quantity,
            quantity_unit=draw(st.sampled_from(QuantityUnit)),
            target=target,
        )
    except InvalidSignal:  # a combination no reader produces (a sell side on a buy intent)
        reject()


def _denied_for_unit(signal: Signal, current: int, policy: StrategyPolicy) -> bool | None:
    """True: denied for the unit; False: planned, or denied for another reason first;
    None: the signal cannot be built into an intention at all (not a sizing question)."""
    try:
        decide(signal, current, policy, Decimal(1))
    except Denial as denial:
        return denial.reason is DenialCode.UNSUPPORTED_QUANTITY_UNIT
    except ValueError:
        return None
    return False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signal=signals())
def test_a_unit_refused_early_is_denied_by_every_plan(signal: Signal) -> None:
    if unusable_unit(signal) is None:
        return
    for current in POSITIONS:
        for policy in POLICIES:
            try:
                decide(signal, current, policy, Decimal(1))
            except Denial:
                continue
            raise AssertionError(f"planned with {current} under {policy.opposite_signal}")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signal=signals())
def test_a_unit_let_through_is_not_denied_for_its_unit_everywhere(signal: Signal) -> None:
    if unusable_unit(signal) is not None:
        return
    outcomes = {_denied_for_unit(signal, c, p) for c in POSITIONS for p in POLICIES}
    assert outcomes != {True}, "every plan denies the unit: the webhook should refuse it"


def _sized(intent: Intent, quantity: int, unit: QuantityUnit) -> Signal:
    nq = parse_symbol("NQ1!")
    return Signal(
        source="t", intent=intent, symbol=nq, quantity=Decimal(quantity), quantity_unit=unit
    )


def test_entries_need_contracts_and_exits_may_take_a_percent_of_the_position() -> None:
    assert unusable_unit(_sized(Intent.BUY, 1, QuantityUnit.CONTRACTS)) is None
    equity = _sized(Intent.BUY, 1, QuantityUnit.PERCENT_OF_EQUITY)
    assert unusable_unit(equity) is QuantityUnit.PERCENT_OF_EQUITY
    assert unusable_unit(_sized(Intent.EXIT, 50, QuantityUnit.PERCENT_OF_POSITION)) is None
