"""Convert a validated strategy (from the TOML file) into the planner's ``StrategyPolicy``."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

from shared.domain.policy import (
    BracketAnchor,
    BracketFailure,
    OppositeSignal,
    RiskLimits,
    StrategyPolicy,
    TradingWindow,
)
from shared.strategies import Strategy

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def limits_for(strategy: Strategy) -> RiskLimits:
    """Return the strategy's risk limits in planning terms."""
    risk = strategy.risk
    return RiskLimits(
        max_order_qty=risk.max_order_qty,
        max_position=risk.max_position,
        daily_loss_limit=risk.daily_loss_limit,
        time_zone=ZoneInfo(risk.timezone),
        trading_windows=tuple(
            TradingWindow(frozenset(_WEEKDAYS[d] for d in w.days), w.start, w.end)
            for w in risk.trading_windows
        ),
        exits_outside_windows=risk.exits_outside_windows,
        cooldown_s=risk.cooldown_s,
        max_alert_age_s=risk.max_alert_age_s,
        allowed_roots=frozenset(risk.symbols),
        kill_switch=risk.kill_switch,
    )


# Policies built before, by (strategy object, account, multiplier): a strategy is frozen and
# lives as long as its strategy file is loaded, and every delivery of an account asks for the
# same policy (its risk limits resolve a time zone and build sets). The entry holds the
# strategy itself, so the id in its key cannot be reused while it is there.
_POLICIES: dict[tuple[int, str, Decimal], tuple[Strategy, StrategyPolicy]] = {}
_POLICIES_MAX = 1024


def policy_for(strategy: Strategy, account: str, multiplier: Decimal) -> StrategyPolicy:
    """Return the policy for one account of a strategy (built once per process).

    The webhook already applied the symbol map and chose the account's multiplier (the
    alert's own, or the strategy file's), so the policy carries that one multiplier and
    an identity symbol map.
    """
    key = (id(strategy), account, multiplier)
    held = _POLICIES.get(key)
    if held is not None and held[0] is strategy:
        return held[1]
    policy = _policy(strategy, account, multiplier)
    if len(_POLICIES) >= _POLICIES_MAX:
        _POLICIES.clear()
    _POLICIES[key] = (strategy, policy)
    return policy


def for_operator(policy: StrategyPolicy) -> StrategyPolicy:
    """Return ``policy`` for an operator's flatten: its trading windows never keep a position
    open.

    The closing gate refuses exits outside the windows when ``exits_outside_windows`` is off
    (the strategy's own signals then wait for the window). An operator's flatten or stop is
    the instruction to close now; nothing else in the closing path refuses it (kill switches
    and loss limits stop only entries), so this is what makes it close whatever the clock.
    """
    if policy.limits.exits_outside_windows:
        return policy
    limits = replace(policy.limits, exits_outside_windows=True)
    return replace(policy, limits=limits)


def without_windows(policy: StrategyPolicy) -> StrategyPolicy:
    """Return ``policy`` without its trading windows, for an alert that asks to bypass them
    (TradersPost's ``ignoreTradingWindows``, CrossTrade's ``bypass_trade_windows``): every
    other gate and rail still applies."""
    if not policy.limits.trading_windows:
        return policy
    return replace(policy, limits=replace(policy.limits, trading_windows=()))


def _policy(strategy: Strategy, account: str, multiplier: Decimal) -> StrategyPolicy:
    defaults, behaviour = strategy.defaults, strategy.behaviour
    return StrategyPolicy(
        strategy_id=strategy.id,
        opposite_signal=OppositeSignal(behaviour.opposite_signal),
        allow_add=behaviour.allow_add,
        default_quantity=defaults.quantity,
        default_order_type=defaults.order_type,
        default_time_in_force=defaults.time_in_force,
        default_brackets=defaults.brackets(),
        bracket_anchor=BracketAnchor(behaviour.bracket_anchor),
        bracket_failure=BracketFailure(behaviour.bracket_failure),
        account_multipliers=MappingProxyType({account: multiplier}),  # shared: read-only
        limits=limits_for(strategy),
    )
