"""Plan the broker commands for one signal on one account: the pure heart of execution.

:func:`plan` reads the signal, the broker's book for the contract, the contract spec, the live
risk state, the strategy policy and the account, and returns a :class:`Plan` (commands to send in
order) or a :class:`Denial` (nothing is sent). It does no I/O and reads no clock: ``risk.now`` is
the time.

Order of commands: cancels (old brackets, working orders), then shrinking of the exits that
remain (a smaller position must not be over-covered: the oldest exit groups shrink first), then
orders that close, then orders that open. The position moves from ``book.net_pos`` to the target
in as few orders as possible:

* a reversal without brackets is **one** order for the whole difference (old orders cancelled
  first); with brackets it is a close order then the bracketed entries, because an OSO bracket
  would cover the whole order's quantity, including the contracts that only closed;
* closing quantity above ``max_order_qty`` goes out as several orders of at most that size;
  opening quantity above it is refused (``max_order_qty``).

Leg ids name roles, not state, so a re-delivered signal derives the same client order ids:
``cancel.<order id>``, ``trim.<order id>`` (an exit shrunk), ``close`` or ``close.<n>``,
``entry`` or ``entry.<n>`` (one per target) and its exits ``<entry leg>.tp`` / ``.sl``.

Risk gates (:mod:`shared.domain.risk`) then see the draft. If they refuse the opening part of a
plan that also closes (a reversal), the plan keeps only the closing part and records the refusal
in ``Plan.withheld``; a plan that only cancels passes every gate.

Last, on every path, the safety rails (:mod:`shared.domain.planning.rails`) bound the plan
whatever its facts say: an exit never adds exposure, no order or signal exceeds a hard size, and
``max_position`` holds in the worst case. A rail refusing only the opening part of a plan that
also closes cuts it to its closing part, as the gates do; the plan returned keeps every rail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial

from shared.domain import broker
from shared.domain.broker import BracketOrderRequest, ContractSpec, ModifyOrderRequest, Side
from shared.domain.planning import rails
from shared.domain.planning.brackets import BracketSetup, plan_entry_legs, sized_legs
from shared.domain.planning.model import (
    Book,
    CancelOrder,
    Command,
    Instruction,
    ModifyOrder,
    PlaceBracketOrder,
    PlaceOrder,
    Plan,
    ProtectAfterFill,
    WorkingOrder,
    client_order_id,
)
from shared.domain.planning.orders import (
    Terms,
    entry_terms,
    exit_terms,
    market_terms,
    order_request,
)
from shared.domain.planning.quantities import chunks
from shared.domain.planning.targets import CancelScope, ClosePricing, Intention, decide
from shared.domain.policy import BracketAnchor, RiskState, StrategyPolicy
from shared.domain.risk import (
    Denial,
    DenialCode,
    OrderFlow,
    RiskContext,
    check_closing,
    check_opening,
)
from shared.domain.signal import BracketLeg, MarketPosition, Signal

__all__ = ["plan"]


@dataclass(frozen=True, slots=True)
class _Inputs:
    signal: Signal
    book: Book
    contract: ContractSpec
    risk: RiskState
    policy: StrategyPolicy
    account: broker.Account
    ids: Callable[[str], str]


@dataclass(frozen=True, slots=True)
class _Draft:
    cancels: tuple[Command, ...]
    closes: tuple[PlaceOrder, ...] = ()
    opens: tuple[PlaceOrder | PlaceBracketOrder, ...] = ()
    instructions: tuple[Instruction, ...] = ()
    closing: int = 0
    opening: int = 0
    cancelled: frozenset[int] = frozenset()
    deferred: tuple[ProtectAfterFill, ...] = ()

    @property
    def placements(self) -> tuple[PlaceOrder | PlaceBracketOrder, ...]:
        return self.closes + self.opens


def plan(
    signal: Signal,
    book: Book,
    contract: ContractSpec,
    risk: RiskState,
    policy: StrategyPolicy,
    account: broker.Account,
    *,
    signal_id: str,
) -> Plan | Denial:
    """Return the commands that take ``account`` where ``signal`` wants it, or a denial.

    ``book`` is the broker's position, working orders and last price for ``contract`` (already
    resolved through the policy's symbol map); ``signal_id`` is the signal's deterministic id,
    from which every command's client order id derives (:func:`client_order_id`).
    """
    inputs = _Inputs(
        signal,
        book,
        contract,
        risk,
        policy,
        account,
        partial(client_order_id, signal_id, account.name),
    )
    try:
        _check_contract(signal, contract, policy)
        _check_required_position(signal, book.net_pos)
        intention = decide(signal, book.net_pos, policy, _multiplier(signal, policy, account))
        return _within_rails(inputs, intention, _gate(inputs, intention, _draft(inputs, intention)))
    except Denial as denial:
        return denial


def _check_contract(signal: Signal, contract: ContractSpec, policy: StrategyPolicy) -> None:
    traded = policy.traded_symbol(signal.symbol)
    named = traded.tradovate_name
    if traded.root != contract.root or (named is not None and named != contract.symbol):
        raise Denial(
            DenialCode.CONTRACT_MISMATCH,
            f"the alert's {signal.symbol} trades as {traded}, not the contract {contract.symbol}",
        )


_POSITIONS = {1: MarketPosition.LONG, -1: MarketPosition.SHORT, 0: MarketPosition.FLAT}


def _check_required_position(signal: Signal, current: int) -> None:
    required = signal.required_positions
    held = _POSITIONS[(current > 0) - (current < 0)]
    if required and held not in required:
        wanted = " or ".join(position.value for position in required)
        raise Denial(
            DenialCode.POSITION_REQUIREMENT_UNMET,
            f"the alert applies when the position is {wanted}, and it is {held.value}",
        )


def _multiplier(signal: Signal, policy: StrategyPolicy, account: broker.Account) -> Decimal:
    # The alert's own multiplier for this account replaces the configured one: it is more specific.
    for selector in signal.accounts:
        names = (account.name, str(account.id))
        if selector.account in names and selector.quantity_multiplier is not None:
            return selector.quantity_multiplier
    return policy.multiplier(account.name)


def _draft(inputs: _Inputs, intention: Intention) -> _Draft:
    book, signal = inputs.book, inputs.signal
    current, target = book.net_pos, intention.target
    cancelled = _to_cancel(book, intention, signal)
    cancels: tuple[Command, ...] = tuple(_cancel(inputs, order) for order in cancelled)
    gone = frozenset(order.order_id for order in cancelled)
    reference = signal.signal_price or book.last_price
    if intention.separate_close and current and target:
        return _flatten_then_enter(inputs, cancels, gone, reference, target)
    delta = target - current
    if delta == 0:
        return _Draft(cancels, cancelled=gone)
    side = Side.BUY if delta > 0 else Side.SELL
    closing = min(abs(delta), abs(current)) if current * delta < 0 else 0
    opening = abs(delta) - closing
    if current * target > 0 and abs(target) < abs(current):
        cancels += _shrink_exits(inputs, abs(target))
    if opening == 0:
        closes = _closes(inputs, side, closing, intention.close_pricing, reference)
        return _Draft(cancels, closes, closing=closing, cancelled=gone)
    if closing and _one_order(inputs, closing + opening):
        terms = entry_terms(
            signal, inputs.policy, inputs.contract, side, inputs.risk.now, reference
        )
        entry = _place(inputs, terms, side, closing + opening, "entry")
        return _Draft(cancels, (), (entry,), (), closing, opening, gone)
    closes = _closes(inputs, side, closing, intention.close_pricing, reference) if closing else ()
    opens, instructions, deferred = _opens(inputs, side, opening)
    return _Draft(cancels, closes, opens, instructions, closing, opening, gone, deferred)


def _flatten_then_enter(
    inputs: _Inputs,
    cancels: tuple[Command, ...],
    gone: frozenset[int],
    reference: Decimal | None,
    target: int,
) -> _Draft:
    current = inputs.book.net_pos
    closing_side = Side.SELL if current > 0 else Side.BUY
    closes = _closes(inputs, closing_side, abs(current), ClosePricing.MARKET, reference)
    side = Side.BUY if target > 0 else Side.SELL
    opens, instructions, deferred = _opens(inputs, side, abs(target))
    return _Draft(cancels, closes, opens, instructions, abs(current), abs(target), gone, deferred)


def _brackets(inputs: _Inputs) -> tuple[BracketLeg, ...]:
    return inputs.signal.brackets or inputs.policy.default_brackets


def _one_order(inputs: _Inputs, qty: int) -> bool:
    largest = inputs.policy.limits.max_order_qty
    return (largest is None or qty <= largest) and not _brackets(inputs)


def _grows(current: int, target: int) -> bool:
    return target != 0 and (current * target <= 0 or abs(target) > abs(current))


def _to_cancel(book: Book, intention: Intention, signal: Signal) -> tuple[WorkingOrder, ...]:
    # cancel_first clears the way for a new entry, or, with a signal that leaves the account
    # flat (TradersPost's exit with cancel: true, "first cancel any open orders ... and then
    # exit"), every order a later fill could open a position from. On a partial exit it would
    # only strip the exits that protect what is left, so there it is not applied.
    cancel_first = signal.cancel_first and (
        _grows(book.net_pos, intention.target) or intention.target == 0
    )
    scope = CancelScope.ALL if cancel_first else intention.cancel
    if scope is CancelScope.ALL:
        return book.working
    exits = book.exits
    if scope is CancelScope.EXITS:
        return exits
    if scope is CancelScope.ENTRIES:
        return tuple(order for order in book.working if order not in exits)
    return ()


def _cancel(inputs: _Inputs, order: WorkingOrder) -> CancelOrder:
    leg = f"cancel.{order.order_id}"
    return CancelOrder(leg, order.order_id, inputs.ids(leg))


def _shrink_exits(inputs: _Inputs, keep: int) -> tuple[Command, ...]:
    # Only a same-side reduce shrinks exits, and such a plan cancels none of them.
    groups: dict[int, list[WorkingOrder]] = {}
    for order in sorted(inputs.book.exits, key=lambda o: o.order_id):
        groups.setdefault(order.group_key, []).append(order)
    excess = sum(max(o.qty for o in members) for members in groups.values()) - keep
    commands: list[Command] = []
    # Oldest groups first: the first target placed is the one a partial exit stands for.
    for members in groups.values():
        if excess <= 0:
            break
        size = max(order.qty for order in members)
        left = max(size - excess, 0)
        excess -= size - left
        commands.extend(_shrink(inputs, order, left) for order in members if order.qty > left)
    return tuple(commands)


def _shrink(inputs: _Inputs, order: WorkingOrder, qty: int) -> Command:
    if qty == 0:
        return _cancel(inputs, order)
    leg = f"trim.{order.order_id}"
    request = ModifyOrderRequest(
        order_id=order.order_id,
        qty=qty,
        order_type=order.order_type,
        price=order.price,
        stop_price=order.stop_price,
        trail=order.trail,
        cl_ord_id=inputs.ids(leg),
    )
    return ModifyOrder(leg, request)


def _close_terms(
    inputs: _Inputs, side: Side, pricing: ClosePricing, reference: Decimal | None
) -> Terms:
    signal, policy, contract, now = inputs.signal, inputs.policy, inputs.contract, inputs.risk.now
    if pricing is ClosePricing.ENTRY:
        return entry_terms(signal, policy, contract, side, now, reference)
    if pricing is ClosePricing.EXIT:
        return exit_terms(signal, policy, contract, side, now, reference)
    return market_terms(signal, policy, now)


def _closes(
    inputs: _Inputs, side: Side, qty: int, pricing: ClosePricing, reference: Decimal | None
) -> tuple[PlaceOrder, ...]:
    terms = _close_terms(inputs, side, pricing, reference)
    sizes = chunks(qty, inputs.policy.limits.max_order_qty)
    names = ["close"] if len(sizes) == 1 else [f"close.{n}" for n in range(1, len(sizes) + 1)]
    pairs = zip(sizes, names, strict=True)
    return tuple(_place(inputs, terms, side, size, name) for size, name in pairs)


def _place(inputs: _Inputs, terms: Terms, side: Side, qty: int, leg: str) -> PlaceOrder:
    return PlaceOrder(leg, _request(inputs, terms, side, qty, leg))


def _request(inputs: _Inputs, terms: Terms, side: Side, qty: int, leg: str) -> broker.OrderRequest:
    return order_request(
        terms,
        account=inputs.account,
        contract=inputs.contract,
        side=side,
        qty=qty,
        cl_ord_id=inputs.ids(leg),
    )


_PRICED = frozenset({broker.OrderType.LIMIT, broker.OrderType.STOP, broker.OrderType.STOP_LIMIT})


def _anchor(inputs: _Inputs) -> Decimal | None:
    """Return the price a market entry's distance brackets measure from (None: the fill)."""
    signal_price, quote = inputs.signal.signal_price, inputs.book.last_price
    anchor = inputs.policy.bracket_anchor
    if anchor is BracketAnchor.ALERT:
        return signal_price
    if anchor is BracketAnchor.QUOTE:
        return quote
    if anchor is BracketAnchor.FILL:
        return None
    return signal_price or quote


