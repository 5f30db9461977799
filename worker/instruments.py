"""Find the front month of every instrument the bridge trades, so its quotes are kept.

Quotes anchor a market entry's distance brackets (``behaviour.bracket_anchor = "auto"``)
and must exist before the first entry, not only once a position is open. The contract-map
timer keeps a map in Redis for every root the strategies trade (and the executor adds roots
it meets), so the instruments worth quoting are exactly those with a map: each one's front
month by its roll policy (``shared.services.contracts.spec_from``), read again every
``refresh_s`` so a roll moves the subscription to the next contract.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from shared.domain.errors import BridgeError
from shared.domain.symbols import parse_symbol
from shared.services.contracts import spec_from

log = logging.getLogger(__name__)


class ContractMaps(Protocol):
    """Read the contract maps (``RedisTimerStore`` fits)."""

    async def roots(self) -> list[str]:
        """Return the roots that have a map."""
        ...

    async def load(self, root: str) -> Mapping[str, Any] | None:
        """Return one root's map, or None."""
        ...


class ConfiguredInstruments:
    """Answer the front-month contract ids of every root with a contract map."""

    def __init__(self, maps: ContractMaps, now: Callable[[], datetime]) -> None:
        self._maps = maps
        self._now = now

    async def contracts(self) -> frozenset[int]:
        """Return the contract ids to quote; a root whose map cannot say is skipped."""
        found: set[int] = set()
        for root in await self._maps.roots():
            doc = await self._maps.load(root)
            if doc is None:
                continue
            try:
                spec = spec_from(doc, parse_symbol(f"{root}1!"), self._now())
            except (BridgeError, KeyError, TypeError, ValueError) as exc:
                log.info("no front month to quote for %s: %s", root, exc)
                continue
            found.add(spec.contract.id)
        return frozenset(found)
