"""Hold what the planner and the risk gates read besides the signal: strategy policy and risk state.

``StrategyPolicy`` is the strategy's configuration in planning terms (the TOML strategy file is
validated at the edge and converted into it); ``RiskLimits`` is the part of it the risk gates
enforce; ``RiskState`` is the live state those gates compare against (kill switches, today's P&L,
the time of the last order), read from the cache just before planning. All three are frozen and
validated here, so the planner never sees a contradictory configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

from shared.domain.signal import BracketLeg, OrderType, TimeInForce
from shared.domain.symbols import SymbolRef

__all__ = [
    "OppositeSignal",
    "RiskLimits",
    "RiskState",
    "StrategyPolicy",
    "TradingWindow",
]

_ONE = Decimal(1)
_DEFAULT_ZONE = "America/Chicago"  # CME Globex quotes its sessions in Central time


class OppositeSignal(StrEnum):
    """Say what a signal against the open position does."""

    REVERSE = "reverse"  # close and open the other side, in one order when possible
    EXIT_ONLY = "exit_only"  # close the position; open nothing
    IGNORE = "ignore"  # refuse the signal; the position stays


class BracketAnchor(StrEnum):
    """Say what a market entry's distance brackets are measured from."""

    AUTO = "auto"  # the alert's price, else a fresh quote, else the entry's fill
    ALERT = "alert"  # the alert's price only (none: the signal is denied)
    QUOTE = "quote"  # the latest quote only (none: denied)
    FILL = "fill"  # the entry's average fill: the exits go out once it is known


class BracketFailure(StrEnum):
    """Say what happens when the exits placed after a fill are refused."""

    FLATTEN = "flatten"  # close what filled: a position is never left without its stop
    NOTIFY = "notify"  # keep the position and raise a risk.alert event


@dataclass(frozen=True, slots=True)
class TradingWindow:
    """Allow trading on ``days`` from ``start`` (inclusive) to ``end`` (exclusive), local time.

    ``days`` are weekday numbers (Monday 0 to Sunday 6) on which the window starts. A window
    whose end is before its start runs past midnight into the next day (Sunday 17:00 to 16:00).
    """

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError("days must name weekdays 0 (Monday) to 6 (Sunday)")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are wall-clock times in the limits' time zone")
        if self.start == self.end:
            raise ValueError("start and end are equal; the window would be empty")

    def contains(self, local: datetime) -> bool:
        """Tell whether a wall-clock moment in the window's zone falls inside the window."""
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= clock < self.end
        started_today = local.weekday() in self.days and clock >= self.start
        started_yesterday = (local.weekday() - 1) % 7 in self.days and clock < self.end
        return started_today or started_yesterday


