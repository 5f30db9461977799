"""Read futures symbols as traders write them and name Tradovate contracts.

Every accepted spelling normalises to a :class:`SymbolRef`: an instrument root plus either a
continuous index (TradingView ``NQ1!`` is front month, ``NQ2!`` the next), an explicit contract
month and year, or nothing (``NQ``: the front month, chosen later). Resolving a continuous or
root-only reference to a real contract needs the contract map, so it happens in execution; this
module only supplies the pure pieces a contract-map builder needs (month codes, parsing and
formatting contract names, placing a one-digit year in the right decade).

Accepted forms (case-insensitive, surrounding blanks ignored)::

    NQ1!  NQ2!  CME_MINI:NQ1!       continuous (TradingView)
    NQZ2024  NQZ24  NQZ4            explicit: month code + 4-, 2- or 1-digit year
    CME_MINI:ESH2025                explicit with an exchange prefix
    MNQ 06-25                       explicit, NinjaTrader style (month-year)
    NQ  MNQ  6E                     root only

A root that itself ends in a month letter and digits would read as a contract; no common
futures root has that shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import NoReturn

from shared.domain.errors import InvalidSignal

# CME month codes, also Tradovate's (reference/tradovate-api.md §5.1).
MONTH_CODES: dict[str, int] = {
    "F": 1, "G": 2, "H": 3, "J": 4, "K": 5, "M": 6,
    "N": 7, "Q": 8, "U": 9, "V": 10, "X": 11, "Z": 12,
}  # fmt: skip
_CODE_OF_MONTH: dict[int, str] = {month: code for code, month in MONTH_CODES.items()}

_MAX_SYMBOL_CHARS = 40
# A root is what Tradovate calls the product: letters and digits, at least one letter (6E, M2K).
_ROOT = r"[A-Z0-9]{1,6}"
_ROOT_RE = re.compile(r"^(?=[A-Z0-9]*[A-Z])[A-Z0-9]{1,6}$")
_EXCHANGE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
# Roots are matched lazily so that a root ending in a month letter (ZN, M2K) still parses.
_CONTINUOUS_RE = re.compile(rf"^(?P<root>{_ROOT}?)(?P<index>[1-9])!$")
_EXPLICIT_RE = re.compile(
    rf"^(?P<root>{_ROOT}?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{{4}}|\d{{1,2}})$"
)
_NINJA_RE = re.compile(rf"^(?P<root>{_ROOT}) (?P<month>\d{{2}})-(?P<year>\d{{2}})$")


def month_code(month: int) -> str:
    """Return the CME month letter for a month number (1-12)."""
    try:
        return _CODE_OF_MONTH[month]
    except KeyError:
        raise ValueError(f"month must be 1-12, not {month}") from None


def month_from_code(code: str) -> int:
    """Return the month number for a CME month letter."""
    try:
        return MONTH_CODES[code.upper()]
    except KeyError:
        raise ValueError(f"{code!r} is not a CME month code") from None


def resolve_year_digit(digit: int, reference: date) -> int:
    """Place a one-digit contract year in the decade nearest ``reference``.

    Listed futures expire at most a few years ahead, and an alert may name a contract that
    expired recently, so the year is chosen from ``reference.year - 4`` to ``reference.year + 5``.
    """
    if not 0 <= digit <= 9:
        raise ValueError(f"year digit must be 0-9, not {digit}")
    year = reference.year - reference.year % 10 + digit
    if year < reference.year - 4:
        return year + 10
    if year > reference.year + 5:
        return year - 10
    return year


def tradovate_contract_name(root: str, month: int, year: int) -> str:
    """Return Tradovate's contract name: root, month letter, last year digit (NQZ6)."""
    return f"{root}{month_code(month)}{year % 10}"


def contract_name_from_expiration_month(root: str, expiration_month: int) -> str:
    """Return the Tradovate contract name for a maturity's ``expirationMonth`` (YYYYMM)."""
    year, month = divmod(expiration_month, 100)
    return tradovate_contract_name(root, month, year)