def _opens(
    inputs: _Inputs, side: Side, opening: int
) -> tuple[
    tuple[PlaceOrder | PlaceBracketOrder, ...],
    tuple[Instruction, ...],
    tuple[ProtectAfterFill, ...],
]:
    signal, policy = inputs.signal, inputs.policy
    anchor = _anchor(inputs)
    # A default limit entry rests at the alert's price, else at the last price.
    reference = signal.signal_price or inputs.book.last_price
    terms = entry_terms(signal, policy, inputs.contract, side, inputs.risk.now, reference)
    # Brackets measure from where the entry rests; a market or trailing entry from its anchor.
    at = terms.rests_at if terms.order_type in _PRICED else anchor
    tif = broker.TimeInForce(policy.bracket_time_in_force)
    setup = BracketSetup(side, at, inputs.contract, tif, inputs.ids)
    brackets = _brackets(inputs)
    if _after_fill(inputs, terms, brackets, opening, setup):
        sized = sized_legs(brackets, opening)
        alone = tuple(
            PlaceOrder(name, _request(inputs, terms, side, qty, name)) for name, qty, _ in sized
        )
        return alone, (), tuple(ProtectAfterFill(name, side, leg) for name, _, leg in sized)
    legs = plan_entry_legs(brackets, opening, setup)
    orders: list[PlaceOrder | PlaceBracketOrder] = []
    for leg in legs:
        request = _request(inputs, terms, side, leg.qty, leg.leg)
        if leg.exits:
            orders.append(PlaceBracketOrder(leg.leg, BracketOrderRequest(request, leg.exits)))
        else:
            orders.append(PlaceOrder(leg.leg, request))
    return tuple(orders), tuple(i for leg in legs for i in leg.instructions), ()


