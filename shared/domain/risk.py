"""Decide, before any I/O, whether a planned set of orders may reach the broker.

The planner summarises what a plan would send (:class:`OrderFlow`) and asks the gates here. A
refusal is a :class:`Denial`: an ``OrderDenied`` with a stable :class:`DenialCode` and one human
sentence, journaled and never sent. The gates run in a fixed order and the first refusal wins.

Gates and exits. A plan's *opening* part (contracts that open or add exposure) passes every gate
below; its *closing* part (contracts that only reduce the position, and cancels) is what a
careful trader expects to get through even when new risk is forbidden::

    gate                       opening   closing (reduce, close, flatten)
    kill switch (3 scopes)     denied    allowed: a kill switch must never trap a position
    symbol allowlist           denied    allowed: a root dropped from the list can still be left
    stale alert                denied    allowed: a late exit still matches the strategy
    trading window             denied    allowed when ``exits_outside_windows``, else denied
    cooldown                   denied    allowed
    daily loss limit           denied    allowed: exiting is how losses stop
    max order quantity         denied    never refused: the planner splits closes into
                                          orders of at most ``max_order_qty``
    max position               denied    allowed: the position only shrinks

A plan that only cancels orders passes every gate. When a plan both closes and opens (a
reversal) and an opening gate refuses, the planner keeps the closing part and records the
refusal as withheld (see ``shared.domain.planning``).

These gates judge a draft against the strategy's limits as the facts show them. After them, the
planner's safety rails (``shared.domain.planning.rails``) bound the final plan whatever its facts
say; their codes are listed here too, in the last group of :class:`DenialCode`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from shared.domain.errors import OrderDenied
from shared.domain.policy import RiskLimits, RiskState
from shared.domain.signal import Signal

__all__ = [
    "CLOSING_GATES",
    "OPENING_GATES",
    "Denial",
    "DenialCode",
    "Gate",
    "OrderFlow",
    "RiskContext",
    "check_closing",
    "check_opening",
]


class DenialCode(StrEnum):
    """Name every reason a signal is refused; values are stable, journaled and shown to users."""

    # risk gates (this module)
    KILL_SWITCH_GLOBAL = "kill_switch_global"
    KILL_SWITCH_STRATEGY = "kill_switch_strategy"
    KILL_SWITCH_ACCOUNT = "kill_switch_account"
    SYMBOL_NOT_ALLOWED = "symbol_not_allowed"
    STALE_ALERT = "stale_alert"
    OUTSIDE_TRADING_WINDOW = "outside_trading_window"
    COOLDOWN = "cooldown"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    MAX_ORDER_QTY = "max_order_qty"
    MAX_POSITION = "max_position"
    # planning refusals (shared.domain.planning)
    CONTRACT_MISMATCH = "contract_mismatch"
    POSITION_REQUIREMENT_UNMET = "position_requirement_unmet"
    ADD_NOT_ALLOWED = "add_not_allowed"
    OPPOSITE_SIGNAL_IGNORED = "opposite_signal_ignored"
    SAME_DIRECTION_IGNORED = "same_direction_ignored"
    NO_DIRECTION = "no_direction"
    ZERO_QUANTITY = "zero_quantity"
    UNSUPPORTED_QUANTITY_UNIT = "unsupported_quantity_unit"
    MISSING_PRICE = "missing_price"
    INVALID_PRICE = "invalid_price"
    NO_REFERENCE_PRICE = "no_reference_price"
    BRACKET_WRONG_SIDE = "bracket_wrong_side"
    BRACKET_TOO_CLOSE = "bracket_too_close"
    # safety rails (shared.domain.planning.rails): hard bounds on the final plan, whatever its facts
    EXIT_WOULD_ADD_EXPOSURE = "exit_would_add_exposure"
    ORDER_SIZE_BOUND = "order_size_bound"
    SIGNAL_SIZE_BOUND = "signal_size_bound"
    WORST_CASE_POSITION = "worst_case_position"
    WORST_CASE_ADD = "worst_case_add"
    PLAN_INCONSISTENT = "plan_inconsistent"


class Denial(OrderDenied):
    """Refuse a signal before any broker call; the planner returns it, callers may raise it."""

    def __init__(self, code: DenialCode, message: str) -> None:
        super().__init__(message, code=code)
        self.reason = code

    def __repr__(self) -> str:
        return f"Denial({self.reason.value!r}, {self.message!r})"

    # Compared by value, so plans that carry a withheld denial compare by value too.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Denial):
            return NotImplemented
        return (self.reason, self.message) == (other.reason, other.message)

    def __hash__(self) -> int:
        return hash((self.reason, self.message))


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFlow:
    """Summarise what a plan would send, in contracts, for the quantity gates.

    ``opens`` counts contracts beyond the current position (the opening part); ``largest_order``
    is the biggest single order; ``position_after`` the signed position once every order fills;
    ``resting_same_side`` the working orders left in place that would grow it further.
    """

    opens: int
    largest_order: int
    position_after: int
    resting_same_side: int = 0

    def __post_init__(self) -> None:
        if min(self.opens, self.largest_order, self.resting_same_side) < 0:
            raise ValueError("order flow counts are never negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskContext:
    """Gather what the gates read: the signal, the limits, the live state and the plan's flow."""

    signal: Signal
    limits: RiskLimits
    state: RiskState
    account_name: str
    root: str
    flow: OrderFlow


