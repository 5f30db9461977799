"""The contract library: products, maturities and contracts, generated around today's date.

Tick sizes, point values and month cycles follow reference §5.3. Ids are a pure function of the
product and the contract month, so they stay the same across resets and restarts. ``isFront``
and ``archived`` are computed from the simulated clock at read time: like Tradovate's, the front
flag flips only when the front contract expires (reference §5.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from local.tradovate_sim.clock import iso_minutes
from local.tradovate_sim.expiry import expiration, first_intent, last_trade, month_code

EXCHANGES = {"CME": 1, "CBOT": 2, "NYMEX": 3, "COMEX": 4}


@dataclass(frozen=True)
class ProductSpec:
    """Static facts about one futures product."""

    id: int
    name: str
    description: str
    exchange: str
    tick_size: Decimal
    value_per_point: Decimal
    months: str
    rule: str
    listed: int
    is_micro: bool
    initial_margin: Decimal

    @property
    def price_format(self) -> int:
        """Tradovate's ``priceFormat``: minus the number of decimals of the tick."""
        exponent = self.tick_size.normalize().as_tuple().exponent
        return int(exponent) if isinstance(exponent, int) else 0

    def wire(self) -> dict[str, Any]:
        """Return the ``Product`` entity as Tradovate sends it."""
        return {
            "id": self.id,
            "name": self.name,
            "currencyId": 1,
            "productType": "Futures",
            "description": self.description,
            "exchangeId": EXCHANGES[self.exchange],
            "exchangeChannelId": EXCHANGES[self.exchange],
            "contractGroupId": EXCHANGES[self.exchange],
            "riskDiscountContractGroupId": EXCHANGES[self.exchange],
            "status": "Verified",
            "months": self.months,
            "isSecured": False,
            "valuePerPoint": self.value_per_point,
            "priceFormatType": "Decimal",
            "priceFormat": self.price_format,
            "tickSize": self.tick_size,
            "allowProviderContractInfo": True,
            "isMicro": self.is_micro,
            "marketDataSource": self.exchange,
            "lookupWeight": 0 if self.is_micro else 10,
            "hasReplay": True,
        }


# id name exchange tick valuePerPoint months rule listed micro initialMargin description
_TABLE = """
1  ES  CME   0.25 50   HMUZ         equity_index 5  no  22000 E-Mini S&P 500
2  MES CME   0.25 5    HMUZ         equity_index 5  yes 2200  Micro E-Mini S&P 500
3  NQ  CME   0.25 20   HMUZ         equity_index 5  no  31000 E-Mini NASDAQ 100
4  MNQ CME   0.25 2    HMUZ         equity_index 5  yes 3100  Micro E-Mini NASDAQ 100
5  RTY CME   0.10 50   HMUZ         equity_index 5  no  9000  E-Mini Russell 2000
6  M2K CME   0.10 5    HMUZ         equity_index 5  yes 900   Micro E-Mini Russell 2000
7  YM  CBOT  1    5    HMUZ         equity_index 5  no  14000 E-Mini Dow Jones
8  MYM CBOT  1    0.50 HMUZ         equity_index 5  yes 1400  Micro E-Mini Dow Jones
9  CL  NYMEX 0.01 1000 FGHJKMNQUVXZ crude        12 no  6000  Crude Oil
10 MCL NYMEX 0.01 100  FGHJKMNQUVXZ micro_crude  6  yes 600   Micro WTI Crude Oil
11 GC  COMEX 0.10 100  GJMQVZ       metals       6  no  11000 Gold
12 MGC COMEX 0.10 10   GJMQVZ       metals       6  yes 1100  Micro Gold
"""


def _parse_table(table: str) -> tuple[ProductSpec, ...]:
    specs = []
    for line in table.strip().splitlines():
        pid, name, exch, tick, vpp, months, rule, listed, micro, margin, desc = line.split(
            maxsplit=10
        )
        specs.append(
            ProductSpec(
                id=int(pid),
                name=name,
                description=desc,
                exchange=exch,
                tick_size=Decimal(tick),
                value_per_point=Decimal(vpp),
                months=months,
                rule=rule,
                listed=int(listed),
                is_micro=micro == "yes",
                initial_margin=Decimal(margin),
            )
        )
    return tuple(specs)


PRODUCTS = _parse_table(_TABLE)


@dataclass(frozen=True)
class Maturity:
    """One contract month of one product (Tradovate's ``ContractMaturity``).

    ``expires`` is Tradovate's ``expirationDate``; ``last_trade`` is when the exchange stops
    trading the contract, which for equity index is hours earlier the same day (expiry.py).
    """

    id: int
    product: ProductSpec
    year: int
    month: int
    expires: datetime
    first_intent: datetime | None
    seq_no: int
    last_trade: datetime

    def wire(self, is_front: bool, now: datetime) -> dict[str, Any]:
        """Return the ``ContractMaturity`` entity as Tradovate sends it."""
        data: dict[str, Any] = {
            "id": self.id,
            "productId": self.product.id,
            "expirationMonth": self.year * 100 + self.month,
            "expirationDate": iso_minutes(self.expires),
            "isFront": is_front,
            "archived": self.expires <= now,
            "seqNo": self.seq_no,
        }
        if self.first_intent is not None:
            data["firstIntentDate"] = iso_minutes(self.first_intent)
        return data