def _after_fill(
    inputs: _Inputs,
    terms: Terms,
    brackets: tuple[BracketLeg, ...],
    opening: int,
    setup: BracketSetup,
) -> bool:
    """Tell whether a market entry's bracket waits for its fill: the strategy pins the fill,
    or (``auto``) its distances need a price and neither the alert nor a quote gives one."""
    if not brackets or terms.order_type is not broker.OrderType.MARKET:
        return False
    anchor = inputs.policy.bracket_anchor
    if anchor is BracketAnchor.FILL:
        return True
    if anchor is not BracketAnchor.AUTO or setup.reference is not None:
        return False
    try:
        plan_entry_legs(brackets, opening, setup)
    except Denial as denial:
        return denial.reason is DenialCode.NO_REFERENCE_PRICE
    return False


def _entry(command: PlaceOrder | PlaceBracketOrder) -> broker.OrderRequest:
    return command.request if isinstance(command, PlaceOrder) else command.request.entry


def _position_after(current: int, draft: _Draft) -> int:
    requests = (_entry(command) for command in draft.placements)
    return current + sum(request.side.sign * request.qty for request in requests)


def _flow(inputs: _Inputs, draft: _Draft, after: int) -> OrderFlow:
    sizes = [_entry(command).qty for command in draft.placements]
    growing = Side.BUY if after > 0 else Side.SELL
    resting = sum(
        order.qty
        for order in inputs.book.working
        if after != 0 and order.side is growing and order.order_id not in draft.cancelled
    )
    return OrderFlow(
        opens=draft.opening,
        largest_order=max(sizes, default=0),
        position_after=after,
        resting_same_side=resting,
    )


