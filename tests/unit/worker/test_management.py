"""Stop-management rules: when breakeven and trailing stops move, and where to."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from shared.domain.broker import OrderType, Side
from shared.domain.codec import encode
from shared.domain.planning.model import MoveStopToBreakeven, TrailStop
from worker.management import (
    StopView,
    breakeven_stop,
    decode_managed,
    improves,
    modify_request,
    to_tick,
    trailing_stop,
)

Q = Decimal("0.25")


def _be(side: Side = Side.BUY, **kw: object) -> MoveStopToBreakeven:
    values: dict[str, object] = {"offset": Decimal("0.5"), "trigger_distance": Decimal(10)}
    values.update(kw)
    return MoveStopToBreakeven("entry", "entry.sl", side, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("side", "last", "expected"),
    [
        (Side.BUY, "100009.75", None),
        (Side.BUY, "100010", "100000.50"),
        (Side.SELL, "99990.25", None),
        (Side.SELL, "99990", "99999.50"),
    ],
)
def test_breakeven_stop_with_distance_trigger_moves_only_at_the_trigger(
    side: Side, last: str, expected: str | None
) -> None:
    target = breakeven_stop(_be(side), Decimal(100000), Decimal(last), Q)
    assert target == (None if expected is None else Decimal(expected))


def test_breakeven_stop_with_price_trigger_and_odd_entry_rounds_protectively() -> None:
    long = _be(trigger_distance=None, trigger_price=Decimal("105"), offset=Decimal(0))
    assert breakeven_stop(long, Decimal("100.1"), Decimal("104"), Q) is None
    assert breakeven_stop(long, Decimal("100.1"), Decimal("105"), Q) == Decimal("100.25")
    short = _be(Side.SELL, trigger_distance=None, trigger_price=Decimal("95"), offset=Decimal(0))
    assert breakeven_stop(short, Decimal("100.1"), Decimal("95"), Q) == Decimal("100.00")


def test_trailing_stop_with_trigger_and_step_moves_forward_only() -> None:
    trail = TrailStop("entry", "entry.sl", Side.BUY, Decimal(5), Decimal(8), Decimal(2))
    entry = Decimal(100)
    assert trailing_stop(trail, entry, Decimal(107), Q, Decimal(90)) is None
    assert trailing_stop(trail, entry, Decimal(108), Q, Decimal(90)) == Decimal(103)
    assert trailing_stop(trail, entry, Decimal(109), Q, Decimal(103)) is None
    assert trailing_stop(trail, entry, Decimal(110), Q, Decimal(103)) == Decimal(105)
    short = TrailStop("entry", "entry.sl", Side.SELL, Decimal("5.1"))
    assert trailing_stop(short, entry, Decimal(95), Q, None) == Decimal("100.25")


def test_improves_and_to_tick() -> None:
    assert improves(None, Decimal(1), Side.BUY)
    assert improves(Decimal(1), Decimal(2), Side.BUY)
    assert not improves(Decimal(2), Decimal(2), Side.BUY)
    assert improves(Decimal(2), Decimal(1), Side.SELL)
    assert to_tick(Decimal("1.1"), Q, up=True) == Decimal("1.25")
    assert to_tick(Decimal("1.1"), Q, up=False) == Decimal("1.00")


def test_modify_request_with_stop_limit_keeps_the_limit_offset() -> None:
    stop = StopView(7, 2, OrderType.STOP_LIMIT, Decimal(100), Decimal(99), True)
    request = modify_request(stop, Decimal(104))
    assert (request.stop_price, request.price, request.qty) == (Decimal(104), Decimal(103), 2)
    plain = modify_request(StopView(7, 1, OrderType.STOP, Decimal(100), None, True), Decimal(101))
    assert plain.price is None


def _stored(instruction: object, **extra: object) -> str:
    return json.dumps({"instruction": encode(instruction), **extra})


def test_decode_managed_with_executor_json_reads_either_instruction() -> None:
    be = _be()
    item = decode_managed(
        10001,
        "cl-entry",
        _stored(
            be, kind="MoveStopToBreakeven", stop_cl_ord_id="cl-sl", signal_id="s", contract_id=5
        ),
    )
    assert (item.instruction, item.stop_cl_ord_id, item.contract_id) == (be, "cl-sl", 5)
    trail = TrailStop("entry", None, Side.SELL, Decimal(3))
    inferred = decode_managed(10001, "cl-entry", _stored(trail, stop_cl_ord_id=""))
    assert inferred.instruction == trail
    assert inferred.stop_cl_ord_id is None


@pytest.mark.parametrize(
    "raw",
    [
        "[]",
        json.dumps({"instruction": {"entry_leg": "entry"}, "kind": "MoveStopToBreakeven"}),
        json.dumps({"instruction": {}, "kind": "Nope"}),
    ],
)
def test_decode_managed_with_bad_entries_raises_value_error(raw: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        decode_managed(10001, "cl", raw)
