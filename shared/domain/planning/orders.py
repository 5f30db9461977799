"""Shape the terms of entry and exit orders from the alert and the strategy's defaults.

An entry uses the alert's order type, else the strategy's default (a default limit rests at the
alert's price); an exit uses the alert's order type when it names one, else market. Prices are
put on tick by the rules in :mod:`shared.domain.planning.prices`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from shared.domain import broker
from shared.domain.broker import ContractSpec, OrderRequest, Side
from shared.domain.planning.prices import entry_price, exit_price, points, ticks_down
from shared.domain.policy import StrategyPolicy
from shared.domain.risk import Denial, DenialCode
from shared.domain.signal import OrderType, PriceSpec, Signal

__all__ = [
    "Terms",
    "distance",
    "entry_terms",
    "exit_terms",
    "market_terms",
    "order_request",
    "trail_distance",
]


@dataclass(frozen=True, slots=True)
class Terms:
    """Hold an order's type, prices on tick and time in force; quantity and side come later."""

    order_type: broker.OrderType
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    time_in_force: broker.TimeInForce | None = None
    expire_time: datetime | None = None

    @property
    def rests_at(self) -> Decimal | None:
        """Return the price the order fills near when it is priced (limit, else stop)."""
        return self.price if self.price is not None else self.stop_price


def _time_in_force(
    signal: Signal, policy: StrategyPolicy, now: datetime
) -> tuple[broker.TimeInForce, datetime | None]:
    tif = broker.TimeInForce(signal.time_in_force or policy.default_time_in_force)
    expires = signal.expires_after_s
    # The signal model guarantees GTD and expires_after_s come together.
    return tif, None if expires is None else now + timedelta(seconds=expires)


def market_terms(signal: Signal, policy: StrategyPolicy, now: datetime) -> Terms:
    """Return market terms with the alert's (or the default) time in force."""
    tif, expires = _time_in_force(signal, policy, now)
    return Terms(broker.OrderType.MARKET, time_in_force=tif, expire_time=expires)


def distance(spec: PriceSpec, reference: Decimal | None, contract: ContractSpec) -> Decimal:
    """Return a distance in price units rounded down to ticks; raise a Denial without a price."""
    found = points(spec, reference, contract)
    if found is None:
        raise Denial(
            DenialCode.NO_REFERENCE_PRICE,
            "a percent distance needs a price: send the alert's price or wait for a quote",
        )
    return ticks_down(found, contract.tick_size)


def trail_distance(spec: PriceSpec, reference: Decimal | None, contract: ContractSpec) -> Decimal:
    """Return a trailing distance on tick, at least one tick; raise a Denial otherwise."""
    trail = distance(spec, reference, contract)
    if trail <= 0:
        raise Denial(DenialCode.BRACKET_TOO_CLOSE, "the trail is shorter than one tick")
    return trail


def _priced(
    signal: Signal,
    kind: OrderType,
    limit: Decimal | None,
    round_price: _Rounder,
    reference: Decimal | None,
    contract: ContractSpec,
) -> Terms:
    stop = signal.stop_price
    price = None if limit is None else round_price(limit, True)
    stop_price = None if stop is None else round_price(stop, False)
    if any(level is not None and level <= 0 for level in (price, stop_price)):
        raise Denial(DenialCode.INVALID_PRICE, "a price rounds to zero on this contract's tick")
    trail = None
    if kind is OrderType.TRAILING_STOP and signal.trail is not None:
        trail = trail_distance(signal.trail, reference, contract)
        if stop_price is None:
            # Tradovate requires the starting stop (reference: tradovate-trailing-stops.md):
            # the trail's distance from the market, above it for a buy, below for a sell.
            if reference is None:
                raise Denial(
                    DenialCode.NO_REFERENCE_PRICE,
                    "a trailing stop needs a starting stop: send the alert's price or a stop",
                )
            stop_price = round_price(reference + round_price.side.sign * trail, False)
    return Terms(broker.OrderType(kind.value), price, stop_price, trail)


class _Rounder:
    def __init__(self, contract: ContractSpec, side: Side, closing: bool) -> None:
        self._tick = contract.tick_size
        self.side = side
        self._side = side
        self._round = exit_price if closing else entry_price

    def __call__(self, price: Decimal, is_limit: bool) -> Decimal:
        return self._round(price, self._tick, self._side, is_limit=is_limit)


def _with_tif(terms: Terms, signal: Signal, policy: StrategyPolicy, now: datetime) -> Terms:
    tif, expires = _time_in_force(signal, policy, now)
    return Terms(terms.order_type, terms.price, terms.stop_price, terms.trail, tif, expires)


def entry_terms(
    signal: Signal,
    policy: StrategyPolicy,
    contract: ContractSpec,
    side: Side,
    now: datetime,
    reference: Decimal | None,
) -> Terms:
    """Return the terms of an order that opens on ``side`` (also the close riding with it).

    Raise a :class:`Denial` when the order cannot be priced.
    """
    kind = signal.order_type or policy.default_order_type
    if kind is OrderType.MARKET:
        return market_terms(signal, policy, now)
    limit = signal.limit_price
    if signal.order_type is None:
        limit = signal.signal_price  # a default limit rests at the alert's price
        if limit is None:
            raise Denial(DenialCode.MISSING_PRICE, "a limit entry needs the alert's price")
    terms = _priced(signal, kind, limit, _Rounder(contract, side, False), reference, contract)
    return _with_tif(terms, signal, policy, now)


def exit_terms(
    signal: Signal,
    policy: StrategyPolicy,
    contract: ContractSpec,
    side: Side,
    now: datetime,
    reference: Decimal | None,
) -> Terms:
    """Return the terms of an order that only closes, on closing ``side``; raise a Denial."""
    kind = signal.order_type
    if kind is None or kind is OrderType.MARKET:
        return market_terms(signal, policy, now)
    rounder = _Rounder(contract, side, True)
    terms = _priced(signal, kind, signal.limit_price, rounder, reference, contract)
    return _with_tif(terms, signal, policy, now)


def order_request(
    terms: Terms,
    *,
    account: broker.Account,
    contract: ContractSpec,
    side: Side,
    qty: int,
    cl_ord_id: str,
) -> OrderRequest:
    """Build the broker request for ``qty`` contracts on ``side`` under ``terms``."""
    return OrderRequest(
        account_id=account.id,
        symbol=contract.symbol,
        side=side,
        qty=qty,
        order_type=terms.order_type,
        cl_ord_id=cl_ord_id,
        price=terms.price,
        stop_price=terms.stop_price,
        trail=terms.trail,
        time_in_force=terms.time_in_force,
        expire_time=terms.expire_time,
        account_name=account.name,
    )
