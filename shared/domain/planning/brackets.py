"""Turn an entry's bracket legs into native OSO exits and instructions for the worker.

Each bracket leg becomes one entry order with its own exits (``order/placeoso``): a take profit
(limit) and a stop (stop, stop-limit or trailing stop), OCO-linked by the broker. An OSO bracket
takes the entry order's whole quantity, so several targets are several entry orders, the opening
quantity split across them (rules in :mod:`shared.domain.planning.quantities`). Levels given as
distances are measured from the reference price (the entry's limit or stop, else the alert's price,
else the last price) and rounded toward it (rules in :mod:`shared.domain.planning.prices`); a
level that lands on or beyond the reference is refused rather than moved.

A trailing stop without trigger or step is Tradovate's native trailing stop (initial stop at the
leg's stop loss when given). With a trigger or step the broker cannot do it: the leg gets its fixed
stop (if any) and a :class:`TrailStop` instruction for the worker; breakeven likewise becomes a
:class:`MoveStopToBreakeven` instruction. A stop-limit applies to a fixed stop only.

Leg ids: ``entry`` for a single leg, ``entry.<n>`` (1-based, in the alert's order) for several;
its exits are ``<entry leg>.tp`` and ``<entry leg>.sl``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from shared.domain import broker
from shared.domain.broker import ContractSpec, Side
from shared.domain.planning.model import Instruction, MoveStopToBreakeven, TrailStop
from shared.domain.planning.orders import distance, trail_distance
from shared.domain.planning.prices import exit_price, points
from shared.domain.planning.quantities import split
from shared.domain.risk import Denial, DenialCode
from shared.domain.signal import BracketLeg, Breakeven, PriceSpec, TrailingStop

__all__ = ["BracketSetup", "EntryLeg", "exits_for", "plan_entry_legs", "sized_legs"]

_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class BracketSetup:
    """Hold what every leg of one entry shares: side, reference price, contract, ids."""

    side: Side
    reference: Decimal | None
    contract: ContractSpec
    time_in_force: broker.TimeInForce
    cl_ord_id: Callable[[str], str]

    @property
    def closing(self) -> Side:
        """Return the side the exits trade."""
        return self.side.opposite


@dataclass(frozen=True, slots=True)
class EntryLeg:
    """Describe one entry order: its leg id, size, native exits and worker instructions."""

    leg: str
    qty: int
    exits: tuple[broker.BracketLeg, ...] = ()
    instructions: tuple[Instruction, ...] = ()


def plan_entry_legs(
    legs: tuple[BracketLeg, ...], opening: int, setup: BracketSetup
) -> tuple[EntryLeg, ...]:
    """Split ``opening`` contracts over the bracket legs; raise a Denial for a bad level."""
    if not legs:
        return (EntryLeg("entry", opening),)
    return tuple(_entry_leg(leg, name, qty, setup) for name, qty, leg in sized_legs(legs, opening))


def sized_legs(
    legs: tuple[BracketLeg, ...], opening: int
) -> tuple[tuple[str, int, BracketLeg], ...]:
    """Split ``opening`` contracts over the bracket legs: (entry leg id, size, leg) for each
    leg that gets at least one contract."""
    weights = [_ONE] if len(legs) == 1 else [leg.quantity or _ONE for leg in legs]
    sizes = split(opening, weights)
    return tuple(
        ("entry" if len(legs) == 1 else f"entry.{index + 1}", qty, leg)
        for index, (leg, qty) in enumerate(zip(legs, sizes, strict=True))
        if qty
    )


def exits_for(leg: BracketLeg, name: str, qty: int, setup: BracketSetup) -> EntryLeg:
    """Return one entry leg's exits and worker instructions, measured from
    ``setup.reference`` (an entry's fill, for a bracket placed after it); raise a Denial for a
    bad level."""
    return _entry_leg(leg, name, qty, setup)


def _entry_leg(leg: BracketLeg, name: str, qty: int, setup: BracketSetup) -> EntryLeg:
    exits: list[broker.BracketLeg] = []
    if leg.take_profit is not None:
        price = _level(leg.take_profit, setup, profit=True)
        exits.append(
            broker.BracketLeg(
                setup.closing,
                broker.OrderType.LIMIT,
                price=price,
                time_in_force=setup.time_in_force,
                cl_ord_id=setup.cl_ord_id(f"{name}.tp"),
            )
        )
    stop = _stop(leg, name, setup)
    if stop is not None:
        exits.append(stop)
    stop_leg = None if stop is None else f"{name}.sl"
    instructions: list[Instruction] = []
    trailing = leg.trailing_stop
    if trailing is not None and not _native(trailing):
        instructions.append(_trail_instruction(trailing, name, stop_leg, setup))
    if leg.breakeven is not None:
        instructions.append(_breakeven(leg.breakeven, name, stop_leg, setup))
    return EntryLeg(name, qty, tuple(exits), tuple(instructions))


def _native(trailing: TrailingStop) -> bool:
    return trailing.trigger is None and trailing.step is None


def _level(spec: PriceSpec, setup: BracketSetup, *, profit: bool) -> Decimal:
    sign, reference = setup.side.sign, setup.reference
    if spec.is_price:
        raw = spec.value
    else:
        if reference is None:
            raise _no_reference()
        # points() only needs the reference for a percent, which is present here.
        offset = points(spec, reference, setup.contract) or Decimal(0)
        raw = reference + sign * offset if profit else reference - sign * offset
    price = exit_price(raw, setup.contract.tick_size, setup.closing, is_limit=profit)
    what = "take profit" if profit else "stop loss"
    if price <= 0:
        raise Denial(DenialCode.INVALID_PRICE, f"the {what} falls at or below zero")
    if reference is not None and (price - reference) * sign * (1 if profit else -1) <= 0:
        if spec.is_price:
            raise Denial(
                DenialCode.BRACKET_WRONG_SIDE,
                f"the {what} {price} is on the wrong side of the entry near {reference}",
            )
        raise Denial(
            DenialCode.BRACKET_TOO_CLOSE,
            f"the {what} rounds onto the entry price {reference}; give a wider distance",
        )
    return price


def _no_reference() -> Denial:
    return Denial(
        DenialCode.NO_REFERENCE_PRICE,
        "a bracket given as a distance needs an entry price: send the alert's price",
    )


def _stop(leg: BracketLeg, name: str, setup: BracketSetup) -> broker.BracketLeg | None:
    stop_price = None if leg.stop_loss is None else _level(leg.stop_loss, setup, profit=False)
    cl_ord_id = setup.cl_ord_id(f"{name}.sl")
    trailing = leg.trailing_stop
    if trailing is not None and _native(trailing):
        trail = trail_distance(trailing.distance, setup.reference, setup.contract)
        if stop_price is None:
            # Tradovate requires the starting stop: the trail's distance from the entry.
            if setup.reference is None:
                raise _no_reference()
            raw = setup.reference - setup.side.sign * trail
            stop_price = exit_price(raw, setup.contract.tick_size, setup.closing, is_limit=False)
        return broker.BracketLeg(
            setup.closing,
            broker.OrderType.TRAILING_STOP,
            stop_price=stop_price,
            trail=trail,
            time_in_force=setup.time_in_force,
            cl_ord_id=cl_ord_id,
        )
    if stop_price is None:
        return None
    if leg.stop_limit is None:
        return broker.BracketLeg(
            setup.closing,
            broker.OrderType.STOP,
            stop_price=stop_price,
            time_in_force=setup.time_in_force,
            cl_ord_id=cl_ord_id,
        )
    return broker.BracketLeg(
        setup.closing,
        broker.OrderType.STOP_LIMIT,
        price=_stop_limit(leg.stop_limit, stop_price, setup),
        stop_price=stop_price,
        time_in_force=setup.time_in_force,
        cl_ord_id=cl_ord_id,
    )


def _stop_limit(spec: PriceSpec, stop: Decimal, setup: BracketSetup) -> Decimal:
    sign = setup.side.sign
    # A distance lies beyond the stop, away from the entry; a percent is of the stop price.
    raw = spec.value if spec.is_price else stop - sign * (points(spec, stop, setup.contract) or 0)
    price = exit_price(raw, setup.contract.tick_size, setup.closing, is_limit=True)
    if price <= 0:
        raise Denial(DenialCode.INVALID_PRICE, "the stop-limit's limit falls at or below zero")
    if (stop - price) * sign < 0:
        raise Denial(
            DenialCode.BRACKET_WRONG_SIDE,
            f"the stop-limit's limit {price} is on the wrong side of its stop {stop}",
        )
    return price


def _optional_distance(spec: PriceSpec | None, setup: BracketSetup) -> Decimal | None:
    return None if spec is None else distance(spec, setup.reference, setup.contract)


def _trail_instruction(
    trailing: TrailingStop, name: str, stop_leg: str | None, setup: BracketSetup
) -> TrailStop:
    return TrailStop(
        entry_leg=name,
        stop_leg=stop_leg,
        side=setup.side,
        distance=trail_distance(trailing.distance, setup.reference, setup.contract),
        trigger_distance=_optional_distance(trailing.trigger, setup),
        step=_optional_distance(trailing.step, setup),
    )


def _breakeven(
    breakeven: Breakeven, name: str, stop_leg: str | None, setup: BracketSetup
) -> MoveStopToBreakeven:
    offset = _optional_distance(breakeven.offset, setup) or Decimal(0)
    trigger = breakeven.trigger
    if trigger.is_price:
        # An absolute trigger rounds like a take profit: never beyond the level asked.
        price = exit_price(trigger.value, setup.contract.tick_size, setup.closing, is_limit=True)
        return MoveStopToBreakeven(name, stop_leg, setup.side, offset, trigger_price=price)
    return MoveStopToBreakeven(
        name,
        stop_leg,
        setup.side,
        offset,
        trigger_distance=distance(trigger, setup.reference, setup.contract),
    )
