"""Simulated prices: one last price per contract, moved only when told (or by the optional
random walk), with the session statistics a ``md/subscribeQuote`` event carries."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from local.tradovate_sim.contracts import Contract


@dataclass
class Book:
    """Price state of one contract."""

    price: Decimal
    opening: Decimal
    high: Decimal
    low: Decimal
    settlement: Decimal
    volume: int = 0
    open_interest: int = 250_000


class Market:
    """Last prices and quote snapshots for every contract of the library."""

    def __init__(self, contracts: list[Contract], start_prices: dict[str, Decimal]) -> None:
        self.books: dict[int, Book] = {}
        for contract in contracts:
            base = start_prices.get(contract.product.name, Decimal(100))
            price = on_tick(base, contract.product.tick_size)
            self.books[contract.id] = Book(price, price, price, price, price)

    def price(self, contract_id: int) -> Decimal:
        """Return the last price of a contract."""
        return self.books[contract_id].price

    def move(self, contract_id: int, price: Decimal) -> None:
        """Set the last price and update the session high/low."""
        book = self.books[contract_id]
        book.price = price
        book.high = max(book.high, price)
        book.low = min(book.low, price)

    def trade(self, contract_id: int, qty: int) -> None:
        """Count traded volume."""
        self.books[contract_id].volume += qty

    def quote(self, contract: Contract, timestamp: str) -> dict[str, Any]:
        """Return one quote as a ``md`` event carries it (a full snapshot every time)."""
        book = self.books[contract.id]
        tick = contract.product.tick_size
        return {
            "timestamp": timestamp,
            "contractId": contract.id,
            "entries": {
                "Bid": {"price": book.price - tick, "size": 10},
                "Offer": {"price": book.price + tick, "size": 10},
                "Trade": {"price": book.price, "size": 1},
                "TotalTradeVolume": {"size": book.volume},
                "OpenInterest": {"size": book.open_interest},
                "OpeningPrice": {"price": book.opening},
                "HighPrice": {"price": book.high},
                "LowPrice": {"price": book.low},
                "SettlementPrice": {"price": book.settlement},
            },
        }


def on_tick(price: Decimal, tick: Decimal) -> Decimal:
    """Round a price to the nearest tick."""
    return (price / tick).to_integral_value() * tick


def is_on_tick(price: Decimal, tick: Decimal) -> bool:
    """Say whether a price is a whole number of ticks."""
    return price % tick == 0
