"""Compute capped exponential back-off delays with jitter, for REST retries and reconnects."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """Say how long to wait before attempt ``n`` (0-based): ``min(cap, base * 2**n)`` jittered.

    "Equal jitter": half the delay is fixed and half random, so concurrent clients spread
    out while no delay is ever near zero (a zero delay is how reconnect loops get hot).
    """

    base_s: float = 0.25
    cap_s: float = 8.0
    rng: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError("need 0 < base_s <= cap_s")

    def ceiling(self, attempt: int) -> float:
        """Return the un-jittered delay for ``attempt``."""
        # min() first on the exponent keeps 2**attempt from growing without bound.
        return min(self.cap_s, self.base_s * float(2 ** min(attempt, 32)))

    def delay(self, attempt: int) -> float:
        """Return the jittered delay for ``attempt``, between half and all of the ceiling."""
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + self.rng() * ceiling / 2
