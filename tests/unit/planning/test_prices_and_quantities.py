from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest

from shared.domain.broker import Side
from shared.domain.planning.prices import entry_price, exit_price, on_tick, points, ticks_down
from shared.domain.planning.quantities import chunks, scale, split
from shared.domain.signal import PriceSpec, PriceUnit
from tests.unit.planning.builders import CL, NQ

D = Decimal
TICK = D("0.25")


@pytest.mark.parametrize(
    ("rounding", "expected"), [(ROUND_FLOOR, D("100.00")), (ROUND_CEILING, D("100.25"))]
)
def test_on_tick_with_off_tick_price_rounds_by_mode(rounding: str, expected: Decimal) -> None:
    assert on_tick(D("100.10"), TICK, rounding) == expected


def test_on_tick_with_price_on_tick_keeps_it() -> None:
    assert on_tick(D("100.25"), TICK, ROUND_FLOOR) == D("100.25")


@pytest.mark.parametrize(
    ("side", "is_limit", "expected"),
    [
        (Side.BUY, True, D("100.00")),  # never pay more than asked
        (Side.BUY, False, D("100.25")),  # never trigger before the level
        (Side.SELL, True, D("100.25")),  # never sell lower than asked
        (Side.SELL, False, D("100.00")),  # never trigger before the level
    ],
)
def test_entry_price_with_side_and_kind_rounds_never_worse(
    side: Side, is_limit: bool, expected: Decimal
) -> None:
    assert entry_price(D("100.10"), TICK, side, is_limit=is_limit) == expected


@pytest.mark.parametrize(
    ("side", "is_limit", "expected"),
    [
        (Side.SELL, True, D("100.00")),  # a long's target: never beyond the level asked
        (Side.SELL, False, D("100.25")),  # a long's stop: never further than asked
        (Side.BUY, True, D("100.25")),  # a short's target
        (Side.BUY, False, D("100.00")),  # a short's stop
    ],
)
def test_exit_price_with_closing_side_rounds_toward_entry(
    side: Side, is_limit: bool, expected: Decimal
) -> None:
    assert exit_price(D("100.10"), TICK, side, is_limit=is_limit) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (PriceSpec(D(8), PriceUnit.TICKS), D("2.00")),
        (PriceSpec(D("2.5"), PriceUnit.POINTS), D("2.5")),
        (PriceSpec(D(100), PriceUnit.DOLLARS), D(5)),  # $100 / $20 per point
        (PriceSpec(D(1), PriceUnit.PERCENT), D(200)),  # 1 % of 20000
    ],
)
def test_points_with_each_unit_converts_to_price_units(spec: PriceSpec, expected: Decimal) -> None:
    assert points(spec, D(20000), NQ) == expected


def test_points_with_percent_and_no_reference_returns_none() -> None:
    assert points(PriceSpec(D(1), PriceUnit.PERCENT), None, NQ) is None


def test_points_with_absolute_price_raises() -> None:
    with pytest.raises(ValueError, match="not a distance"):
        points(PriceSpec(D(100), PriceUnit.PRICE), D(100), NQ)


def test_points_with_dollars_on_crude_uses_value_per_point() -> None:
    assert points(PriceSpec(D(50), PriceUnit.DOLLARS), None, CL) == D("0.05")


def test_ticks_down_with_partial_tick_drops_it() -> None:
    assert ticks_down(D("1.30"), TICK) == D("1.25")


@pytest.mark.parametrize(
    ("quantity", "multiplier", "expected"),
    [(D(2), D(3), 6), (D(1), D("1.5"), 1), (D(3), D("0.5"), 1), (D(1), D("0.5"), 0)],
)
def test_scale_with_multiplier_rounds_down(
    quantity: Decimal, multiplier: Decimal, expected: int
) -> None:
    result = scale(quantity, multiplier)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(("quantity", "multiplier"), [(D(-1), D(1)), (D(1), D(0))])
def test_scale_with_negative_input_raises(quantity: Decimal, multiplier: Decimal) -> None:
    with pytest.raises(ValueError, match="unsigned"):
        scale(quantity, multiplier)


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (3, [D(1), D(2)], (1, 2)),
        (9, [D(1), D(2)], (3, 6)),
        (4, [D(1), D(1), D(1)], (2, 1, 1)),  # the remainder goes to the first targets
        (5, [D(1), D(1), D(1)], (2, 2, 1)),
        (1, [D(1), D(1), D(1)], (1, 0, 0)),
        (0, [D(1)], (0,)),
    ],
)
def test_split_with_weights_gives_remainder_to_first_parts(
    total: int, weights: list[Decimal], expected: tuple[int, ...]
) -> None:
    assert split(total, weights) == expected


@pytest.mark.parametrize(("total", "weights"), [(-1, [D(1)]), (1, []), (1, [D(1), D(0)])])
def test_split_with_invalid_input_raises(total: int, weights: list[Decimal]) -> None:
    with pytest.raises(ValueError, match="split"):
        split(total, weights)


@pytest.mark.parametrize(
    ("total", "largest", "expected"),
    [(7, None, (7,)), (5, 5, (5,)), (10, 5, (5, 5)), (11, 5, (5, 5, 1))],
)
def test_chunks_with_largest_order_cuts_largest_first(
    total: int, largest: int | None, expected: tuple[int, ...]
) -> None:
    assert chunks(total, largest) == expected


def test_chunks_with_zero_total_raises() -> None:
    with pytest.raises(ValueError, match="positive"):
        chunks(0, 5)
