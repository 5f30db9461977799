"""Choose which listed contract a continuous symbol means at a given moment: the roll policy.

TradingView's ``NQ1!`` rolls when the next contract's volume overtakes the expiring one, and
Tradovate's ``isFront`` flips only at expiry (reference/tradovate-api.md §5.2), so neither tells
an automated trader when to move. Tradebridge rolls by the calendar instead: each contract has a
*roll moment*, and the continuous chain of a root at time ``now`` is its listed contracts, in
expiry order, whose roll moment is still ahead (``1!`` is the first of them, ``2!`` the second).

A contract's roll moment is ``days_before_first_intent`` days before its ``firstIntentDate`` when
the policy names that anchor and the maturity carries the date (physically delivered products:
being long after first notice invites delivery), else ``days_before_expiration`` days before
Tradovate's ``expirationDate``. ``months`` restricts the
chain to the liquid months of a product that lists thin ones too (gold lists October, traders
roll August to December). Defaults per product family:

==============  ========================================  ===================================
family          roots                                     roll moment
==============  ========================================  ===================================
equity_index    ES MES NQ MNQ RTY M2K YM MYM EMD NKD      8 days before expiration: the CME
                                                          roll Thursday, a week before the
                                                          third-Friday expiry
energy          CL MCL QM NG QG HO RB BZ                  4 days before expiration
metals          GC MGC SI SIL HG MHG PL PA                2 days before first intent (first
                                                          notice); 32 days before expiration
                                                          when no first intent date is known;
                                                          GC, MGC roll through GJMQZ, SI, SIL,
                                                          HG, MHG through HKNUZ
rates           ZT ZF ZN TN ZB UB                         as metals (physical delivery)
grains          ZC ZS ZW ZM ZL ZO KE                      2 days before first intent, else 19
                                                          days before expiration
currencies      6A 6B 6C 6E 6J 6S 6N M6A M6B M6E E7 J7    7 days before expiration
default         any other root                            2 days before first intent, else
                                                          5 days before expiration
==============  ========================================  ===================================

Overrides (the ``CONTRACT_ROLL_OVERRIDES`` setting) are ``;``-separated entries
``ROOT:key=value,key=value`` with keys ``expiration`` (days), ``first_intent`` (days or
``none``) and ``months`` (month codes or ``all``); a key left out keeps the root's default::

    NQ:expiration=6; GC:first_intent=3,months=GJMQZ; CL:expiration=5
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.domain.errors import InvalidSignal
from shared.domain.symbols import MONTH_CODES, SymbolRef, month_code

__all__ = [
    "Listing",
    "RollPolicy",
    "chain",
    "continuous_names",
    "default_policy",
    "parse_roll_overrides",
    "policy_for",
    "resolve_listing",
]

_MAX_DAYS = 120


@dataclass(frozen=True, slots=True)
class Listing:
    """Date one listed contract of a root: its Tradovate name, month and the moments that matter."""

    name: str
    expiration_month: int  # YYYYMM, as Tradovate's ContractMaturity carries it
    expiration: datetime
    first_intent: datetime | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.expiration_month % 100 <= 12:
            raise ValueError(f"expiration_month {self.expiration_month} is not YYYYMM")
        for moment in (self.expiration, self.first_intent):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError("listing times must be timezone-aware")

    @property
    def month(self) -> int:
        """Return the contract month (1-12)."""
        return self.expiration_month % 100

    @property
    def year(self) -> int:
        """Return the contract year."""
        return self.expiration_month // 100


@dataclass(frozen=True, slots=True)
class RollPolicy:
    """Say when a root's contracts stop being the front month (see the module docstring)."""

    days_before_expiration: int
    days_before_first_intent: int | None = None
    months: str | None = None
    family: str = "default"

    def __post_init__(self) -> None:
        days = (self.days_before_expiration, self.days_before_first_intent)
        if any(d is not None and not 0 <= d <= _MAX_DAYS for d in days):
            raise ValueError(f"roll days must be 0-{_MAX_DAYS}")
        if self.months is not None and (
            not self.months
            or any(code not in MONTH_CODES for code in self.months)
            or len(set(self.months)) != len(self.months)
        ):
            raise ValueError(f"months {self.months!r} must be distinct CME month codes")

    def roll_at(self, listing: Listing) -> datetime:
        """Return the moment ``listing`` stops being eligible for the continuous chain."""
        if self.days_before_first_intent is not None and listing.first_intent is not None:
            return listing.first_intent - timedelta(days=self.days_before_first_intent)
        return listing.expiration - timedelta(days=self.days_before_expiration)

    def in_cycle(self, listing: Listing) -> bool:
        """Tell whether the chain may use ``listing``'s month."""
        return self.months is None or month_code(listing.month) in self.months

    def describe(self) -> str:
        """Render the policy in one line for logs, the contract map and the README."""
        text = f"{self.days_before_expiration} days before expiration"
        if self.days_before_first_intent is not None:
            text = f"{self.days_before_first_intent} days before first intent, else {text}"
        if self.months is not None:
            text += f"; months {self.months}"
        return text

    def to_dict(self) -> dict[str, object]:
        """Render the policy as JSON-able data (stored in each contract map)."""
        return {
            "family": self.family,
            "days_before_expiration": self.days_before_expiration,
            "days_before_first_intent": self.days_before_first_intent,
            "months": self.months,
        }


