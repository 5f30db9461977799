"""Last-trade rules for the simulated futures, and the expiry Tradovate stamps on a maturity.

Business days are Monday to Friday; exchange holidays are not modelled (a holiday can move a real
expiry by a day). Times are US Central wall-clock times, converted to UTC.

Two moments per contract month: ``last_trade`` is when the exchange stops trading it (the
simulator refuses orders from then on), and ``expiration`` is Tradovate's
``ContractMaturity.expirationDate`` (what ``isFront``, ``archived`` and clients' roll rules see).
For equity-index futures they differ: Tradovate's published maturities are stamped 16:29 US/Central
on the last trading day, e.g. ``2017-12-15T22:29Z`` (CST) and ``2018-03-16T21:29Z`` (CDT), both
third Fridays (DOCS24 ``md/operations/shared-ops/deps.md``; reference §3.2, §5.3), while CME
terminates trading at 9:30 a.m. ET = 08:30 CT that day (cmegroup.com E-mini S&P 500 contract
specs, "Termination of Trading"). For the other families no Tradovate stamp is published, so
``expiration`` is the exchange's last-trade moment (UNCONFIRMED).

* Equity index (ES, MES, NQ, MNQ, RTY, M2K, YM, MYM): trading ends 08:30 CT on the third Friday
  of the contract month (CME micro and E-mini specs); Tradovate's expiry 16:29 CT that day.
* CL: 13:30 CT, three business days before the 25th calendar day of the month before the
  contract month, or four business days before it when the 25th is not a business day (CME spec).
* MCL: one business day before CL's last trade day (the CME micro WTI rule as generally
  published; the reference marks its listing cycle UNCONFIRMED).
* GC, MGC: 12:30 CT on the third-last business day of the contract month (COMEX spec); first
  intent: the second-last business day of the month before.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from local.tradovate_sim.clock import central_to_utc

MONTH_CODES = "FGHJKMNQUVXZ"


def month_code(month: int) -> str:
    """Return the CME month letter for month 1..12."""
    return MONTH_CODES[month - 1]


def is_business_day(day: date) -> bool:
    """Monday to Friday (exchange holidays are not modelled)."""
    return day.weekday() < 5


def business_days_before(day: date, count: int) -> date:
    """Return the business day ``count`` business days before ``day``."""
    current = day
    while count > 0:
        current -= timedelta(days=1)
        if is_business_day(current):
            count -= 1
    return current


def third_friday(year: int, month: int) -> date:
    """Return the third Friday of a month."""
    first = date(year, month, 1)
    first_friday = first + timedelta(days=(4 - first.weekday()) % 7)
    return first_friday + timedelta(weeks=2)


def last_day(year: int, month: int) -> date:
    """Return the last calendar day of a month."""
    following = date(year + month // 12, month % 12 + 1, 1)
    return following - timedelta(days=1)


def nth_last_business_day(year: int, month: int, n: int) -> date:
    """Return the n-th last business day of a month (n=1 is the last)."""
    day = last_day(year, month)
    while not is_business_day(day):
        day -= timedelta(days=1)
    return business_days_before(day, n - 1) if n > 1 else day


def _previous_month(year: int, month: int) -> tuple[int, int]:
    return (year, month - 1) if month > 1 else (year - 1, 12)


def crude_last_trade(year: int, month: int) -> date:
    """Return CL's last trade day for the contract month."""
    prev_year, prev_month = _previous_month(year, month)
    twenty_fifth = date(prev_year, prev_month, 25)
    count = 3 if is_business_day(twenty_fifth) else 4
    return business_days_before(twenty_fifth, count)


# Tradovate's expirationDate for equity-index maturities: the last trading day at 16:29 CT.
TRADOVATE_EQUITY_EXPIRY = time(16, 29)


def expiration(rule: str, year: int, month: int) -> datetime:
    """Return Tradovate's ``expirationDate`` (UTC) of a contract month under ``rule``."""
    if rule == "equity_index":
        return central_to_utc(third_friday(year, month), TRADOVATE_EQUITY_EXPIRY)
    return last_trade(rule, year, month)


def last_trade(rule: str, year: int, month: int) -> datetime:
    """Return the UTC moment the exchange stops trading a contract month under ``rule``."""
    if rule == "equity_index":
        return central_to_utc(third_friday(year, month), time(8, 30))
    if rule == "crude":
        return central_to_utc(crude_last_trade(year, month), time(13, 30))
    if rule == "micro_crude":
        return central_to_utc(business_days_before(crude_last_trade(year, month), 1), time(13, 30))
    if rule == "metals":
        return central_to_utc(nth_last_business_day(year, month, 3), time(12, 30))
    raise ValueError(f"unknown expiration rule {rule!r}")


def first_intent(rule: str, year: int, month: int) -> datetime | None:
    """Return the first intent (notice) moment for physically delivered metals, else None."""
    if rule != "metals":
        return None
    prev_year, prev_month = _previous_month(year, month)
    return central_to_utc(nth_last_business_day(prev_year, prev_month, 2), time(17, 0))
