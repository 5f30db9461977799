"""Bound every plan with hard rails that hold whatever the plan's facts say.

The planner drafts from *facts*: the book (position and working orders) the executor read, which
can lag the broker. The risk gates (:mod:`shared.domain.risk`) judge the draft against the
strategy's limits; the rails here then judge the final plan against bounds that a planner bug or
a wrong fact cannot get past. They read only the plan, the book it was made from, the signal and
the policy (no clock, no I/O), and :func:`shared.domain.planning.plan` runs them last on every
path (plain orders, one-order reversals, flatten-then-enter, brackets, shrunk exits, reversals
the gates cut to their closing part): a plan that breaks a rail is never returned.

Measures, with ``p`` the book's signed position, ``M`` the strategy's ``max_position`` and ``Q``
its ``max_order_qty``, for each side ``s`` (+1 buy, -1 sell):

* ``placed(s)``: the contracts the plan places on ``s`` (a bracket counts its entry; its take
  profit and stop only close what the entry opens);
* ``back(s) = max(0, -s*p)``: the opposite position that side ``s`` can close;
* ``closing = sum of min(placed(s), back(s))`` and ``opening(s) = max(0, placed(s) - back(s))``;
* ``held(s) = max(0, s*p - first_closes)``: the position on ``s`` left before the plan opens on
  ``s``, where ``first_closes`` counts the plan's own *market* orders on the other side sent before
  its first order on ``s`` (flatten-then-enter: an accepted market close sent first fills first);
* ``working(s) = max(0, W(s) - back(s))`` where ``W(s)`` sums the working orders on ``s``, each OCO
  group (an OSO's take profit and stop, or an OCO pair) once at its largest, a trimmed order at
  the larger of its sizes, and **orders this plan cancels included**: a cancel can arrive after
  the order filled (partly, so the cancel even succeeds), so for the bound a cancelled order may
  have filled. Up to ``back(s)`` of them are the opposite position's exits: if those fill, the
  position moved under the plan, which is a wrong fact (bounded below), not an opening order.
  ``kept(s)`` is the same without the orders the plan cancels;
* ``worst(s) = held(s) + working(s) + opening(s)``: the largest position on ``s`` if every order
  that grows it fills, the plan's own included.

Rails, in the order they are checked (codes in :class:`~shared.domain.risk.DenialCode`); the first
four bound the closing part and the whole plan, the last three its opening part:

1. ``plan_inconsistent``: the plan starts from the book's position and its ``position_after`` is
   where its orders take that position.
2. ``order_size_bound``: every order places at most ``Q`` contracts (closes are already cut into
   orders of at most ``Q``; an opening part above ``Q`` is refused by the gates).
3. ``exit_would_add_exposure``: an exit, close, flat, cancel or flat target, or any plan the
   planner meant only to reduce, has ``opening(s) = 0`` on both sides: every order is on the
   closing side and they add up to at most ``|p|``, so the position never grows and never passes
   flat; with ``p = 0`` it places nothing. Such a plan is refused, never trimmed.
4. ``signal_size_bound``: ``closing <= M``.
5. ``signal_size_bound``: ``sum of opening(s) <= M``. With 4, one signal trades at most
   ``2*M`` contracts when it both closes and opens (a reversal) and ``M`` otherwise.
6. ``worst_case_add``: with ``allow_add`` off (an explicit ``add`` intent aside: the alert asks for
   exactly that), no side with ``opening(s) > 0`` has ``held(s) > 0`` or ``kept(s) > 0``: nothing
   opens in the direction of a position or of a working entry the plan leaves in place. (Entries
   the plan cancels do not count here: replacing a pending entry is not adding, and if the
   cancelled one filled first, rail 7 still bounds the total.)
7. ``worst_case_position``: every side with ``opening(s) > 0`` has ``worst(s) <= M``.

Rails 4, 5 and 7 need ``max_position``; without it only 1-3 and 6 hold, so a strategy should set
it. When an opening rail (5-7) refuses a plan that also closes (a reversal, flatten-then-enter),
the planner keeps the closing part and records the refusal in ``Plan.withheld``, as it does for
the gates; a closing rail (1-4) refuses the whole signal.

What holds when the facts are wrong. Let ``f`` be the book's position, ``t`` the true one when the
plan's orders reach the broker (fills of orders already working there are part of how ``t`` differs
from ``f``), and ``t'`` the true position once the plan's orders fill (``M`` set):

* every signal moves the true position by at most ``2*M`` (``M`` unless it reverses), and no order
  exceeds ``Q``, whatever the facts;
* ``|t'| <= max(|t|, M + |t - f|)``: a signal leaves the true position within ``M`` plus the
  facts' error, or no further out than it already was. Over a sequence that starts within ``M``,
  the true position stays within ``M + e``, ``e`` the largest error ``|t - f|`` of any plan's facts
  (with correct facts, ``e = 0``: within ``M``);
* an exit, close or flat whose facts have the true sign (``f*t > 0``) never leaves the true
  position beyond ``max(|t|, M)``. If ``|f| <= |t|`` it never adds exposure nor passes flat; if the
  facts overstate the position it can pass flat by up to ``|f| - |t|`` (so it adds exposure only
  when ``|f| > 2*|t|``);
* what cannot be guaranteed: an exit from facts of the wrong sign (or from a non-zero view of a
  flat account) trades the wrong way, by up to ``min(|f|, M)``: a planner that sees only its
  facts cannot tell. Only fresh facts prevent that (design rule 5), which is the executor's job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeAlias

from shared.domain.broker import OrderRequest, OrderType, Side
from shared.domain.planning.model import (
    Book,
    CancelOrder,
    ModifyOrder,
    PlaceBracketOrder,
    PlaceOrder,
    Plan,
    WorkingOrder,
)
from shared.domain.policy import StrategyPolicy
from shared.domain.risk import Denial, DenialCode
from shared.domain.signal import Intent, MarketPosition, Signal

__all__ = [
    "CLOSING_RAILS",
    "OPENING_RAILS",
    "Exposure",
    "Facts",
    "Rail",
    "SideExposure",
    "check",
    "check_closing",
    "check_opening",
    "measure",
    "rails",
]

_REDUCING_INTENTS = frozenset({Intent.EXIT, Intent.CLOSE, Intent.FLAT, Intent.CANCEL})


@dataclass(frozen=True, slots=True)
class Facts:
    """Hold what a plan was made from: the book, the signal, the policy.

    ``reduce_only`` is set when the planner meant the plan only to reduce (an exit-only answer
    to an opposite signal, a smaller target, a reversal cut to its closing part); an exit,
    close, flat, cancel or flat target is reducing whatever the planner meant.
    """

    book: Book
    signal: Signal
    policy: StrategyPolicy
    reduce_only: bool = False

    @property
    def reducing(self) -> bool:
        """Tell whether the plan may only reduce the position (rail 3)."""
        target = self.signal.target
        flat = target is not None and target.market_position is MarketPosition.FLAT
        return self.reduce_only or flat or self.signal.intent in _REDUCING_INTENTS


@dataclass(frozen=True, slots=True)
class SideExposure:
    """Measure one side of a plan against its book, in contracts (module docstring)."""

    side: Side
    placed: int
    opening: int
    held: int
    working: int
    kept: int

    @property
    def closing(self) -> int:
        """Return the contracts this side's orders close."""
        return self.placed - self.opening

    @property
    def worst(self) -> int:
        """Return the largest position on this side if every order that grows it fills."""
        return self.held + self.working + self.opening


