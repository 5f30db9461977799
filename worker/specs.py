"""Find a contract's tick size and value per point, for open P&L and stop prices.

First the contract map the timers keep in Redis (``contracts:{ROOT}``, no broker call),
then Tradovate REST (contract → maturity → product). Answers are cached for the life of
the process: a contract's terms do not change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import redis_keys as keys
from shared.domain.broker import Contract, ContractSpec
from shared.domain.errors import BridgeError, InvalidSignal
from shared.domain.symbols import parse_symbol

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ContractTerms:
    """Hold what the worker needs to know about one contract."""

    contract_id: int
    name: str
    tick_size: Decimal
    value_per_point: Decimal


class ContractLookup(Protocol):
    """The REST calls the resolver falls back on (``TradovateRest`` fits)."""

    async def contract(self, contract_id: int) -> Contract:
        """Fetch a contract by id."""
        ...

    async def contract_spec(self, name: str) -> ContractSpec:
        """Join a contract's maturity and product."""
        ...


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number > 0 else None


def terms_from_map(
    document: Mapping[str, Any], contract_id: int, name: str
) -> ContractTerms | None:
    """Read tick size and value per point from a contract map, if it carries them."""
    spec = document.get("spec")
    if not isinstance(spec, dict):
        return None
    nested = spec.get("product")
    product: Mapping[str, Any] = nested if isinstance(nested, dict) else spec
    tick = _decimal(product.get("tick_size"))
    vpp = _decimal(product.get("value_per_point"))
    if tick is None or vpp is None:
        return None
    return ContractTerms(contract_id, name, tick, vpp)


class ContractTermsResolver:
    """Resolve and cache contract terms by id."""

    def __init__(self, redis: Redis, rest: ContractLookup) -> None:
        self._redis = redis
        self._rest = rest
        self._known: dict[int, ContractTerms] = {}

    def cached(self, contract_id: int) -> ContractTerms | None:
        """Return terms already resolved, without I/O."""
        return self._known.get(contract_id)

    @property
    def values_per_point(self) -> dict[int, Decimal]:
        """Return the value per point of every resolved contract."""
        return {cid: terms.value_per_point for cid, terms in self._known.items()}

    async def resolve(self, contract_id: int, name: str | None) -> ContractTerms | None:
        """Return the contract's terms, or None when neither source can tell (logged)."""
        known = self._known.get(contract_id)
        if known is not None:
            return known
        try:
            if name is None:
                name = (await self._rest.contract(contract_id)).name
            terms = await self._from_map(contract_id, name) or await self._from_rest(
                contract_id, name
            )
        except BridgeError as exc:
            logger.warning(
                "contract terms unavailable",
                extra={"contract_id": contract_id, "error": exc.message},
            )
            return None
        self._known[contract_id] = terms
        return terms

    async def _from_map(self, contract_id: int, name: str) -> ContractTerms | None:
        try:
            root = parse_symbol(name).root
            raw = await self._redis.get(keys.contract_map(root))
        except (InvalidSignal, RedisError, OSError):
            return None
        if raw is None:
            return None
        try:
            document = json.loads(raw)
        except ValueError:
            return None
        return terms_from_map(document, contract_id, name) if isinstance(document, dict) else None

    async def _from_rest(self, contract_id: int, name: str) -> ContractTerms:
        spec = await self._rest.contract_spec(name)
        return ContractTerms(contract_id, name, spec.tick_size, spec.value_per_point)
