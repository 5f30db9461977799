"""Name the planner's inputs from the broker and its outputs: commands, worker instructions, plans.

Inputs: a :class:`Book` (the account's net position on one contract, its working orders and the
last known price). Outputs: a :class:`Plan`, an ordered tuple of commands the executor sends one
after another, each with a deterministic ``leg`` id from which the client order id derives, plus
the instructions the worker carries out after fills (breakeven, trailing with a trigger).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from shared.domain.broker import (
    CL_ORD_ID_MAX,
    BracketOrderRequest,
    ModifyOrderRequest,
    Order,
    OrderRequest,
    OrderType,
    OrderVersion,
    Position,
    Side,
)
from shared.domain.risk import Denial
from shared.domain.signal import BracketLeg

__all__ = [
    "Book",
    "CancelOrder",
    "Command",
    "Instruction",
    "ModifyOrder",
    "MoveStopToBreakeven",
    "PlaceBracketOrder",
    "PlaceOrder",
    "Plan",
    "ProtectAfterFill",
    "TrailStop",
    "WorkingOrder",
    "client_order_id",
    "is_leg_of",
    "leg_of",
]

_DIGEST_HEX = 24  # 96 bits: collisions between signals are not a practical concern


def client_order_id(signal_id: str, account_name: str, leg: str) -> str:
    """Derive the deterministic Tradovate ``clOrdId`` of one leg of one signal for one account.

    The id hashes all three parts (a signal id may be long) and keeps the leg readable at the
    end: ``tb<24 hex>-<leg>``, at most 64 characters.
    """
    if not signal_id or not account_name or not leg:
        raise ValueError("signal id, account and leg are all needed for a client order id")
    digest = hashlib.sha256("\x1f".join((signal_id, account_name, leg)).encode()).hexdigest()
    return f"tb{digest[:_DIGEST_HEX]}-{leg}"[:CL_ORD_ID_MAX]


def leg_of(cl_ord_id: str) -> str | None:
    """Return the leg a Tradebridge client order id names at its end (``entry.tp`` of
    ``tb<digest>-entry.tp``), or None for an id Tradebridge did not derive."""
    head, sep, leg = cl_ord_id.partition("-")
    return leg if sep and leg and head.startswith("tb") else None


def is_leg_of(cl_ord_id: str, signal_id: str, account_name: str) -> bool:
    """Tell whether ``cl_ord_id`` is the client order id of one of this signal's legs for
    this account (its leg is read from the id, the digest recomputed)."""
    leg = leg_of(cl_ord_id)
    return leg is not None and client_order_id(signal_id, account_name, leg) == cl_ord_id


@dataclass(frozen=True, slots=True)
class WorkingOrder:
    """Hold one open order on the contract: what the planner may cancel or shrink.

    ``group`` ties orders that leave together (the OCO id, or the parent of an OSO bracket); a
    bracket's take profit and stop share one.
    """

    order_id: int
    side: Side
    qty: int
    order_type: OrderType
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    group: int | None = None

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError("a working order has a positive quantity")

    @classmethod
    def from_broker(cls, order: Order, version: OrderVersion) -> WorkingOrder:
        """Build a working order from the broker's order and its latest version."""
        if version.order_id != order.id or version.order_type is None:
            raise ValueError(f"version {version.id} does not describe order {order.id}")
        return cls(
            order_id=order.id,
            side=order.side,
            qty=version.qty,
            order_type=version.order_type,
            price=version.price,
            stop_price=version.stop_price,
            trail=version.trail,
            group=order.oco_id or order.parent_id,
        )

    @property
    def group_key(self) -> int:
        """Return the id that groups this order with the orders that leave with it."""
        return self.group if self.group is not None else self.order_id


