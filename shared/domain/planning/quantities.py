"""Size orders in whole contracts: scale by a multiplier, split across targets, cap order sizes.

Rules:

* scaling by an account multiplier rounds down (toward zero): a quantity is never rounded up
  past what the alert and the multiplier allow;
* several targets split the quantity in proportion to their sizes, each share rounded down; the
  contracts lost to rounding go one each to the first targets in the order the alert lists
  them (the nearest targets, by convention, take profit on more contracts);
* a quantity above the largest allowed order is sent as several orders of at most that size,
  the largest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

__all__ = ["chunks", "scale", "split"]


def scale(quantity: Decimal, multiplier: Decimal) -> int:
    """Return ``quantity`` times ``multiplier`` in whole contracts, rounded down."""
    if quantity < 0 or multiplier <= 0:
        raise ValueError("quantities are unsigned and multipliers positive")
    return int((quantity * multiplier).to_integral_value(rounding=ROUND_FLOOR))


def split(total: int, weights: Sequence[Decimal]) -> tuple[int, ...]:
    """Split ``total`` contracts in proportion to ``weights``; the parts add up to ``total``."""
    if total < 0 or not weights or any(weight <= 0 for weight in weights):
        raise ValueError("split a non-negative total over positive weights")
    whole = sum(weights, Decimal(0))
    # Integer division is exact; a rounded quotient could round 0.999... up to 1.
    parts = [int(Decimal(total) * weight // whole) for weight in weights]
    remainder = total - sum(parts)
    # Proportional floors lose fewer contracts than there are parts, so one pass places them.
    for index in range(remainder):
        parts[index] += 1
    return tuple(parts)


def chunks(total: int, largest: int | None) -> tuple[int, ...]:
    """Cut ``total`` contracts into orders of at most ``largest`` (all in one when None)."""
    if total <= 0:
        raise ValueError("only a positive quantity is cut into orders")
    if largest is None or total <= largest:
        return (total,)
    full, rest = divmod(total, largest)
    return (largest,) * full + ((rest,) if rest else ())