Gate: TypeAlias = Callable[[RiskContext], Denial | None]


def _kill_switch(ctx: RiskContext) -> Denial | None:
    state = ctx.state
    if state.global_kill:
        return Denial(DenialCode.KILL_SWITCH_GLOBAL, "the global kill switch is on")
    if state.strategy_kill or ctx.limits.kill_switch:
        return Denial(DenialCode.KILL_SWITCH_STRATEGY, "this strategy's kill switch is on")
    if state.account_kill:
        return Denial(
            DenialCode.KILL_SWITCH_ACCOUNT, f"the kill switch of account {ctx.account_name} is on"
        )
    return None


def _symbol_allowlist(ctx: RiskContext) -> Denial | None:
    allowed = ctx.limits.allowed_roots
    if allowed and ctx.root not in allowed:
        return Denial(
            DenialCode.SYMBOL_NOT_ALLOWED,
            f"{ctx.root} is not among this strategy's symbols ({', '.join(sorted(allowed))})",
        )
    return None


def _stale_alert(ctx: RiskContext) -> Denial | None:
    max_age_s = ctx.limits.max_alert_age_s
    sent = ctx.signal.tv_time
    # An alert without a TradingView time cannot be aged; the webhook's own receipt time bounds it.
    if max_age_s is None or sent is None:
        return None
    age_s = (ctx.state.now - sent).total_seconds()
    if age_s > max_age_s:
        return Denial(
            DenialCode.STALE_ALERT,
            f"the alert is {age_s:.0f} s old, older than the {max_age_s} s limit",
        )
    return None


def _trading_window(ctx: RiskContext) -> Denial | None:
    limits = ctx.limits
    if limits.in_trading_window(ctx.state.now):
        return None
    local = ctx.state.now.astimezone(limits.time_zone)
    return Denial(
        DenialCode.OUTSIDE_TRADING_WINDOW,
        f"{local:%a %H:%M} {limits.time_zone.key} is outside this strategy's trading windows",
    )


def _exit_trading_window(ctx: RiskContext) -> Denial | None:
    return None if ctx.limits.exits_outside_windows else _trading_window(ctx)


def _cooldown(ctx: RiskContext) -> Denial | None:
    cooldown_s = ctx.limits.cooldown_s
    since = ctx.state.since_last_order(ctx.account_name, ctx.root)
    if cooldown_s and since is not None and since.total_seconds() < cooldown_s:
        return Denial(
            DenialCode.COOLDOWN,
            f"the last {ctx.root} order for {ctx.account_name} was "
            f"{since.total_seconds():.0f} s ago, inside the {cooldown_s} s cooldown",
        )
    return None


def _daily_loss(ctx: RiskContext) -> Denial | None:
    limit = ctx.limits.daily_loss_limit
    pnl = ctx.state.day_pnl
    if limit is not None and pnl <= -limit:
        return Denial(
            DenialCode.DAILY_LOSS_LIMIT,
            f"today's P&L {pnl} has reached the daily loss limit of {limit}",
        )
    return None


def _max_order_qty(ctx: RiskContext) -> Denial | None:
    limit = ctx.limits.max_order_qty
    flow = ctx.flow
    if limit is not None and max(flow.opens, flow.largest_order) > limit:
        return Denial(
            DenialCode.MAX_ORDER_QTY,
            f"the signal opens {flow.opens} contracts (largest order {flow.largest_order}), "
            f"more than the limit of {limit}",
        )
    return None


def _max_position(ctx: RiskContext) -> Denial | None:
    limit = ctx.limits.max_position
    flow = ctx.flow
    exposure = abs(flow.position_after) + flow.resting_same_side
    if limit is not None and exposure > limit:
        return Denial(
            DenialCode.MAX_POSITION,
            f"the position would reach {exposure} contracts (including resting orders), "
            f"more than the limit of {limit}",
        )
    return None


OPENING_GATES: tuple[Gate, ...] = (
    _kill_switch,
    _symbol_allowlist,
    _stale_alert,
    _trading_window,
    _cooldown,
    _daily_loss,
    _max_order_qty,
    _max_position,
)
CLOSING_GATES: tuple[Gate, ...] = (_exit_trading_window,)


def _first_denial(gates: tuple[Gate, ...], ctx: RiskContext) -> Denial | None:
    for gate in gates:
        denial = gate(ctx)
        if denial is not None:
            return denial
    return None


def check_opening(ctx: RiskContext) -> Denial | None:
    """Return the first gate's refusal of a plan that opens or adds exposure, or None."""
    return _first_denial(OPENING_GATES, ctx)


def check_closing(ctx: RiskContext) -> Denial | None:
    """Return the refusal of a plan that only reduces exposure, or None (usually None)."""
    return _first_denial(CLOSING_GATES, ctx)
