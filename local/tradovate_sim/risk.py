"""Pre-trade checks that need state: account switches, contract, prices, size limits.

Each failure is a ``Rejection`` whose ``failureReason`` comes from Tradovate's enum
(reference §3.2); nothing is created for a rejected request, as in the captured ISSUE#45 reply.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from local.tradovate_sim.contracts import Contract, ContractLibrary
from local.tradovate_sim.market import is_on_tick
from local.tradovate_sim.models import Account
from local.tradovate_sim.trailing import TRAILING, TrailRules, check_trailing
from local.tradovate_sim.validation import (
    NEEDS_PRICE,
    NEEDS_STOP,
    SIMULATED_TYPES,
    PlaceRequest,
    Rejection,
    VersionSpec,
)

ACCESS_DENIED = "Access is denied"


def check_account(
    accounts: dict[int, Account], account_id: int, account_spec: str | None, username: str
) -> Account:
    """Return the account the request may trade, or reject it."""
    account = accounts.get(account_id)
    if account is None:
        # A userId or someone else's account id: the captured reply is exactly this.
        raise Rejection("UnknownReason", ACCESS_DENIED)
    if account_spec is not None and account_spec not in (account.name, username):
        raise Rejection("UnknownReason", ACCESS_DENIED)
    if not account.active:
        raise Rejection("AccountClosed", f"Account {account.name} is closed")
    return account


def check_tradable(account: Account) -> None:
    """Reject new orders on a locked (killed) account."""
    if account.locked:
        raise Rejection("TradingLocked", f"Trading is locked for account {account.name}")


def check_contract(library: ContractLibrary, symbol: str, now: datetime) -> Contract:
    """Return the contract named ``symbol`` if it is known and still trading."""
    contract = library.contract(symbol)
    if contract is None:
        raise Rejection("InvalidContract", f"Unknown contract symbol {symbol!r}")
    if library.has_stopped_trading(contract, now):
        # The exchange's last trade, which can come hours before Tradovate's expirationDate.
        raise Rejection("InvalidContract", f"Contract {symbol} has expired")
    return contract


def check_version(version: VersionSpec, tick: Decimal, trail_rules: TrailRules) -> None:
    """Check the order type is simulated and its prices are present, positive and on tick."""
    if version.order_type not in SIMULATED_TYPES:
        raise Rejection("Unsupported", f"Order type {version.order_type} is not supported")
    if version.order_type in NEEDS_PRICE and version.price is None:
        raise Rejection("InvalidPrice", f"{version.order_type} order requires price")
    check_trailing(version, tick, trail_rules)
    plain_stop = version.order_type in NEEDS_STOP and version.order_type not in TRAILING
    if plain_stop and version.stop_price is None:
        raise Rejection("InvalidPrice", f"{version.order_type} order requires stopPrice")
    for value in (version.price, version.stop_price):
        if value is not None and (value <= 0 or not is_on_tick(value, tick)):
            raise Rejection("InvalidPrice", f"Price {value} is not a valid multiple of {tick}")


def check_quantity(qty: int, account: Account) -> None:
    """Check an order quantity against the account's per-order limit."""
    if qty <= 0:
        raise Rejection("UnknownReason", "Violation: orderQty must be greater than 0")
    if account.max_order_qty is not None and qty > account.max_order_qty:
        raise Rejection(
            "MaxOrderQtyLimitReached", f"Order quantity exceeds {account.max_order_qty}"
        )


def check_exposure(account: Account, net_pos: int, signed_qty: int) -> None:
    """Check liquidation-only mode and the position limit."""
    after = net_pos + signed_qty
    reduces = abs(after) < abs(net_pos) and (after == 0 or (after > 0) == (net_pos > 0))
    if account.liquidation_only and not reduces:
        raise Rejection("LiquidationOnly", f"Account {account.name} is liquidation only")
    if account.max_position is not None and abs(after) > account.max_position and not reduces:
        raise Rejection("MaxPosLimitReached", f"Position would exceed {account.max_position}")


def check_entry(
    request: PlaceRequest,
    accounts: dict[int, Account],
    library: ContractLibrary,
    now: datetime,
    username: str,
    net_pos_of: dict[tuple[int, int], int],
    trail_rules: TrailRules,
) -> tuple[Account, Contract]:
    """Run every pre-trade check on a new order; return its account and contract."""
    account = check_account(accounts, request.account_id, request.account_spec, username)
    check_tradable(account)
    contract = check_contract(library, request.symbol, now)
    check_quantity(request.order_qty, account)
    check_version(request.version, contract.product.tick_size, trail_rules)
    signed = request.order_qty if request.version.action == "Buy" else -request.order_qty
    check_exposure(account, net_pos_of.get((account.id, contract.id), 0), signed)
    return account, contract