@dataclass(frozen=True, slots=True)
class SymbolRef:
    """Name an instrument: a root plus a continuous index, an explicit contract, or neither.

    ``year`` is the full year when the alert gave two or four digits; ``year_digit`` is always
    the last digit of an explicit contract's year, which is all a Tradovate name needs.
    """

    root: str
    continuous: int | None = None
    month: int | None = None
    year: int | None = None
    year_digit: int | None = None
    exchange: str | None = None

    def __post_init__(self) -> None:
        if not _ROOT_RE.match(self.root):
            _fail(f"{self.root!r} is not an instrument root")
        if self.exchange is not None and not _EXCHANGE_RE.match(self.exchange):
            _fail(f"{self.exchange!r} is not an exchange name")
        explicit = (self.month, self.year_digit)
        if self.continuous is not None:
            if not 1 <= self.continuous <= 9 or explicit != (None, None) or self.year is not None:
                _fail("a continuous symbol has an index 1-9 and no contract month")
        elif (self.month is None) != (self.year_digit is None):
            _fail("an explicit contract needs both a month and a year")
        self._check_contract()

    def _check_contract(self) -> None:
        if self.month is not None and not 1 <= self.month <= 12:
            _fail(f"month {self.month} is not 1-12")
        if self.year_digit is not None and not 0 <= self.year_digit <= 9:
            _fail(f"year digit {self.year_digit} is not 0-9")
        if self.year is not None and (
            self.month is None or not 2000 <= self.year <= 2099 or self.year % 10 != self.year_digit
        ):
            _fail(f"year {self.year} does not fit the contract")

    @property
    def is_continuous(self) -> bool:
        """Tell whether this is a continuous symbol such as ``NQ1!``."""
        return self.continuous is not None

    @property
    def is_explicit(self) -> bool:
        """Tell whether this names one contract month."""
        return self.month is not None

    @property
    def tradovate_name(self) -> str | None:
        """Return Tradovate's contract name for an explicit contract, or None until resolved."""
        if self.month is None or self.year_digit is None:
            return None
        return f"{self.root}{month_code(self.month)}{self.year_digit}"

    @property
    def canonical(self) -> str:
        """Render the one spelling that parses back to this reference."""
        prefix = f"{self.exchange}:" if self.exchange else ""
        if self.continuous is not None:
            return f"{prefix}{self.root}{self.continuous}!"
        if self.month is None:
            return f"{prefix}{self.root}"
        year = str(self.year) if self.year is not None else str(self.year_digit)
        return f"{prefix}{self.root}{month_code(self.month)}{year}"

    def full_year(self, reference: date) -> int | None:
        """Return the contract's full year, placing a one-digit year near ``reference``."""
        if self.year is not None:
            return self.year
        if self.year_digit is None:
            return None
        return resolve_year_digit(self.year_digit, reference)

    def with_root(self, root: str) -> SymbolRef:
        """Return the same contract choice on another root (alert on NQ, trade MNQ)."""
        return replace(self, root=root.strip().upper())

    def __str__(self) -> str:
        return self.canonical


def _fail(message: str) -> NoReturn:
    raise InvalidSignal(message, code="invalid_symbol", field="symbol")


def parse_symbol(text: str, *, exchange: str | None = None) -> SymbolRef:
    """Normalise a symbol as traders write it into a :class:`SymbolRef`.

    ``exchange`` is TradingView's ``{{exchange}}`` when the alert sends it separately; a prefix
    in ``text`` (``CME_MINI:NQ1!``) wins.
    """
    raw = text.strip().upper()
    if not raw or len(raw) > _MAX_SYMBOL_CHARS:
        raise InvalidSignal("symbol must be 1-40 characters", code="invalid_symbol", field="symbol")
    prefix, colon, body = raw.rpartition(":")
    if colon:
        exchange = prefix
    elif exchange is not None:
        exchange = exchange.strip().upper() or None
    body = body.strip()
    ref = _parse_body(body, exchange)
    if ref is None:
        raise InvalidSignal(
            f"{text.strip()!r} is not a futures symbol this bridge understands "
            "(examples: NQ1!, CME_MINI:NQ1!, NQZ2024, NQZ4, MNQ 06-25, NQ)",
            code="invalid_symbol",
            field="symbol",
        )
    return ref


def _parse_body(body: str, exchange: str | None) -> SymbolRef | None:
    match = _CONTINUOUS_RE.match(body)
    if match:
        return SymbolRef(match["root"], continuous=int(match["index"]), exchange=exchange)
    match = _EXPLICIT_RE.match(body)
    if match:
        return _explicit(match["root"], MONTH_CODES[match["month"]], match["year"], exchange)
    match = _NINJA_RE.match(body)
    if match:
        month = int(match["month"])
        if not 1 <= month <= 12:
            return None
        return _explicit(match["root"], month, match["year"], exchange)
    if _ROOT_RE.match(body):
        return SymbolRef(body, exchange=exchange)
    return None


def _explicit(root: str, month: int, year_text: str, exchange: str | None) -> SymbolRef | None:
    digits = int(year_text)
    if len(year_text) == 1:
        return SymbolRef(root, month=month, year_digit=digits, exchange=exchange)
    year = 2000 + digits if len(year_text) == 2 else digits
    if not 2000 <= year <= 2099:
        return None
    return SymbolRef(root, month=month, year=year, year_digit=year % 10, exchange=exchange)
