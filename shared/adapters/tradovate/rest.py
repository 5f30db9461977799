"""Call Tradovate's REST API in domain terms: reference data, account state and orders.

Every method returns domain types from ``shared.domain.broker`` and raises only the error
hierarchy (``BrokerRejected``, ``TransientBrokerError``, ``AuthError`` and their
subclasses). A 401 is answered once by asking the token source for a different token.

Order placement is never repeated blindly: it always carries the caller's deterministic
``cl_ord_id``, and after an ambiguous failure (timeout, 5xx, dropped connection) the order
is looked up by that id before it is sent again (STYLE §4; alpaca-py's 504 lesson). After
a timeout the lookup waits ``settle_s`` first, because the request may still land; a broker
slower than that can still produce a duplicate, which no documented Tradovate feature
(such as clOrdId de-duplication) rules out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from shared.adapters.tradovate import encode, parse
from shared.adapters.tradovate import schemas as w
from shared.adapters.tradovate.backoff import Backoff
from shared.adapters.tradovate.errors import (
    BrokerNotFound,
    OrderOutcomeUnknown,
    PenaltyTooLong,
    RateLimited,
    TokenRejected,
)
from shared.adapters.tradovate.token import TokenSource
from shared.adapters.tradovate.transport import TradovateHttp
from shared.domain.broker import (
    Account,
    BracketOrderRequest,
    CashBalanceSnapshot,
    CommandAck,
    Contract,
    ContractMaturity,
    ContractSpec,
    Fill,
    ModifyOrderRequest,
    OcoOrderRequest,
    Order,
    OrderAck,
    OrderCommand,
    OrderRequest,
    OrderState,
    OrderVersion,
    Position,
    Product,
)
from shared.domain.errors import TransientBrokerError

logger = logging.getLogger(__name__)

_R = TypeVar("_R", bound=w.BrokerPlaceOrderResult)
Params = Mapping[str, str | int]
# Failures after the request left us: the broker may process it after we gave up waiting.
_IN_FLIGHT = frozenset({"broker_timeout", "broker_transport_error"})


class TradovateRest:
    """Offer the REST operations the executor, timers and worker need."""

    def __init__(
        self,
        http: TradovateHttp,
        tokens: TokenSource,
        *,
        place_attempts: int = 3,
        lookup_window: int = 100,
        backoff: Backoff | None = None,
        settle_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        peg_style: encode.PegStyle = encode.PegStyle.SIGNED,
    ) -> None:
        if place_attempts < 1:
            raise ValueError("place_attempts must be at least 1")
        self._http = http
        self._tokens = tokens
        self._place_attempts = place_attempts
        self._lookup_window = lookup_window
        self._backoff = backoff or Backoff(base_s=0.2, cap_s=2.0)
        self._settle_s = settle_s
        self._sleep = sleep
        self._peg = peg_style

    async def _call(
        self,
        endpoint: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Params | None = None,
        idempotent: bool = True,
    ) -> Any:
        token = await self._tokens.current()
        try:
            return await self._http.call(
                endpoint, token=token.access_token, body=body, params=params, idempotent=idempotent
            )
        except TokenRejected:
            # A refused token means the request was not processed, so one resend is safe.
            token = await self._tokens.token_rejected(token.access_token)
            return await self._http.call(
                endpoint, token=token.access_token, body=body, params=params, idempotent=idempotent
            )

    async def _one(self, model: type[BaseModel], endpoint: str, params: Params) -> Any:
        data = await self._call(endpoint, params=params)
        if data is None:
            # Some lookups answer 200 with an empty body for "no such entity".
            raise BrokerNotFound(f"Tradovate {endpoint} found nothing for {dict(params)}")
        return parse.validate(model, data)

    async def _many(self, model: type[BaseModel], endpoint: str, params: Params | None) -> Any:
        return parse.validate_list(model, await self._call(endpoint, params=params) or [])

    # --- reference data --------------------------------------------------------------------

    async def accounts(self) -> tuple[Account, ...]:
        """List the user's accounts."""
        return tuple(
            parse.account(m) for m in await self._many(w.BrokerAccount, "account/list", None)
        )

    async def find_product(self, name: str) -> Product:
        """Find a product by root name, e.g. ``NQ``."""
        return parse.product(await self._one(w.BrokerProduct, "product/find", {"name": name}))

    async def product(self, product_id: int) -> Product:
        """Fetch a product by id."""
        return parse.product(await self._one(w.BrokerProduct, "product/item", {"id": product_id}))

    async def find_contract(self, name: str) -> Contract:
        """Find a contract by name, e.g. ``NQZ4``; raise ``BrokerNotFound`` if unknown."""
        return parse.contract(await self._one(w.BrokerContract, "contract/find", {"name": name}))

    async def contract(self, contract_id: int) -> Contract:
        """Fetch a contract by id."""
        return parse.contract(
            await self._one(w.BrokerContract, "contract/item", {"id": contract_id})
        )

    async def suggest_contracts(self, text: str, limit: int = 10) -> tuple[Contract, ...]:
        """Suggest contracts matching ``text`` (params ``t`` and ``l``, not ``name``: §6 item 1)."""
        models = await self._many(w.BrokerContract, "contract/suggest", {"t": text, "l": limit})
        return tuple(parse.contract(m) for m in models)

    async def roll_contract(
        self, name: str, *, forward: bool = True, if_expired: bool = True
    ) -> Contract:
        """Ask Tradovate for the best upcoming maturity for ``name``."""
        body = w.BrokerRollContractRequest(name=name, forward=forward, ifExpired=if_expired)
        data = await self._call("contract/rollcontract", body=body.wire())
        answer = parse.validate(w.BrokerRollContractResponse, data)
        if answer.contract is None:
            raise BrokerNotFound(f"Tradovate has no contract to roll {name} to")
        return parse.contract(answer.contract)

    async def contract_maturity(self, maturity_id: int) -> ContractMaturity:
        """Fetch one maturity by id."""
        model = await self._one(
            w.BrokerContractMaturity, "contractMaturity/item", {"id": maturity_id}
        )
        return parse.maturity(model)

    async def product_maturities(self, product_id: int) -> tuple[ContractMaturity, ...]:
        """List every maturity of a product (the expiration dates live only here, §5.2)."""
        models = await self._many(
            w.BrokerContractMaturity, "contractMaturity/deps", {"masterid": product_id}
        )
        return tuple(parse.maturity(m) for m in models)

    async def contract_spec(self, name: str) -> ContractSpec:
        """Join contract → maturity → product for ``name`` (three calls; cache the result)."""
        contract = await self.find_contract(name)
        if contract.contract_maturity_id is None:
            raise BrokerNotFound(f"Tradovate contract {name} has no maturity")
        maturity = await self.contract_maturity(contract.contract_maturity_id)
        product = await self.product(maturity.product_id)
        return ContractSpec(contract=contract, product=product, maturity=maturity)

    # --- account state -------------------------------------------------------------------------

    async def positions(self, account_id: int | None = None) -> tuple[Position, ...]:
        """List positions of one account (``deps``) or of every account (``list``)."""
        endpoint, params = _list_or_deps("position", account_id)
        return tuple(
            parse.position(m) for m in await self._many(w.BrokerPosition, endpoint, params)
        )

    async def orders(self, account_id: int | None = None) -> tuple[Order, ...]:
        """List orders of one account or of every account."""
        endpoint, params = _list_or_deps("order", account_id)
        return tuple(parse.order(m) for m in await self._many(w.BrokerOrder, endpoint, params))

    async def order_versions(self, order_id: int) -> tuple[OrderVersion, ...]:
        """List the versions (terms) of one order."""
        models = await self._many(w.BrokerOrderVersion, "orderVersion/deps", {"masterid": order_id})
        return tuple(parse.order_version(m) for m in models)

    async def order_state(self, order_id: int) -> OrderState:
        """Read one order's status (``order/item``) and filled quantity (``fill/deps``).

        The status alone cannot tell a clean cancel from a cancel after a partial fill (both
        are ``Canceled``, reference §3.2), so the order's fills are read too. An id Tradovate
        does not know comes back with status None.
        """
        try:
            model = await self._one(w.BrokerOrder, "order/item", {"id": order_id})
        except BrokerNotFound:
            return OrderState(order_id=order_id, status=None)
        order = parse.order(model)
        fills = [fill for fill in await self.fills(order_id) if fill.active]
        filled = sum(fill.qty for fill in fills)
        average = sum((f.price * f.qty for f in fills), Decimal(0)) / filled if filled else None
        return OrderState(
            order_id=order.id, status=order.status, filled_qty=filled, average_price=average
        )

    async def commands(self, order_ids: Sequence[int]) -> tuple[OrderCommand, ...]:
        """List the commands (with their ``clOrdId``) of several orders in one call."""
        if not order_ids:
            return ()
        params = {"masterids": ",".join(str(i) for i in order_ids)}
        models = await self._many(w.BrokerCommand, "command/ldeps", params)
        return tuple(parse.command(m) for m in models)

    async def fills(self, order_id: int | None = None) -> tuple[Fill, ...]:
        """List fills of one order (``deps``) or all fills (``list``)."""
        endpoint, params = _list_or_deps("fill", order_id)
        return tuple(parse.fill(m) for m in await self._many(w.BrokerFill, endpoint, params))

    async def cash_balance_snapshot(self, account_id: int) -> CashBalanceSnapshot:
        """Read an account's balance with realized and open P&L."""
        body = w.BrokerCashBalanceSnapshotRequest(accountId=account_id).wire()
        data = await self._call("cashBalance/getcashbalancesnapshot", body=body)
        model = parse.validate(w.BrokerCashBalanceSnapshot, data)
        return parse.cash_balance_snapshot(account_id, model)

    async def find_order_by_cl_ord_id(self, account_id: int, cl_ord_id: str) -> Order | None:
        """Return the account's order placed with ``cl_ord_id``, or None."""
        found, _ = await self._find(account_id, cl_ord_id)
        return found

    async def orders_by_cl_ord_id(self, account_id: int) -> dict[str, Order]:
        """Return the account's orders keyed by the ``clOrdId`` they were placed with.

        Every order counts when this server labels orders directly; when the id lives only on
        the order's commands (spec §3.2), the newest ``lookup_window`` orders are read.
        """
        labelled, _ = await self._labelled(account_id)
        return labelled

    async def _find(
        self, account_id: int, cl_ord_id: str
    ) -> tuple[Order | None, tuple[Order, ...]]:
        labelled, orders = await self._labelled(account_id)
        return labelled.get(cl_ord_id), orders

    async def _labelled(self, account_id: int) -> tuple[dict[str, Order], tuple[Order, ...]]:
        orders = await self.orders(account_id)
        if any(o.cl_ord_id is not None for o in orders):
            # This server echoes clOrdId on orders, so an absent id is final; of two orders
            # with one id, the newer wins.
            oldest_first = sorted(orders, key=lambda o: o.id)
            return {o.cl_ord_id: o for o in oldest_first if o.cl_ord_id is not None}, orders
        recent = sorted((o.id for o in orders), reverse=True)[: self._lookup_window]
        by_id = {o.id: o for o in orders}
        labelled: dict[str, Order] = {}
        for command in await self.commands(recent):
            if command.cl_ord_id and command.order_id in by_id:
                labelled.setdefault(command.cl_ord_id, by_id[command.order_id])
        return labelled, orders

    # --- orders -------------------------------------------------------------------------------

    async def place_order(self, req: OrderRequest, *, lookup_first: bool = False) -> OrderAck:
        """Place one order; with ``lookup_first`` return the existing one if already placed."""
        return await self._place(
            "order/placeorder",
            encode.place_order(req, self._peg),
            req.account_id,
            req.cl_ord_id,
            w.BrokerPlaceOrderResult,
            lookup_first=lookup_first,
        )

    async def place_bracket(
        self, req: BracketOrderRequest, *, lookup_first: bool = False
    ) -> OrderAck:
        """Place an entry with native OSO brackets (``order/placeoso``)."""
        return await self._place(
            "order/placeoso",
            encode.place_oso(req, self._peg),
            req.entry.account_id,
            req.entry.cl_ord_id,
            w.BrokerPlaceOsoResult,
            lookup_first=lookup_first,
        )

    async def place_oco(self, req: OcoOrderRequest, *, lookup_first: bool = False) -> OrderAck:
        """Place two orders that cancel each other (``order/placeoco``)."""
        return await self._place(
            "order/placeoco",
            encode.place_oco(req, self._peg),
            req.order.account_id,
            req.order.cl_ord_id,
            w.BrokerPlaceOcoResult,
            lookup_first=lookup_first,
        )

    async def modify_order(self, req: ModifyOrderRequest) -> CommandAck:
        """Modify a working order (not repeated after an ambiguous failure).

        A trailing offset is signed by the order's side, which the request does not carry, so
        such a modify reads the order first (one extra call, on a rare path).
        """
        side = None
        if req.trail is not None and self._peg is not encode.PegStyle.UNSIGNED:
            side = parse.order(
                await self._one(w.BrokerOrder, "order/item", {"id": req.order_id})
            ).side
        body = encode.modify_order(req, side, self._peg)
        data = await self._call("order/modifyorder", body=body, idempotent=False)
        return parse.command_ack(parse.validate(w.BrokerCommandResult, data))

    async def cancel_order(self, order_id: int, *, cl_ord_id: str | None = None) -> CommandAck:
        """Cancel a working order."""
        body = encode.cancel_order(order_id, cl_ord_id)
        data = await self._call("order/cancelorder", body=body, idempotent=False)
        return parse.command_ack(parse.validate(w.BrokerCommandResult, data))

    async def liquidate_position(self, account_id: int, contract_id: int) -> int | None:
        """Cancel working orders on a contract and flatten it; return the flattening order id."""
        body = encode.liquidate_position(account_id, contract_id)
        data = await self._call("order/liquidateposition", body=body, idempotent=False)
        return parse.validate(w.BrokerPlaceOrderResult, data).orderId

    async def _place(
        self,
        endpoint: str,
        body: dict[str, Any],
        account_id: int,
        cl_ord_id: str,
        result: type[_R],
        *,
        lookup_first: bool,
    ) -> OrderAck:
        if lookup_first:
            ack = await self._recover(account_id, cl_ord_id)
            if ack is not None:
                return ack
        for attempt in range(self._place_attempts):
            try:
                data = await self._call(endpoint, body=body, idempotent=False)
            except (RateLimited, PenaltyTooLong):
                raise  # the broker did not process it; the caller retries later
            except TransientBrokerError as exc:
                logger.warning(
                    "tradovate placement outcome unknown; looking it up",
                    extra={"endpoint": endpoint, "code": exc.code, "cl_ord_id": cl_ord_id},
                )
                await self._sleep(self._pause_before_lookup(exc, attempt))
                ack = await self._recover(account_id, cl_ord_id)
                if ack is not None:
                    return ack
                continue
            return parse.order_ack(parse.validate(result, data), cl_ord_id)
        raise OrderOutcomeUnknown(
            f"Tradovate {endpoint} failed {self._place_attempts} time(s) and no order carries "
            f"clOrdId {cl_ord_id}",
            cl_ord_id=cl_ord_id,
        )

    def _pause_before_lookup(self, exc: TransientBrokerError, attempt: int) -> float:
        delay = self._backoff.delay(attempt)
        if exc.code in _IN_FLIGHT:
            # The request may still be in flight at the broker: give it time to land before
            # concluding from an empty lookup that it never arrived.
            delay = max(delay, self._settle_s)
        return delay

    async def _recover(self, account_id: int, cl_ord_id: str) -> OrderAck | None:
        try:
            found, orders = await self._find(account_id, cl_ord_id)
        except TransientBrokerError as exc:
            raise OrderOutcomeUnknown(
                f"cannot look up clOrdId {cl_ord_id}: {exc.message}", cl_ord_id=cl_ord_id
            ) from exc
        if found is None:
            return None
        children = tuple(sorted(o.id for o in orders if o.parent_id == found.id))
        return OrderAck(
            order_id=found.id,
            cl_ord_id=cl_ord_id,
            bracket_order_ids=children,
            oco_id=found.oco_id,
            recovered=True,
        )


def _list_or_deps(entity: str, master_id: int | None) -> tuple[str, Params | None]:
    if master_id is None:
        return f"{entity}/list", None
    return f"{entity}/deps", {"masterid": master_id}
