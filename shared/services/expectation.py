"""Plan only from a view proven current: what the worker's cache must show first.

The worker's cache lags Tradovate by milliseconds to a second, and a plan made from a
position the broker no longer holds trades the wrong size (an exit that adds, a flat that
flips). Messages of one Service Bus session (one account and instrument root) run one at a
time, so when a message starts, every earlier message of its session has finished, and
each left behind an *expectation* for its account and contract (Redis
``expect:{account}:{contract}``, written by the executor):

* ``bought``/``sold``: the position's day counters as the plan saw them. Tradovate counts
  every fill into them (reference §3.2), so a cache whose counters are lower has not
  applied fills the executor already knew about;
* ``settled``: the orders the message traded or cancelled (market legs, cancels). The
  worker lists a closed order as settled only once a position change arrived at or after
  its last fill, so the cached position holds its fills;
* ``working``: the orders it left working (and those it saw working), with their
  quantities, which the cache must show working at that size, or settled;
* ``brackets``: entries placed with OCO exits, whose exit orders the cache must show;
* ``unsure``: the message did not learn everything it caused (a fill not confirmed in
  time, a re-delivery that followed an earlier plan, a message still in flight when its
  host died). Nothing proves the cache current; the next plan reads REST.

Before planning, the executor reads the cache and the expectation together and calls
``unproven``; a view it cannot prove within a short bound (polling the cache) is not used:
the facts come from REST instead. A cache that shows *more* than expected (a bracket's stop
filled since) is fine: it is newer, not older. The check works per order and per counter,
so it holds whoever else trades the account, and a day roll (counters reset) only costs one
REST read, after which the expectation holds the new day's counters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.domain.planning.model import (
    CancelOrder,
    Command,
    ModifyOrder,
    PlaceBracketOrder,
    PlaceOrder,
)
from shared.services.live_state import LiveView
from shared.services.settle import Settled


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the cache must show for one account and contract before a plan may use it."""

    signal_id: str
    bought: int = 0
    sold: int = 0
    working: Mapping[int, int] = field(default_factory=dict)  # order id -> quantity
    settled: tuple[int, ...] = ()
    brackets: tuple[int, ...] = ()
    unsure: bool = False

    def dumps(self) -> str:
        """Render the expectation as compact JSON for Redis."""
        return json.dumps(
            {
                "signal_id": self.signal_id,
                "bought": self.bought,
                "sold": self.sold,
                "working": {str(k): v for k, v in sorted(self.working.items())},
                "settled": sorted(self.settled),
                "brackets": sorted(self.brackets),
                "unsure": self.unsure,
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, raw: str | bytes | None) -> Expectation | None:
        """Read a stored expectation; None when there is none. A document this reader does
        not understand is an unsure expectation (it proves nothing), never "no expectation"."""
        if raw is None:
            return None
        try:
            data: Any = json.loads(raw)
            return cls(
                signal_id=str(data["signal_id"]),
                bought=_count(data.get("bought", 0)),
                sold=_count(data.get("sold", 0)),
                working={int(k): _count(v) for k, v in dict(data.get("working", {})).items()},
                settled=tuple(int(i) for i in data.get("settled", ())),
                brackets=tuple(int(i) for i in data.get("brackets", ())),
                unsure=data.get("unsure", False) is not False,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return cls(signal_id="?", unsure=True)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("not a count")
    return value


def unproven(view: LiveView, expected: Expectation | None) -> str | None:
    """Say why ``view`` may be behind what ``expected`` records; None when it is proven."""
    if expected is None:
        return None
    if expected.unsure:
        return f"the effects of signal {expected.signal_id} were not all confirmed"
    position = view.position
    if position is None or view.working_orders is None:
        return "the cache has no position or working orders for this contract"
    if position.bought < expected.bought or position.sold < expected.sold:
        return (
            f"the cached position counts {position.bought} bought / {position.sold} sold, "
            f"fewer than the {expected.bought} / {expected.sold} already known"
        )
    return _orders_unproven(view, expected)


def _orders_unproven(view: LiveView, expected: Expectation) -> str | None:
    settled = view.settled
    if settled is None:
        if expected.settled:
            return "the cache does not list settled orders"
        settled = {}
    missing = [order_id for order_id in expected.settled if order_id not in settled]
    if missing:
        return f"order(s) {missing} are not settled in the cache yet"
    working = {order.order_id: order.qty for order in view.working_orders or ()}
    for order_id, qty in sorted(expected.working.items()):
        shown = working.get(order_id)
        if order_id in settled or shown == qty:
            continue
        if shown is None:
            return f"working order {order_id} is not in the cache yet"
        return f"working order {order_id} shows {shown}, not {qty}, in the cache"
    waiting = [order_id for order_id in expected.brackets if order_id not in view.parents]
    if waiting:
        return f"the bracket orders of {waiting} are not in the cache yet"
    return None


def expectation_after(
    signal_id: str,
    seen: Expectation | None,
    legs: Sequence[tuple[Command, int]],
    settled: Mapping[int, Settled],
) -> Expectation:
    """Return what the cache must show once a plan's legs took effect.

    ``seen`` is what the plan's own facts showed (their counters and working orders, from
    ``Basis.seen``), None when the plan was not made here (a re-delivery followed an earlier
    delivery's plan): then nothing is certain and the next plan reads REST.
    """
    if seen is None:
        return Expectation(signal_id, unsure=True)
    working = dict(seen.working)
    closed: list[int] = []
    brackets: list[int] = []
    for command, order_id in legs:
        if isinstance(command, CancelOrder):
            working.pop(order_id, None)
            closed.append(order_id)
        elif isinstance(command, ModifyOrder):
            if order_id in working:
                working[order_id] = command.request.qty
        else:
            request = command.request if isinstance(command, PlaceOrder) else command.request.entry
            if isinstance(command, PlaceBracketOrder):
                brackets.append(order_id)
            if order_id in settled:
                closed.append(order_id)
            else:
                working[order_id] = request.qty
    unsure = any(result.source == "timeout" for result in settled.values())
    for order_id in closed:
        working.pop(order_id, None)
    return Expectation(
        signal_id,
        bought=seen.bought,
        sold=seen.sold,
        working=working,
        settled=tuple(dict.fromkeys(closed)),
        brackets=tuple(brackets),
        unsure=unsure,
    )