@dataclass(frozen=True, slots=True)
class Exposure:
    """Measure what a plan trades against the position and working orders it was made from."""

    before: int
    buy: SideExposure
    sell: SideExposure
    largest_order: int

    @property
    def sides(self) -> tuple[SideExposure, SideExposure]:
        """Return the buy and sell measures."""
        return (self.buy, self.sell)

    @property
    def after(self) -> int:
        """Return the position once every placed order fills."""
        return self.before + self.buy.placed - self.sell.placed

    @property
    def closing(self) -> int:
        """Return the contracts the plan closes."""
        return self.buy.closing + self.sell.closing

    @property
    def opening(self) -> int:
        """Return the contracts the plan opens, both sides together."""
        return self.buy.opening + self.sell.opening

    @property
    def traded(self) -> int:
        """Return every contract the plan places."""
        return self.buy.placed + self.sell.placed


def _entry(command: PlaceOrder | PlaceBracketOrder) -> OrderRequest:
    return command.request if isinstance(command, PlaceOrder) else command.request.entry


def measure(plan: Plan, book: Book) -> Exposure:
    """Measure ``plan`` against the ``book`` it was made from."""
    entries = tuple(_entry(command) for command in plan.placements)
    cancelled = {c.order_id for c in plan.commands if isinstance(c, CancelOrder)}
    resized = {
        c.request.order_id: c.request.qty for c in plan.commands if isinstance(c, ModifyOrder)
    }
    kept = tuple(order for order in book.working if order.order_id not in cancelled)

    def side_of(side: Side) -> SideExposure:
        placed = sum(entry.qty for entry in entries if entry.side is side)
        back = max(0, -side.sign * book.net_pos)
        return SideExposure(
            side=side,
            placed=placed,
            opening=max(0, placed - back),
            held=max(0, side.sign * book.net_pos - _closes_first(side, entries)),
            working=max(0, _grouped(book.working, side, resized) - back),
            kept=max(0, _grouped(kept, side, resized) - back),
        )

    largest = max((entry.qty for entry in entries), default=0)
    return Exposure(book.net_pos, side_of(Side.BUY), side_of(Side.SELL), largest)


def _closes_first(side: Side, entries: Iterable[OrderRequest]) -> int:
    # Market orders on the other side sent before the first order on this side: the executor
    # sends commands in order and stops at a rejection, and an accepted market order fills
    # ahead of anything sent after it. A priced close may rest unfilled, so it earns nothing.
    total = 0
    for entry in entries:
        if entry.side is side:
            break
        if entry.order_type is OrderType.MARKET:
            total += entry.qty
    return total


