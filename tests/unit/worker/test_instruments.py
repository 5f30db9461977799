"""The worker quotes every traded instrument's front month, read from the contract maps."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.domain.broker import Contract, ContractMaturity, Product
from shared.domain.rolls import default_policy
from shared.services.contracts import build_map
from worker.instruments import ConfiguredInstruments

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
MNQ = Product(id=7, name="MNQ", tick_size=Decimal("0.25"), value_per_point=Decimal(2))


def _maturity(maturity_id: int, month: int, expires: datetime) -> ContractMaturity:
    return ContractMaturity(maturity_id, MNQ.id, month, expiration_date=expires)


def _map(now: datetime) -> dict[str, Any]:
    december = _maturity(1, 202612, datetime(2026, 12, 18, 14, 30, tzinfo=UTC))
    march = _maturity(2, 202703, datetime(2027, 3, 19, 13, 30, tzinfo=UTC))
    pairs = [(december, Contract(101, "MNQZ6", 1)), (march, Contract(102, "MNQH7", 2))]
    return build_map(MNQ, pairs, default_policy("MNQ"), now)


class Maps:
    def __init__(self, docs: Mapping[str, dict[str, Any] | None]) -> None:
        self.docs = docs

    async def roots(self) -> list[str]:
        return sorted(self.docs)

    async def load(self, root: str) -> dict[str, Any] | None:
        return self.docs[root]


def test_front_month_of_each_mapped_root_and_the_next_one_after_the_roll() -> None:
    maps = Maps({"MNQ": _map(NOW), "ES": None, "BAD": {"spec": {}}})
    assert asyncio.run(ConfiguredInstruments(maps, lambda: NOW).contracts()) == {101}
    after_roll = datetime(2026, 12, 17, 15, 0, tzinfo=UTC)
    later = ConfiguredInstruments(maps, lambda: after_roll)
    assert asyncio.run(later.contracts()) == {102}
