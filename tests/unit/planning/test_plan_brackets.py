"""Plan bracketed entries: OSO exits in every unit, several targets, trailing and breakeven."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.broker import BracketLeg as BrokerLeg
from shared.domain.broker import OrderType, Side, TimeInForce
from shared.domain.planning import (
    Book,
    MoveStopToBreakeven,
    PlaceBracketOrder,
    PlaceOrder,
    Plan,
    TrailStop,
    client_order_id,
)
from shared.domain.policy import BracketAnchor, OppositeSignal
from shared.domain.risk import DenialCode
from shared.domain.signal import (
    BracketLeg,
    Breakeven,
    Intent,
    MarketPosition,
    PriceSpec,
    TargetPosition,
    TrailingStop,
)
from shared.domain.signal import OrderType as SignalOrderType
from tests.unit.planning.builders import (
    CL,
    SIGNAL_ID,
    bracket_pair,
    denied,
    dollars,
    entry_of,
    percent,
    planned,
    points,
    policy,
    price,
    signal,
    ticks,
)

D = Decimal
REF = D("20000.10")  # off tick on purpose: NQ ticks are 0.25


def _exits(result: Plan, index: int = 0) -> tuple[BrokerLeg, ...]:
    command = result.placements[index]
    assert isinstance(command, PlaceBracketOrder)
    return command.request.legs


def _bracketed(intent: Intent = Intent.BUY, *legs: BracketLeg, **fields: object) -> Plan:
    fields.setdefault("signal_price", REF)
    return planned(signal(intent, quantity=D(1), brackets=legs, **fields))  # type: ignore[arg-type]


def test_plan_with_long_bracket_in_ticks_places_one_oso_rounded_toward_entry() -> None:
    result = _bracketed(Intent.BUY, BracketLeg(take_profit=ticks(40), stop_loss=ticks(20)))
    assert result.legs == ("entry",)
    take, stop = _exits(result)
    # 20000.10 + 10 = 20010.10 -> 20010.00 (target never beyond); 19995.10 -> 19995.25 (stop closer)
    assert (take.side, take.order_type, take.price) == (Side.SELL, OrderType.LIMIT, D("20010.00"))
    assert (stop.side, stop.order_type, stop.stop_price) == (
        Side.SELL,
        OrderType.STOP,
        D("19995.25"),
    )
    assert take.time_in_force is stop.time_in_force is TimeInForce.GTC
    assert take.cl_ord_id == client_order_id(SIGNAL_ID, "DEMO1", "entry.tp")
    assert stop.cl_ord_id == client_order_id(SIGNAL_ID, "DEMO1", "entry.sl")


def test_plan_with_short_bracket_rounds_toward_entry_from_above_and_below() -> None:
    result = _bracketed(Intent.SELL, BracketLeg(take_profit=points(10), stop_loss=points(5)))
    take, stop = _exits(result)
    assert (take.side, take.price, stop.stop_price) == (Side.BUY, D("19990.25"), D("20005.00"))


@pytest.mark.parametrize(
    ("spec", "take_price"),
    [
        (price("20012.60"), D("20012.50")),
        (ticks(4), D("20001.00")),
        (points("2.5"), D("20002.50")),
        (percent("0.05"), D("20010.00")),  # 10.00005 points from 20000.10
        (dollars(100), D("20005.00")),  # $100 / $20 per point = 5 points
    ],
)
def test_plan_with_take_profit_in_each_unit_lands_on_tick(
    spec: PriceSpec, take_price: Decimal
) -> None:
    (take,) = _exits(_bracketed(Intent.BUY, BracketLeg(take_profit=spec)))
    assert take.price == take_price


def test_plan_with_crude_dollar_stop_uses_crude_tick_and_point_value() -> None:
    sig = signal(
        Intent.BUY,
        symbol="CL1!",
        quantity=D(1),
        signal_price=D("70.005"),
        brackets=(BracketLeg(stop_loss=dollars(250)),),
    )
    (stop,) = _exits(planned(sig, contract=CL))
    assert stop.stop_price == D("69.76")  # 70.005 - 0.25 = 69.755 -> up to 69.76


def test_plan_with_limit_entry_measures_brackets_from_the_rounded_limit() -> None:
    sig = signal(
        Intent.BUY,
        quantity=D(1),
        order_type=SignalOrderType.LIMIT,
        limit_price=D("20000.10"),
        brackets=(BracketLeg(take_profit=ticks(4), stop_loss=ticks(4)),),
    )
    result = planned(sig)
    take, stop = _exits(result)
    assert entry_of(result.placements[0]).price == D("20000.00")
    assert (take.price, stop.stop_price) == (D("20001.00"), D("19999.00"))


def test_plan_with_market_entry_and_no_alert_price_uses_the_last_price() -> None:
    sig = signal(Intent.BUY, quantity=D(1), brackets=(BracketLeg(stop_loss=ticks(8)),))
    (stop,) = _exits(planned(sig, Book(0, (), D(20000))))
    assert stop.stop_price == D(19998)


@pytest.mark.parametrize("anchor", [BracketAnchor.ALERT, BracketAnchor.QUOTE])
def test_plan_with_distance_bracket_and_its_pinned_anchor_missing_denies_no_reference(
    anchor: BracketAnchor,
) -> None:
    sig = signal(Intent.BUY, quantity=D(1), brackets=(BracketLeg(stop_loss=ticks(8)),))
    pinned = policy(bracket_anchor=anchor)
    book = Book(0, (), D(20000)) if anchor is BracketAnchor.ALERT else Book()
    assert denied(sig, book, pol=pinned).code == DenialCode.NO_REFERENCE_PRICE


def test_plan_with_distance_bracket_and_no_price_at_all_protects_after_the_fill() -> None:
    leg = BracketLeg(take_profit=ticks(16), stop_loss=ticks(8))
    result = planned(signal(Intent.BUY, quantity=D(2), brackets=(leg,)))
    [entry] = result.commands
    assert isinstance(entry, PlaceOrder)  # the entry alone: its exits wait for its fill
    assert (entry.request.order_type, entry.request.qty) == (OrderType.MARKET, 2)
    assert [(p.entry_leg, p.side, p.bracket) for p in result.deferred] == [("entry", Side.BUY, leg)]


def test_plan_pinned_to_the_fill_defers_even_with_an_alert_price() -> None:
    first, second = BracketLeg(D(1), stop_loss=ticks(8)), BracketLeg(D(2), stop_loss=ticks(12))
    sig = signal(Intent.BUY, quantity=D(3), brackets=(first, second), signal_price=D(20000))
    result = planned(sig, pol=policy(bracket_anchor=BracketAnchor.FILL))
    assert [c.leg for c in result.commands] == ["entry.1", "entry.2"]
    assert [p.entry_leg for p in result.deferred] == ["entry.1", "entry.2"]
    assert sum(entry_of(c).qty for c in result.commands) == 3  # type: ignore[arg-type]


def test_plan_with_a_quote_and_no_alert_price_measures_from_the_quote_not_the_fill() -> None:
    leg = BracketLeg(stop_loss=ticks(8))
    result = planned(signal(Intent.BUY, quantity=D(1), brackets=(leg,)), Book(0, (), D(20000)))
    assert result.deferred == ()
    [stop] = _exits(result)
    assert stop.stop_price == D("19998.00")  # 8 NQ ticks of 0.25 below the quote


def test_plan_with_absolute_brackets_and_no_price_places_them_as_given() -> None:
    leg = BracketLeg(take_profit=price("20100.10"), stop_loss=price("19900.10"))
    take, stop = _exits(planned(signal(Intent.BUY, quantity=D(1), brackets=(leg,))))
    assert (take.price, stop.stop_price) == (D("20100.00"), D("19900.25"))


def test_plan_with_absolute_stop_above_a_long_entry_denies_wrong_side() -> None:
    leg = BracketLeg(stop_loss=price(20050))
    result = denied(signal(Intent.BUY, quantity=D(1), brackets=(leg,)), Book(0, (), D(20000)))
    assert result.code == DenialCode.BRACKET_WRONG_SIDE


def test_plan_with_target_rounding_onto_the_entry_denies_too_close() -> None:
    result = denied(
        signal(
            Intent.BUY,
            quantity=D(1),
            signal_price=D(20000),
            brackets=(BracketLeg(take_profit=points("0.1")),),
        )
    )
    assert result.code == DenialCode.BRACKET_TOO_CLOSE


def test_plan_with_target_below_zero_denies_invalid_price() -> None:
    result = denied(
        signal(
            Intent.SELL,
            quantity=D(1),
            signal_price=D(5),
            brackets=(BracketLeg(take_profit=points(10)),),
        )
    )
    assert result.code == DenialCode.INVALID_PRICE


def test_plan_with_several_targets_places_one_oso_per_target() -> None:
    legs = (
        BracketLeg(D(1), take_profit=ticks(8), stop_loss=ticks(8)),
        BracketLeg(D(2), take_profit=ticks(16), stop_loss=ticks(8)),
    )
    result = planned(signal(Intent.BUY, quantity=D(3), signal_price=D(20000), brackets=legs))
    assert result.legs == ("entry.1", "entry.2")
    assert [entry_of(c).qty for c in result.placements] == [1, 2]
    assert _exits(result, 0)[0].price == D(20002)
    assert _exits(result, 1)[0].price == D(20004)
    assert _exits(result, 1)[0].cl_ord_id == client_order_id(SIGNAL_ID, "DEMO1", "entry.2.tp")


def test_plan_with_several_targets_and_multiplier_splits_remainder_to_the_first() -> None:
    legs = tuple(BracketLeg(D(1), take_profit=ticks(8 * n)) for n in (1, 2, 3))
    pol = policy(account_multipliers={"DEMO1": D("1.4")})  # 3 x 1.4 = 4.2 -> 4 contracts
    result = planned(
        signal(Intent.BUY, quantity=D(3), signal_price=D(20000), brackets=legs), pol=pol
    )
    assert [entry_of(c).qty for c in result.placements] == [2, 1, 1]


def test_plan_with_more_targets_than_contracts_drops_the_far_ones() -> None:
    legs = tuple(BracketLeg(D(1), take_profit=ticks(8 * n)) for n in (1, 2, 3))
    pol = policy(account_multipliers={"DEMO1": D("0.5")})  # 3 x 0.5 -> 1 contract
    result = planned(
        signal(Intent.BUY, quantity=D(3), signal_price=D(20000), brackets=legs), pol=pol
    )
    assert result.legs == ("entry.1",)


def test_plan_with_default_brackets_applies_them_when_the_alert_has_none() -> None:
    pol = policy(default_brackets=(BracketLeg(stop_loss=ticks(8)),))
    result = planned(signal(Intent.SELL, quantity=D(1), signal_price=D(20000)), pol=pol)
    (stop,) = _exits(result)
    assert (stop.side, stop.stop_price) == (Side.BUY, D(20002))


def test_plan_with_stop_limit_distance_places_the_limit_beyond_the_stop() -> None:
    leg = BracketLeg(stop_loss=ticks(8), stop_limit=ticks("2.5"))
    (stop,) = _exits(_bracketed(Intent.BUY, leg, signal_price=D(20000)))
    # 2.5 ticks = 0.625 below the 19998 stop -> 19997.375, rounded away from the stop.
    assert (stop.order_type, stop.stop_price, stop.price) == (
        OrderType.STOP_LIMIT,
        D(19998),
        D("19997.25"),
    )


def test_plan_with_stop_limit_price_on_the_wrong_side_of_the_stop_denies() -> None:
    leg = BracketLeg(stop_loss=ticks(8), stop_limit=price(19999))
    result = denied(signal(Intent.BUY, quantity=D(1), signal_price=D(20000), brackets=(leg,)))
    assert result.code == DenialCode.BRACKET_WRONG_SIDE


def test_plan_with_stop_limit_below_zero_denies_invalid_price() -> None:
    leg = BracketLeg(stop_loss=points(1), stop_limit=points(5))
    result = denied(signal(Intent.BUY, quantity=D(1), signal_price=D(3), brackets=(leg,)))
    assert result.code == DenialCode.INVALID_PRICE


def test_plan_with_native_trailing_stop_starts_at_the_stop_loss() -> None:
    leg = BracketLeg(stop_loss=ticks(8), trailing_stop=TrailingStop(ticks(6)))
    result = _bracketed(Intent.BUY, leg, signal_price=D(20000))
    (stop,) = _exits(result)
    assert (stop.order_type, stop.stop_price, stop.trail) == (
        OrderType.TRAILING_STOP,
        D(19998),
        D("1.50"),
    )
    assert result.instructions == ()


def test_plan_with_native_trailing_stop_alone_starts_its_trail_from_the_entry() -> None:
    # Tradovate requires a trailing stop's starting stop: the trail's distance from the entry
    # (20000.10 + 3, rounded toward the entry for a buy stop that closes a short).
    leg = BracketLeg(trailing_stop=TrailingStop(points(3)))
    (stop,) = _exits(_bracketed(Intent.SELL, leg))
    assert (stop.side, stop.stop_price, stop.trail) == (Side.BUY, D("20003.00"), D(3))


def test_plan_with_triggered_trailing_stop_keeps_a_fixed_stop_and_tells_the_worker() -> None:
    trailing = TrailingStop(ticks(8), trigger=ticks(20), step=ticks(4))
    leg = BracketLeg(stop_loss=ticks(12), trailing_stop=trailing)
    result = _bracketed(Intent.BUY, leg, signal_price=D(20000))
    (stop,) = _exits(result)
    assert (stop.order_type, stop.stop_price) == (OrderType.STOP, D(19997))
    assert result.instructions == (
        TrailStop("entry", "entry.sl", Side.BUY, D(2), trigger_distance=D(5), step=D(1)),
    )


def test_plan_with_triggered_trailing_stop_and_no_stop_loss_sends_a_plain_entry() -> None:
    leg = BracketLeg(trailing_stop=TrailingStop(ticks(8), trigger=ticks(20)))
    result = _bracketed(Intent.BUY, leg, signal_price=D(20000))
    assert isinstance(result.placements[0], PlaceOrder)
    assert result.instructions == (TrailStop("entry", None, Side.BUY, D(2), D(5), None),)


def test_plan_with_breakeven_keeps_the_instruction_for_the_worker() -> None:
    leg = BracketLeg(stop_loss=ticks(8), breakeven=Breakeven(ticks(16), offset=ticks(1)))
    result = _bracketed(Intent.SELL, leg, signal_price=D(20000))
    assert result.instructions == (
        MoveStopToBreakeven("entry", "entry.sl", Side.SELL, D("0.25"), trigger_distance=D(4)),
    )


def test_plan_with_breakeven_at_a_price_rounds_it_like_a_target() -> None:
    leg = BracketLeg(breakeven=Breakeven(price("20010.10")))
    result = _bracketed(Intent.BUY, leg, signal_price=D(20000))
    assert isinstance(result.placements[0], PlaceOrder)
    assert result.instructions == (
        MoveStopToBreakeven("entry", None, Side.BUY, D(0), trigger_price=D(20010)),
    )


def test_plan_with_percent_breakeven_and_no_price_waits_for_the_fill() -> None:
    leg = BracketLeg(breakeven=Breakeven(percent("0.5")))
    result = planned(signal(Intent.BUY, quantity=D(1), brackets=(leg,)))
    assert [p.bracket for p in result.deferred] == [leg]
    pinned = policy(bracket_anchor=BracketAnchor.ALERT)
    refused = denied(signal(Intent.BUY, quantity=D(1), brackets=(leg,)), pol=pinned)
    assert refused.code == DenialCode.NO_REFERENCE_PRICE


def test_plan_with_bracketed_reversal_closes_then_places_the_oso_for_the_new_side() -> None:
    book = Book(2, bracket_pair(11, Side.SELL, 2))
    sig = signal(
        Intent.SELL,
        target=TargetPosition(MarketPosition.SHORT, D(1)),
        signal_price=D(20000),
        brackets=(BracketLeg(take_profit=ticks(8), stop_loss=ticks(8)),),
    )
    result = planned(sig, book, pol=policy(opposite_signal=OppositeSignal.REVERSE))
    # An OSO bracket covers its entry's whole quantity, so the close rides alone.
    assert result.legs == ("cancel.11", "cancel.12", "close", "entry")
    close, entry = (entry_of(c) for c in result.placements)
    assert (close.side, close.qty, entry.side, entry.qty) == (Side.SELL, 2, Side.SELL, 1)
    take, stop = _exits(result, 1)
    assert (take.price, stop.stop_price) == (D(19998), D(20002))
    assert result.position_after == -1