@dataclass(frozen=True)
class Contract:
    """One tradable contract (Tradovate's ``Contract``)."""

    id: int
    name: str
    maturity: Maturity

    @property
    def product(self) -> ProductSpec:
        """The contract's product."""
        return self.maturity.product

    def wire(self) -> dict[str, Any]:
        """Return the ``Contract`` entity as Tradovate sends it."""
        return {
            "id": self.id,
            "name": self.name,
            "contractMaturityId": self.maturity.id,
            "status": "DefinitionChecked",
            "providerTickSize": self.product.tick_size,
        }


def _month_key(year: int, month: int) -> int:
    return (year - 2000) * 100 + month


class ContractLibrary:
    """All products with the last expired and the next listed maturities around ``now``."""

    def __init__(self, now: datetime, products: tuple[ProductSpec, ...] = PRODUCTS) -> None:
        self.products = products
        self.maturities: dict[int, Maturity] = {}
        self.contracts: dict[int, Contract] = {}
        self._by_name: dict[str, Contract] = {}
        self._by_maturity: dict[int, Contract] = {}
        for product in products:
            for seq, maturity in enumerate(self._generate(product, now), start=1):
                self._add(maturity, seq)

    def _generate(self, product: ProductSpec, now: datetime) -> list[Maturity]:
        expired: Maturity | None = None
        upcoming: list[Maturity] = []
        year, month = now.year - 1, now.month
        while len(upcoming) < product.listed:
            if month_code(month) in product.months:
                maturity = Maturity(
                    id=2_000_000 + product.id * 10_000 + _month_key(year, month),
                    product=product,
                    year=year,
                    month=month,
                    expires=expiration(product.rule, year, month),
                    first_intent=first_intent(product.rule, year, month),
                    seq_no=0,
                    last_trade=last_trade(product.rule, year, month),
                )
                if maturity.expires <= now:
                    expired = maturity
                else:
                    upcoming.append(maturity)
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
        return ([expired] if expired else []) + upcoming

    def _add(self, maturity: Maturity, seq: int) -> None:
        maturity = Maturity(**{**maturity.__dict__, "seq_no": seq})
        self.maturities[maturity.id] = maturity
        product = maturity.product
        name = f"{product.name}{month_code(maturity.month)}{maturity.year % 10}"
        contract = Contract(maturity.id + 1_000_000, name, maturity)
        self.contracts[contract.id] = contract
        self._by_name[name] = contract
        self._by_maturity[maturity.id] = contract

    def product(self, name: str) -> ProductSpec | None:
        """Find a product by exact name (``NQ``)."""
        return next((p for p in self.products if p.name == name), None)

    def product_by_id(self, product_id: int) -> ProductSpec | None:
        """Find a product by id."""
        return next((p for p in self.products if p.id == product_id), None)

    def contract(self, name: str) -> Contract | None:
        """Find a contract by exact name (``NQZ6``)."""
        return self._by_name.get(name)

    def contract_for_maturity(self, maturity_id: int) -> Contract | None:
        """Return the contract of a maturity."""
        return self._by_maturity.get(maturity_id)

    def product_contracts(self, product: ProductSpec) -> list[Contract]:
        """Return a product's contracts in expiry order."""
        found = [c for c in self.contracts.values() if c.product.id == product.id]
        return sorted(found, key=lambda c: c.maturity.expires)

    def is_expired(self, contract: Contract, now: datetime) -> bool:
        """Say whether the contract is past Tradovate's ``expirationDate``."""
        return contract.maturity.expires <= now

    def has_stopped_trading(self, contract: Contract, now: datetime) -> bool:
        """Say whether the exchange has stopped trading the contract (orders are refused)."""
        return contract.maturity.last_trade <= now

    def front(self, product: ProductSpec, now: datetime) -> Contract | None:
        """Return the nearest unexpired contract of a product."""
        live = [c for c in self.product_contracts(product) if not self.is_expired(c, now)]
        return live[0] if live else None

    def maturity_wire(self, maturity: Maturity, now: datetime) -> dict[str, Any]:
        """Return a maturity entity with ``isFront`` as of ``now``."""
        front = self.front(maturity.product, now)
        return maturity.wire(front is not None and front.maturity.id == maturity.id, now)

    def suggest(self, text: str, limit: int, now: datetime) -> list[Contract]:
        """Free-text match on contract names, like Tradovate's ``contract/suggest``.

        ``t=ES`` also matches ``MES`` contracts (the reference warns clients to filter by exact
        root); names that start with the text come first, then expiry order.
        """
        needle = text.strip().upper()
        if not needle:
            return []
        hits = [
            c for c in self.contracts.values() if needle in c.name and not self.is_expired(c, now)
        ]
        hits.sort(key=lambda c: (not c.name.startswith(needle), c.product.id, c.maturity.expires))
        return hits[: max(limit, 0)]

    def roll(self, contract: Contract, forward: bool, if_expired: bool, now: datetime) -> Contract:
        """Return the "best upcoming maturity" for ``rollcontract`` (rule UNCONFIRMED).

        With ``ifExpired`` a live contract is returned unchanged; otherwise ``forward`` moves to
        the next listed month and ``forward: false`` to the previous one.
        """
        if if_expired and not self.is_expired(contract, now):
            return contract
        chain = self.product_contracts(contract.product)
        index = chain.index(contract)
        if forward:
            later = [c for c in chain[index + 1 :] if not self.is_expired(c, now)]
            return later[0] if later else contract
        return chain[index - 1] if index > 0 else contract