def _grouped(orders: Iterable[WorkingOrder], side: Side, resized: dict[int, int]) -> int:
    # One fill per OCO group (a bracket's take profit and stop leave together); a trimmed
    # order may fill at its old size before the trim lands.
    largest: dict[int, int] = {}
    for order in orders:
        if order.side is side:
            size = max(order.qty, resized.get(order.order_id, 0))
            largest[order.group_key] = max(largest.get(order.group_key, 0), size)
    return sum(largest.values())


Rail: TypeAlias = Callable[[Plan, Exposure, Facts], Denial | None]


def _consistent(plan: Plan, exposure: Exposure, facts: Facts) -> Denial | None:
    if plan.position_before == exposure.before and plan.position_after == exposure.after:
        return None
    return Denial(
        DenialCode.PLAN_INCONSISTENT,
        f"the plan says {plan.position_before} to {plan.position_after}, but its orders take "
        f"the position {exposure.before} to {exposure.after}",
    )


def _order_size(plan: Plan, exposure: Exposure, facts: Facts) -> Denial | None:
    limit = facts.policy.limits.max_order_qty
    if limit is None or exposure.largest_order <= limit:
        return None
    return Denial(
        DenialCode.ORDER_SIZE_BOUND,
        f"an order of {exposure.largest_order} contracts exceeds max_order_qty {limit}",
    )


def _exit_adds_nothing(plan: Plan, exposure: Exposure, facts: Facts) -> Denial | None:
    if not facts.reducing or exposure.opening == 0:
        return None
    return Denial(
        DenialCode.EXIT_WOULD_ADD_EXPOSURE,
        f"the signal may only reduce the position of {exposure.before}, but its orders trade "
        f"{exposure.traded} contracts, {exposure.opening} beyond what closes it; refused rather "
        "than trimmed",
    )


def _closing_bound(plan: Plan, exposure: Exposure, facts: Facts) -> Denial | None:
    limit = facts.policy.limits.max_position
    if limit is None or exposure.closing <= limit:
        return None
    return Denial(
        DenialCode.SIGNAL_SIZE_BOUND,
        f"the signal would close {exposure.closing} contracts, more than max_position {limit}; "
        "a position that large is not one this strategy opens: check it and close it at the broker",
    )


def _opening_bound(plan: Plan, exposure: Exposure, facts: Facts) -> Denial | None:
    limit = facts.policy.limits.max_position
    if limit is None or exposure.opening <= limit:
        return None
    return Denial(
        DenialCode.SIGNAL_SIZE_BOUND,
        f"the signal would open {exposure.opening} contracts, more than max_position {limit}",
    )


def _no_add(plan: Plan, exposure: Exposure, facts: Facts) -> Denial | None:
    if facts.policy.allow_add or facts.signal.intent is Intent.ADD:
        return None
    for side in exposure.sides:
        if side.opening and (side.held or side.kept):
            return Denial(
                DenialCode.WORST_CASE_ADD,
                f"a {side.side} of {side.opening} would add to {side.held} contracts held and "
                f"{side.kept} working on that side, and this strategy does not add to positions",
            )
    return None


def _worst_case(plan: Plan, exposure: Exposure, facts: Facts) -> Denial | None:
    limit = facts.policy.limits.max_position
    if limit is None:
        return None
    for side in exposure.sides:
        if side.opening and side.worst > limit:
            return Denial(
                DenialCode.WORST_CASE_POSITION,
                f"in the worst case the {side.side} side reaches {side.worst} contracts "
                f"({side.held} held, {side.working} working or being cancelled, "
                f"{side.opening} new), more than max_position {limit}",
            )
    return None


CLOSING_RAILS: tuple[Rail, ...] = (_consistent, _order_size, _exit_adds_nothing, _closing_bound)
OPENING_RAILS: tuple[Rail, ...] = (_opening_bound, _no_add, _worst_case)


def _first(rails_: tuple[Rail, ...], plan: Plan, facts: Facts) -> Denial | None:
    exposure = measure(plan, facts.book)
    for rail in rails_:
        denial = rail(plan, exposure, facts)
        if denial is not None:
            return denial
    return None


def check_closing(plan: Plan, facts: Facts) -> Denial | None:
    """Return the first closing rail (1-4) ``plan`` breaks, or None."""
    return _first(CLOSING_RAILS, plan, facts)


def check_opening(plan: Plan, facts: Facts) -> Denial | None:
    """Return the first opening rail (5-7) ``plan`` breaks, or None."""
    return _first(OPENING_RAILS, plan, facts)


def check(plan: Plan, facts: Facts) -> Denial | None:
    """Return the first rail ``plan`` breaks, closing rails first, or None."""
    return _first(CLOSING_RAILS + OPENING_RAILS, plan, facts)


def rails(plan: Plan, facts: Facts) -> Plan | Denial:
    """Return ``plan`` when it keeps every rail, else the first rail's denial."""
    denial = check(plan, facts)
    return plan if denial is None else denial
