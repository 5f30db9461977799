"""Contract terms: from the Redis contract map when it has them, else REST, cached."""

from __future__ import annotations

import json
from decimal import Decimal

from shared.domain.broker import Contract, ContractSpec, Product
from shared.domain.errors import TransientBrokerError
from worker.specs import ContractTerms, ContractTermsResolver, terms_from_map


class FakeRedis:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    async def get(self, key: str) -> str | None:
        return self.values.get(key)


class FakeRest:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail = False

    async def contract(self, contract_id: int) -> Contract:
        self.calls.append("contract")
        return Contract(contract_id, "MNQH6")

    async def contract_spec(self, name: str) -> ContractSpec:
        self.calls.append("spec")
        if self.fail:
            raise TransientBrokerError("down")
        return ContractSpec(Contract(1, name), Product(9, "MNQ", Decimal("0.25"), Decimal(2)))


def test_terms_from_map_reads_flat_or_nested_product_terms() -> None:
    flat = {"spec": {"tick_size": "0.25", "value_per_point": "50"}}
    assert terms_from_map(flat, 1, "ESH6") == ContractTerms(1, "ESH6", Decimal("0.25"), Decimal(50))
    nested = {"spec": {"product": {"tick_size": "0.25", "value_per_point": "2"}}}
    assert terms_from_map(nested, 1, "MNQH6") is not None
    assert terms_from_map({"spec": {"tick_size": "0"}}, 1, "X") is None
    assert terms_from_map({"spec": "nope"}, 1, "X") is None
    assert terms_from_map({"spec": {"tick_size": "abc", "value_per_point": "1"}}, 1, "X") is None


async def test_resolver_prefers_the_contract_map_and_caches() -> None:
    document = {"spec": {"tick_size": "0.25", "value_per_point": "50"}}
    rest = FakeRest()
    resolver = ContractTermsResolver(FakeRedis({"contracts:ES": json.dumps(document)}), rest)  # type: ignore[arg-type]
    terms = await resolver.resolve(1, "ESH6")
    assert terms is not None
    assert terms.value_per_point == 50
    assert await resolver.resolve(1, "ESH6") is terms
    assert rest.calls == []
    assert resolver.values_per_point == {1: Decimal(50)}


async def test_resolver_without_map_asks_rest_and_survives_its_failure() -> None:
    rest = FakeRest()
    resolver = ContractTermsResolver(FakeRedis({"contracts:MNQ": "{"}), rest)  # type: ignore[arg-type]
    rest.fail = True
    assert await resolver.resolve(2, None) is None
    assert resolver.cached(2) is None
    rest.fail = False
    terms = await resolver.resolve(2, None)
    assert terms == ContractTerms(2, "MNQH6", Decimal("0.25"), Decimal(2))
    assert await ContractTermsResolver(FakeRedis({}), rest).resolve(3, "!!") is not None  # type: ignore[arg-type]