def _positive_int(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or value < 1):
        raise ValueError(f"{name} must be a whole number of at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimits:
    """Bound what a strategy may do; ``None`` or empty means the limit is off.

    ``max_order_qty`` bounds the contracts one signal opens (and the size of every order sent);
    ``max_position`` bounds the absolute position a signal may leave; ``daily_loss_limit`` is a
    positive amount of money that realized plus open P&L today may not fall to. Trading windows
    are read in ``time_zone`` (the exchange's); outside them exits still pass when
    ``exits_outside_windows``. ``allowed_roots`` lists the traded roots (after the symbol map).
    """

    max_order_qty: int | None = None
    max_position: int | None = None
    daily_loss_limit: Decimal | None = None
    time_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(_DEFAULT_ZONE))
    trading_windows: tuple[TradingWindow, ...] = ()
    exits_outside_windows: bool = True
    cooldown_s: int = 0
    max_alert_age_s: int | None = None
    allowed_roots: frozenset[str] = frozenset()
    kill_switch: bool = False

    def __post_init__(self) -> None:
        _positive_int("max_order_qty", self.max_order_qty)
        _positive_int("max_position", self.max_position)
        _positive_int("max_alert_age_s", self.max_alert_age_s)
        if self.cooldown_s < 0:
            raise ValueError("cooldown_s cannot be negative")
        limit = self.daily_loss_limit
        if limit is not None and (not limit.is_finite() or limit <= 0):
            raise ValueError("daily_loss_limit is a positive amount of money")
        if any(root != root.upper() or not root for root in self.allowed_roots):
            raise ValueError("allowed_roots are upper-case instrument roots")

    def in_trading_window(self, moment: datetime) -> bool:
        """Tell whether ``moment`` (timezone-aware) is inside a window; no windows means always."""
        if not self.trading_windows:
            return True
        local = moment.astimezone(self.time_zone)
        return any(window.contains(local) for window in self.trading_windows)


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyPolicy:
    """Configure how one strategy turns signals into orders.

    Defaults fill what an alert leaves out: ``default_quantity`` contracts,
    ``default_order_type`` (a default limit rests at the alert's price), ``default_time_in_force``
    for entries, ``bracket_time_in_force`` for the exits an entry carries, and
    ``default_brackets`` when the alert sends none. ``account_multipliers`` scales
    quantities per account name (1 when absent); ``symbol_map`` trades another root than the
    alert names (alert on NQ, trade MNQ).
    """

    strategy_id: str
    opposite_signal: OppositeSignal = OppositeSignal.EXIT_ONLY
    allow_add: bool = False
    default_quantity: Decimal = _ONE
    default_order_type: OrderType = OrderType.MARKET
    default_time_in_force: TimeInForce = TimeInForce.DAY
    bracket_time_in_force: TimeInForce = TimeInForce.GTC
    default_brackets: tuple[BracketLeg, ...] = ()
    bracket_anchor: BracketAnchor = BracketAnchor.AUTO
    bracket_failure: BracketFailure = BracketFailure.FLATTEN
    account_multipliers: Mapping[str, Decimal] = field(default_factory=dict)
    symbol_map: Mapping[str, str] = field(default_factory=dict)
    limits: RiskLimits = field(default_factory=RiskLimits)

    def __post_init__(self) -> None:
        if not self.strategy_id:
            raise ValueError("strategy_id is required")
        quantity = self.default_quantity
        if quantity <= 0 or quantity != quantity.to_integral_value():
            raise ValueError("default_quantity must be a positive whole number of contracts")
        if self.default_order_type not in (OrderType.MARKET, OrderType.LIMIT):
            # A default stop needs a trigger only an alert can give; a default limit uses the
            # alert's price.
            raise ValueError("default_order_type must be market or limit")
        if self.default_time_in_force is TimeInForce.GTD:
            raise ValueError("a default GTD needs an expiry only an alert can give")
        if self.bracket_time_in_force in (TimeInForce.GTD, TimeInForce.IOC, TimeInForce.FOK):
            raise ValueError("bracket exits must rest: use day or gtc")
        legs = self.default_brackets
        if len(legs) > 1 and any(leg.quantity is None for leg in legs):
            raise ValueError("each of several default bracket legs needs a quantity")
        for multiplier in self.account_multipliers.values():
            if not multiplier.is_finite() or multiplier <= 0:
                raise ValueError("account multipliers must be positive")
        object.__setattr__(
            self, "account_multipliers", MappingProxyType(dict(self.account_multipliers))
        )
        object.__setattr__(self, "symbol_map", MappingProxyType(dict(self.symbol_map)))

    def multiplier(self, account_name: str) -> Decimal:
        """Return the quantity multiplier configured for an account (1 when absent)."""
        return self.account_multipliers.get(account_name, _ONE)

    def traded_root(self, alert_root: str) -> str:
        """Return the root this strategy trades for an alert's root."""
        return self.symbol_map.get(alert_root, alert_root)

    def traded_symbol(self, symbol: SymbolRef) -> SymbolRef:
        """Return the symbol to resolve and trade for an alert's symbol."""
        root = self.traded_root(symbol.root)
        return symbol if root == symbol.root else symbol.with_root(root)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskState:
    """Hold the live facts the risk gates compare against, read just before planning.

    Kill switches are the global, strategy and account flags (from the cache);
    ``realized_pnl`` and ``open_pnl`` are the account's P&L today; ``last_order_at`` maps
    ``(account name, traded root)`` to when an order was last sent, for the cooldown.
    """

    now: datetime
    global_kill: bool = False
    strategy_kill: bool = False
    account_kill: bool = False
    realized_pnl: Decimal = Decimal(0)
    open_pnl: Decimal = Decimal(0)
    last_order_at: Mapping[tuple[str, str], datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        if any(moment.utcoffset() is None for moment in self.last_order_at.values()):
            raise ValueError("last_order_at times must be timezone-aware")
        object.__setattr__(self, "last_order_at", MappingProxyType(dict(self.last_order_at)))

    @property
    def day_pnl(self) -> Decimal:
        """Return realized plus open P&L today, the figure the daily loss limit reads."""
        return self.realized_pnl + self.open_pnl

    def since_last_order(self, account_name: str, root: str) -> timedelta | None:
        """Return how long ago an order was sent for this account and root, if ever."""
        last = self.last_order_at.get((account_name, root))
        return None if last is None else self.now - last
