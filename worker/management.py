"""Move stops the way Tradovate cannot: breakeven after a trigger, trailing with a trigger.

The executor stores one instruction per managed entry in ``mgmt:{account_id}`` (field = the
entry's clOrdId, value = ``{"kind", "instruction" (codec-encoded MoveStopToBreakeven or
TrailStop), "stop_cl_ord_id", "signal_id", "contract_id"}``). The worker reloads them every
second and evaluates them whenever a price or a fill arrives, from the live book only (never
while resyncing).

Exactly once: before calling ``order/modifyorder`` the worker claims
``mgmt:done:{entry clOrdId}`` with ``SET NX`` (breakeven) or a compare-and-set on the last
stop level (trailing), so a restarted or second worker never repeats a move. The claim comes
first on purpose: a crash between claim and modify leaves the stop unmoved (and an
``unknown`` status for a human), which is safer than moving it twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from shared.domain.broker import (
    CL_ORD_ID_MAX,
    CommandAck,
    ModifyOrderRequest,
    OrderAck,
    OrderRequest,
    OrderType,
    Side,
)
from shared.domain.codec import decode
from shared.domain.errors import InvalidSignal
from shared.domain.planning.model import MoveStopToBreakeven, TrailStop
from shared.domain.planning.prices import on_tick

logger = logging.getLogger(__name__)

Instruction = MoveStopToBreakeven | TrailStop

# A stop the worker places at breakeven, for an entry that carried none, goes out under the
# entry's clOrdId with this suffix: the history links it to the entry's signal through it.
BREAKEVEN_SUFFIX = "-be"


def breakeven_cl_ord_id(entry_cl_ord_id: str) -> str:
    """Return the clOrdId of the stop placed at breakeven for an entry without one."""
    return f"{entry_cl_ord_id}{BREAKEVEN_SUFFIX}"[-CL_ORD_ID_MAX:]


class StopBroker(Protocol):
    """The REST calls stop management needs (``TradovateRest`` fits)."""

    async def modify_order(self, req: ModifyOrderRequest) -> CommandAck:
        """Modify a working order."""
        ...

    async def place_order(self, req: OrderRequest, *, lookup_first: bool = False) -> OrderAck:
        """Place one order."""
        ...


@dataclass(frozen=True, slots=True)
class ManagedStop:
    """One instruction from ``mgmt:{account_id}``."""

    account_id: int
    entry_cl_ord_id: str
    instruction: Instruction
    stop_cl_ord_id: str | None = None
    signal_id: str | None = None
    contract_id: int | None = None


def decode_managed(account_id: int, entry_cl_ord_id: str, raw: str | bytes) -> ManagedStop:
    """Read one stored instruction; raise ``ValueError`` when it cannot be used."""
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("instruction"), dict):
        raise ValueError("an instruction entry is an object with an 'instruction' object")
    body: Mapping[str, Any] = data["instruction"]
    kind = data.get("kind") or ("TrailStop" if "distance" in body else "MoveStopToBreakeven")
    kinds: dict[str, type[MoveStopToBreakeven] | type[TrailStop]] = {
        "MoveStopToBreakeven": MoveStopToBreakeven,
        "TrailStop": TrailStop,
    }
    cls = kinds[kind]
    try:
        instruction: Instruction = decode(cls, dict(body))
    except (InvalidSignal, TypeError) as exc:
        raise ValueError(f"unreadable {kind}: {exc}") from exc
    stop = data.get("stop_cl_ord_id")
    signal = data.get("signal_id")
    contract = data.get("contract_id")
    return ManagedStop(
        account_id=account_id,
        entry_cl_ord_id=entry_cl_ord_id,
        instruction=instruction,
        stop_cl_ord_id=stop if isinstance(stop, str) and stop else None,
        signal_id=signal if isinstance(signal, str) else None,
        contract_id=contract if isinstance(contract, int) else None,
    )


def to_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    """Round a price onto the tick grid, up or down."""
    return on_tick(price, tick, ROUND_CEILING if up else ROUND_FLOOR)


def breakeven_stop(
    instruction: MoveStopToBreakeven, entry_price: Decimal, last: Decimal, tick: Decimal
) -> Decimal | None:
    """Return the breakeven stop once ``last`` has reached the trigger, else None.

    A long's stop rounds up and a short's down, so the rounded stop never locks in a loss.
    """
    sign = instruction.side.sign
    if instruction.trigger_price is not None:
        trigger = instruction.trigger_price
    else:
        trigger = entry_price + sign * (instruction.trigger_distance or Decimal(0))
    if (last - trigger) * sign < 0:
        return None
    return to_tick(entry_price + sign * instruction.offset, tick, up=sign > 0)


def trailing_stop(
    instruction: TrailStop,
    entry_price: Decimal,
    best: Decimal,
    tick: Decimal,
    current_stop: Decimal | None,
) -> Decimal | None:
    """Return the next trailing stop level, or None while untriggered or less than a step."""
    sign = instruction.side.sign
    if instruction.trigger_distance is not None and (
        (best - entry_price) * sign < instruction.trigger_distance
    ):
        return None
    # Rounded away from the price: the stop trails at least ``distance`` behind it.
    candidate = to_tick(best - sign * instruction.distance, tick, up=sign < 0)
    step = instruction.step or tick
    if current_stop is not None and (candidate - current_stop) * sign < step:
        return None
    return candidate


def improves(current: Decimal | None, target: Decimal, side: Side) -> bool:
    """Tell whether moving a stop from ``current`` to ``target`` protects more of the trade."""
    return current is None or (target - current) * side.sign > 0


# Compare-and-set a trailing level: only a level better than the stored one is claimed.
CLAIM_LEVEL = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local better = (tonumber(ARGV[1]) - tonumber(cur)) * tonumber(ARGV[2])
  if better <= 0 then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""


@dataclass(frozen=True, slots=True)
class StopView:
    """What the book says about the stop order to move."""

    order_id: int
    qty: int
    order_type: OrderType
    stop_price: Decimal | None
    price: Decimal | None
    is_open: bool


def modify_request(stop: StopView, target: Decimal) -> ModifyOrderRequest:
    """Build the modify that moves ``stop`` to ``target`` (a stop-limit keeps its offset)."""
    price = None
    if stop.order_type is OrderType.STOP_LIMIT and stop.price is not None:
        price = stop.price + (target - (stop.stop_price or target))
    return ModifyOrderRequest(
        order_id=stop.order_id,
        qty=stop.qty,
        order_type=stop.order_type,
        price=price,
        stop_price=target,
    )
