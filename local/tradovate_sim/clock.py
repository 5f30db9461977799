"""The simulator's clock: real time plus an offset that admin calls and tests can move.

Everything time-dependent (token expiry, p-ticket waits, timestamps, the contract calendar) reads
this clock, so a test can jump 90 minutes ahead instead of sleeping. WebSocket heartbeats use the
monotonic clock instead: they measure real silence on a real socket.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

# US daylight saving time (the rule since 2007): second Sunday of March 02:00 local to first
# Sunday of November 02:00 local. Computed here so the simulator needs no tz database.
_CT_STANDARD = timedelta(hours=-6)
_CT_DAYLIGHT = timedelta(hours=-5)


class SimClock:
    """Return simulated UTC time; starts at ``start`` (or now) and then runs with real time."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        if start is not None:
            if start.tzinfo is None:
                raise ValueError("start time must be timezone-aware")
            self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        """Return the simulated current time (timezone-aware UTC)."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward (or back, if negative) and return the new now."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def set(self, moment: datetime) -> datetime:
        """Jump simulated time to ``moment``."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        with self._lock:
            self._offset = moment - datetime.now(UTC)
        return self.now()


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    first_sunday = first + timedelta(days=(6 - first.weekday()) % 7)
    return first_sunday + timedelta(weeks=n - 1)


def central_offset(local_day: date, local_time: time) -> timedelta:
    """Return the UTC offset of US Central time at a local wall-clock moment."""
    moment = datetime.combine(local_day, local_time)
    dst_start = datetime.combine(_nth_sunday(local_day.year, 3, 2), time(2))
    dst_end = datetime.combine(_nth_sunday(local_day.year, 11, 1), time(2))
    return _CT_DAYLIGHT if dst_start <= moment < dst_end else _CT_STANDARD


def central_to_utc(local_day: date, local_time: time) -> datetime:
    """Convert a US Central wall-clock moment to an aware UTC datetime."""
    naive = datetime.combine(local_day, local_time)
    return (naive - central_offset(local_day, local_time)).replace(tzinfo=UTC)


def utc_to_central(moment: datetime) -> datetime:
    """Convert an aware UTC datetime to naive US Central wall-clock time."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    # 02:00 CST is 08:00 UTC (DST starts); 02:00 CDT is 07:00 UTC (DST ends).
    dst_start = datetime.combine(_nth_sunday(utc.year, 3, 2), time(8))
    dst_end = datetime.combine(_nth_sunday(utc.year, 11, 1), time(7))
    return utc + (_CT_DAYLIGHT if dst_start <= utc < dst_end else _CT_STANDARD)


def trade_date(moment: datetime) -> dict[str, int]:
    """Return the CME trade date of ``moment``: the session that opens at 17:00 CT belongs to the
    next day, and Saturday/Sunday sessions belong to Monday."""
    local = utc_to_central(moment)
    day = local.date()
    if local.time() >= time(17):
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return {"year": day.year, "month": day.month, "day": day.day}


def iso_ms(moment: datetime) -> str:
    """Format a timestamp the way Tradovate does: ISO-8601 UTC with milliseconds and ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def iso_minutes(moment: datetime) -> str:
    """Format a contract expiration the way Tradovate does: ``YYYY-MM-DDTHH:MMZ``, no seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` allowed); naive input is taken as UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