_FAMILIES: dict[str, RollPolicy] = {
    "equity_index": RollPolicy(8, family="equity_index"),
    "energy": RollPolicy(4, family="energy"),
    "metals": RollPolicy(32, 2, family="metals"),
    "rates": RollPolicy(32, 2, family="rates"),
    "grains": RollPolicy(19, 2, family="grains"),
    "currencies": RollPolicy(7, family="currencies"),
}
_DEFAULT = RollPolicy(5, 2, family="default")
_ROOTS_OF_FAMILY = {
    "equity_index": "ES MES NQ MNQ RTY M2K YM MYM EMD NKD",
    "energy": "CL MCL QM NG QG HO RB BZ",
    "metals": "GC MGC SI SIL HG MHG PL PA",
    "rates": "ZT ZF ZN TN ZB UB",
    "grains": "ZC ZS ZW ZM ZL ZO KE",
    "currencies": "6A 6B 6C 6E 6J 6S 6N M6A M6B M6E E7 J7",
}
_FAMILY_OF_ROOT = {
    root: family for family, roots in _ROOTS_OF_FAMILY.items() for root in roots.split()
}
# Listed but thin months that traders skip when they roll (COMEX actives).
_ROOT_MONTHS = {
    "GC": "GJMQZ", "MGC": "GJMQZ",
    "SI": "HKNUZ", "SIL": "HKNUZ", "HG": "HKNUZ", "MHG": "HKNUZ",
}  # fmt: skip


def default_policy(root: str) -> RollPolicy:
    """Return the built-in roll policy of a root (its family's, or the generic default)."""
    key = root.strip().upper()
    policy = _FAMILIES.get(_FAMILY_OF_ROOT.get(key, ""), _DEFAULT)
    months = _ROOT_MONTHS.get(key)
    return policy if months is None else replace(policy, months=months)


def policy_for(root: str, overrides: Mapping[str, RollPolicy]) -> RollPolicy:
    """Return the policy that applies to ``root``: its override, else its default."""
    key = root.strip().upper()
    return overrides.get(key) or default_policy(key)


_ENTRY_RE = re.compile(r"^(?P<root>[A-Za-z0-9]{1,6}):(?P<body>.+)$")
_PAIR_RE = re.compile(r"^(?P<key>[a-z_]+)=(?P<value>[A-Za-z0-9]+)$")


def parse_roll_overrides(text: str) -> dict[str, RollPolicy]:
    """Read ``ROOT:key=value,...; ...`` into whole policies; raise ``ValueError`` if invalid."""
    found: dict[str, RollPolicy] = {}
    for raw in text.split(";"):
        entry = raw.strip()
        if not entry:
            continue
        match = _ENTRY_RE.match(entry.replace(" ", ""))
        if match is None:
            raise ValueError(f"roll override {entry!r} is not ROOT:key=value,...")
        root = match["root"].upper()
        if root in found:
            raise ValueError(f"roll override for {root} is given twice")
        policy = default_policy(root)
        for pair in match["body"].split(","):
            policy = _apply(policy, root, pair)
        found[root] = replace(policy, family=f"{policy.family}+override")
    return found


def _apply(policy: RollPolicy, root: str, pair: str) -> RollPolicy:
    match = _PAIR_RE.match(pair)
    if match is None:
        raise ValueError(f"roll override {root}: {pair!r} is not key=value")
    key, value = match["key"], match["value"]
    try:
        if key == "expiration":
            return replace(policy, days_before_expiration=int(value))
        if key == "first_intent":
            days = None if value.lower() == "none" else int(value)
            return replace(policy, days_before_first_intent=days)
        if key == "months":
            return replace(policy, months=None if value.lower() == "all" else value.upper())
    except ValueError as exc:
        raise ValueError(f"roll override {root}: {pair!r}: {exc}") from None
    raise ValueError(
        f"roll override {root}: unknown key {key!r} (use expiration, first_intent, months)"
    )


def chain(listings: Iterable[Listing], policy: RollPolicy, now: datetime) -> tuple[Listing, ...]:
    """Return the continuous chain at ``now``: front month first, then the next, in expiry order."""
    eligible = [x for x in listings if policy.in_cycle(x) and policy.roll_at(x) > now]
    return tuple(sorted(eligible, key=lambda x: x.expiration))


def continuous_names(
    listings: Iterable[Listing], policy: RollPolicy, now: datetime
) -> dict[int, str]:
    """Map each continuous index (1 = front) to its contract name at ``now``."""
    return {index: x.name for index, x in enumerate(chain(listings, policy, now), start=1)}


def resolve_listing(
    ref: SymbolRef, listings: Iterable[Listing], policy: RollPolicy, now: datetime
) -> Listing:
    """Return the listed contract ``ref`` names at ``now``; raise ``InvalidSignal`` if none."""
    listed = tuple(listings)
    if ref.is_explicit:
        return _explicit(ref, listed, now)
    index = ref.continuous or 1
    current = chain(listed, policy, now)
    if len(current) < index:
        raise InvalidSignal(
            f"{ref.canonical}: {ref.root} lists only {len(current)} contract(s) in its roll chain",
            code="unknown_contract",
            field="symbol",
        )
    return current[index - 1]


def _explicit(ref: SymbolRef, listed: tuple[Listing, ...], now: datetime) -> Listing:
    name = ref.tradovate_name
    found = next((x for x in listed if x.name == name), None)
    # A four- or two-digit year must match: NQZ2034 is not the NQZ4 listed today.
    if found is None or (ref.year is not None and found.year != ref.year):
        raise InvalidSignal(
            f"{ref.canonical} is not a listed {ref.root} contract", code="unknown_contract",
            field="symbol",
        )  # fmt: skip
    if found.expiration <= now:
        raise InvalidSignal(
            f"{ref.canonical} expired at {found.expiration.isoformat()}",
            code="expired_contract",
            field="symbol",
        )
    return found
