"""List the futures products an alert may name, so the webhook refuses the rest at the door.

The roots are the CME Group products Tradovate lists (CME, CBOT, NYMEX, COMEX): the equity
index, energy, metals, rates, grain, livestock, currency and crypto futures, their E-mini and
Micro versions. A root missing here is still accepted when the strategy names it (its symbol
allowlist or symbol map), so a product this list lacks can be traded by configuring it; no
lookup at Tradovate happens on the webhook's path (the contract map is resolved at execution).
"""

from __future__ import annotations

from collections.abc import Collection

KNOWN_ROOTS: frozenset[str] = frozenset(
    {
        # equity index: E-mini, Micro E-mini, Dow, Russell, MidCap, Nikkei
        "ES", "MES", "NQ", "MNQ", "RTY", "M2K", "YM", "MYM", "EMD", "NKD", "NIY",
        # energy: crude (WTI, Brent), natural gas, heating oil, gasoline, and their minis/micros
        "CL", "MCL", "QM", "BZ", "NG", "QG", "MNG", "HO", "RB",
        # metals: gold, silver, copper, platinum, palladium, E-mini and Micro versions
        "GC", "MGC", "QO", "SI", "SIL", "QI", "HG", "MHG", "QC", "PL", "PA",
        # rates: Treasuries, Ultra bonds, SOFR, Fed funds, Micro yields
        "ZT", "ZF", "ZN", "TN", "ZB", "UB", "TWE", "SR3", "SR1", "ZQ",
        "2YY", "5YY", "10Y", "30Y",
        # grains and oilseeds, mini and micro grains
        "ZC", "ZS", "ZW", "ZM", "ZL", "ZO", "ZR", "KE", "XC", "XW", "XK",
        "MZC", "MZS", "MZW", "MZM", "MZL",
        # livestock
        "LE", "HE", "GF",
        # currencies: majors, E-micro and Micro FX
        "6A", "6B", "6C", "6E", "6J", "6S", "6N", "6M", "6L", "6Z", "E7", "J7",
        "M6A", "M6B", "M6E", "MCD", "MJY", "MSF",
        # crypto
        "BTC", "MBT", "ETH", "MET",
    }
)  # fmt: skip


def is_known(root: str, *configured: Collection[str]) -> bool:
    """Tell whether ``root`` is a known product or one of the roots a strategy configures."""
    return root in KNOWN_ROOTS or any(root in roots for roots in configured)
