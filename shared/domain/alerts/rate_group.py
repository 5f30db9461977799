"""Name a rate-limit group an alert belongs to: at most one alert of the group per window.

CrossTrade's ``rate_limit=1/120;id=my-strategy;`` means "let one alert with this id through every
120 seconds" (docs.crosstrade.io/webhooks/advanced-options/rate-limiting): a later alert of the
group after the window is a new trade, not a duplicate. The webhook claims the group's key for
the window (one Redis round trip, the same claim its de-duplication makes), so a second alert
inside the window answers ``duplicate`` and one after it trades.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_WINDOW_S = 86_400


@dataclass(frozen=True, slots=True)
class RateGroup:
    """Hold a group's name (as the alert wrote it) and its window in seconds."""

    name: str
    window_s: int

    def __post_init__(self) -> None:
        if not self.name or not 1 <= self.window_s <= MAX_WINDOW_S:
            raise ValueError("a rate group needs a name and a window of 1 s to 24 h")