def _context(inputs: _Inputs, draft: _Draft, after: int) -> RiskContext:
    return RiskContext(
        signal=inputs.signal,
        limits=inputs.policy.limits,
        state=inputs.risk,
        account_name=inputs.account.name,
        root=inputs.contract.root,
        flow=_flow(inputs, draft, after),
    )


def _gate(inputs: _Inputs, intention: Intention, draft: _Draft) -> Plan:
    current = inputs.book.net_pos
    withheld = None
    if draft.opening:
        withheld = check_opening(_context(inputs, draft, _position_after(current, draft)))
        if withheld is not None:
            if not draft.closing:
                raise withheld
            # Keep what reduces risk: close the position, open nothing.
            intention = replace(intention, target=0, note=f"{intention.note}: closing only")
            draft = _draft(inputs, intention)
    after = _position_after(current, draft)
    if draft.placements:
        denial = check_closing(_context(inputs, draft, after))
        if denial is not None:
            raise denial
    commands = draft.cancels + draft.placements
    return Plan(
        commands, current, after, draft.instructions, withheld, intention.note, draft.deferred
    )


def _reduces(current: int, intention: Intention) -> bool:
    target = intention.target
    return not intention.separate_close and target * current >= 0 and abs(target) <= abs(current)


def _within_rails(inputs: _Inputs, intention: Intention, drafted: Plan) -> Plan:
    current = inputs.book.net_pos
    # A plan the gates cut to its closing part (withheld) is meant only to reduce, too.
    reduce_only = _reduces(current, intention) or drafted.withheld is not None
    facts = rails.Facts(inputs.book, inputs.signal, inputs.policy, reduce_only)
    refused = rails.check_opening(drafted, facts)
    closes = refused is not None and rails.measure(drafted, inputs.book).closing > 0
    if refused is not None and closes and rails.check_closing(drafted, facts) is None:
        # Keep what reduces risk, as the gates do: close the position, open nothing.
        intention = replace(intention, target=0, note=f"{intention.note}: closing only")
        drafted = replace(_gate(inputs, intention, _draft(inputs, intention)), withheld=refused)
        facts = rails.Facts(inputs.book, inputs.signal, inputs.policy, reduce_only=True)
    # The one check every returned plan has passed, whichever path drafted it.
    denial = rails.check(drafted, facts)
    if denial is not None:
        raise denial
    return drafted