@dataclass(frozen=True, slots=True)
class Book:
    """Hold what the broker shows for one account on one contract, right now.

    ``net_pos`` is signed (short is negative); ``working`` lists the open orders only;
    ``last_price`` is the latest traded or quoted price, used to place distance brackets when
    the alert carries no price.
    """

    net_pos: int = 0
    working: tuple[WorkingOrder, ...] = ()
    last_price: Decimal | None = None

    def __post_init__(self) -> None:
        ids = [order.order_id for order in self.working]
        if len(set(ids)) != len(ids):
            raise ValueError("a working order is listed twice")
        if self.last_price is not None and (
            not self.last_price.is_finite() or self.last_price <= 0
        ):
            raise ValueError("last_price must be a positive price")

    @classmethod
    def from_broker(
        cls,
        position: Position | None,
        working: Iterable[WorkingOrder] = (),
        last_price: Decimal | None = None,
    ) -> Book:
        """Build a book from the broker's position (None when never traded)."""
        return cls(0 if position is None else position.net_pos, tuple(working), last_price)

    @property
    def exits(self) -> tuple[WorkingOrder, ...]:
        """Return the working orders on the closing side of the position (its brackets)."""
        if self.net_pos == 0:
            return ()
        closing = Side.SELL if self.net_pos > 0 else Side.BUY
        return tuple(order for order in self.working if order.side is closing)


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one working order."""

    leg: str
    order_id: int
    cl_ord_id: str


@dataclass(frozen=True, slots=True)
class ModifyOrder:
    """Change a working order (here: shrink an exit to the smaller position)."""

    leg: str
    request: ModifyOrderRequest


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Place one order without attached exits (``order/placeorder``)."""

    leg: str
    request: OrderRequest


@dataclass(frozen=True, slots=True)
class PlaceBracketOrder:
    """Place an entry with its take profit and/or stop, OCO-linked (``order/placeoso``)."""

    leg: str
    request: BracketOrderRequest


Command: TypeAlias = CancelOrder | ModifyOrder | PlaceOrder | PlaceBracketOrder


@dataclass(frozen=True, slots=True)
class MoveStopToBreakeven:
    """Tell the worker to move a stop to the entry's fill price once price has moved in favour.

    Distances are in price units from the fill of ``entry_leg`` and on tick; ``trigger_price``
    replaces ``trigger_distance`` when the alert named an absolute level. ``stop_leg`` is the
    stop to move, or None when the entry carries none (the worker then places one).
    """

    entry_leg: str
    stop_leg: str | None
    side: Side
    offset: Decimal
    trigger_distance: Decimal | None = None
    trigger_price: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.trigger_distance is None) == (self.trigger_price is None):
            raise ValueError("give a trigger distance or a trigger price")


@dataclass(frozen=True, slots=True)
class TrailStop:
    """Tell the worker to trail a stop ``distance`` behind the best price after a trigger.

    Tradovate's trailing stop starts trailing at once, so a trigger or a step is the worker's
    job; distances are in price units from the fill of ``entry_leg`` and on tick.
    """

    entry_leg: str
    stop_leg: str | None
    side: Side
    distance: Decimal
    trigger_distance: Decimal | None = None
    step: Decimal | None = None


Instruction: TypeAlias = MoveStopToBreakeven | TrailStop


@dataclass(frozen=True, slots=True)
class ProtectAfterFill:
    """Place a market entry's exits once its fill is known, measured from the fill price.

    A bracket given as distances needs a price to measure from; when the alert sends none and
    no fresh quote exists (or the strategy pins the anchor to the fill), the entry goes out
    alone and the executor places ``bracket`` (the alert's leg, distances unresolved) around
    the entry's average fill, OCO-linked, for the quantity that filled. Its exits are
    ``<entry_leg>.tp`` and ``<entry_leg>.sl`` as in an OSO bracket.
    """

    entry_leg: str
    side: Side
    bracket: BracketLeg


@dataclass(frozen=True, slots=True)
class Plan:
    """Order the commands for one signal on one account; send them in this order.

    ``position_after`` is the position once every placed order fills (exits resting in
    brackets excluded). ``withheld`` is set when a risk gate or a safety rail refused the opening
    part of a reversal and only the closing part remains; ``note`` says in words what the plan
    does.
    """

    commands: tuple[Command, ...]
    position_before: int
    position_after: int
    instructions: tuple[Instruction, ...] = ()
    withheld: Denial | None = None
    note: str = ""
    deferred: tuple[ProtectAfterFill, ...] = ()

    def __post_init__(self) -> None:
        legs = [command.leg for command in self.commands]
        if len(set(legs)) != len(legs):
            raise ValueError("every command in a plan has its own leg id")

    @property
    def legs(self) -> tuple[str, ...]:
        """Return the leg ids in sending order."""
        return tuple(command.leg for command in self.commands)

    @property
    def placements(self) -> tuple[PlaceOrder | PlaceBracketOrder, ...]:
        """Return the commands that place new orders."""
        return tuple(c for c in self.commands if isinstance(c, PlaceOrder | PlaceBracketOrder))
