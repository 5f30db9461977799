"""Count signals by outcome and measure where their time went: ``GET /api/health/metrics``.

Two rolling windows end now: the last hour and the last day. The alert journal (Table
storage, every alert the webhook answered, and every ops flatten) is read for each window; the
ledger's Redis working copy adds, for accepted alerts, each account's execution, in one round
trip for the whole day. From them:

* counts: the webhook's answers (``accepted``, ``duplicate``, ``refused``), the signals'
  statuses as ``GET /api/signals`` shows them (``queued`` ... ``mixed``), each account
  execution's outcome, and the reason codes of refusals and of denied or rejected executions;
* latency: the time between two steps of an account's timeline (``timeline.timeline``:
  received, enqueued, dequeued, claimed, sent, acknowledged, filled, finished), for every
  execution that has both steps, as p50, p90, p99 and max.

Percentiles are nearest-rank: of n samples in ascending order, the p-th percentile is the
sample at rank ceil(p x n / 100), counted from 1. It is always a measured value (never an
interpolation between two), and with few samples p99 is the maximum. Durations are exact to
the microsecond and rendered as decimal strings of milliseconds (``"1.234"``), as the API
renders money: no binary floats.

The work is bounded: at most ``row_cap`` journal rows are read in all, the last hour first,
then the rest of the day. When the cap is reached the answer says so (``capped: true``, and
``complete: false`` on each window it cut short); a cut window's counts and percentiles cover
the rows read, which Table storage returns in no particular order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.domain.errors import InvalidRequest, NotFound
from shared.ports import AlertRecord, Clock, LedgerEntry
from shared.services.ops.ports import JournalReader, OpsStore
from shared.services.ops.timeline import SUMMARY_PREFIX, status_of, summaries, timeline
from shared.strategies import StrategyBook

ROW_CAP = 5000
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PERCENTILES = (50, 90, 99)
JOURNAL_STATUSES = ("accepted", "duplicate", "refused")
SIGNAL_STATUSES = ("queued", "executing", "done", "denied", "rejected", "mixed")
# (name, from step, to step) of an account's timeline.
SPANS = (
    ("received_to_enqueued", "received", "enqueued"),
    ("enqueued_to_dequeued", "enqueued", "dequeued"),
    ("dequeued_to_sent", "dequeued", "sent"),
    ("sent_to_acknowledged", "sent", "acknowledged"),
    ("received_to_acknowledged", "received", "acknowledged"),
    ("received_to_filled", "received", "filled"),
    ("received_to_finished", "received", "finished"),
)
_STRATEGY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_MICROSECOND = timedelta(microseconds=1)
_MS = Decimal(1000)
_MS_PLACES = Decimal("0.001")


def nearest_rank(ordered: Sequence[int], percent: int) -> int:
    """Return the ``percent``-th percentile of ascending ``ordered`` samples by nearest rank."""
    if not ordered:
        raise ValueError("no samples")
    if not 0 < percent <= 100:
        raise ValueError("percent is in (0, 100]")
    rank = -(-percent * len(ordered) // 100)  # ceil(percent * n / 100), at least 1
    return ordered[max(rank, 1) - 1]


def milliseconds(microseconds: int) -> str:
    """Render microseconds as a decimal string of milliseconds (``1234`` -> ``"1.234"``)."""
    return str((Decimal(microseconds) / _MS).quantize(_MS_PLACES))


def summarise(samples: Iterable[int]) -> dict[str, Any]:
    """Return the count, nearest-rank p50/p90/p99 and the max of microsecond samples, in ms."""
    ordered = sorted(samples)
    out: dict[str, Any] = {"count": len(ordered)}
    for percent in PERCENTILES:
        out[f"p{percent}_ms"] = milliseconds(nearest_rank(ordered, percent)) if ordered else None
    out["max_ms"] = milliseconds(ordered[-1]) if ordered else None
    return out


def read_strategy(params: Mapping[str, str], strategies: StrategyBook) -> str | None:
    """Return the ``strategy`` filter (400 ``bad_filter``, 404 ``unknown_strategy``)."""
    strategy = params.get("strategy") or None
    if strategy is None:
        return None
    if not _STRATEGY_RE.match(strategy):
        raise InvalidRequest("strategy is a strategy id", code="bad_filter", field="strategy")
    if strategy not in strategies:
        raise NotFound(f"no strategy {strategy!r} in the strategy file", code="unknown_strategy")
    return strategy


@dataclass
class _Window:
    since: datetime
    until: datetime
    complete: bool = True
    journal: Counter[str] = field(default_factory=Counter)
    signals: Counter[str] = field(default_factory=Counter)
    executions: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    denials: Counter[str] = field(default_factory=Counter)
    spans: dict[str, list[int]] = field(default_factory=lambda: {n: [] for n, _, _ in SPANS})

    def add(self, record: AlertRecord, rows: Sequence[LedgerEntry]) -> None:
        self.journal[record.status] += 1
        if record.status == "refused":
            self.refusals[record.reason_code or "unknown"] += 1
        if record.status != "accepted":
            return
        self.signals[status_of(record, rows)] += 1
        legs: dict[str, list[LedgerEntry]] = {}
        for row in rows:
            if not row.row_key.startswith(SUMMARY_PREFIX):
                legs.setdefault(str(row.fields.get("account", "")), []).append(row)
        for account, summary in summaries(rows).items():
            self.executions[summary.status] += 1
            code = summary.fields.get("reason_code")
            if summary.status in ("denied", "rejected") and isinstance(code, str):
                self.denials[code] += 1
            steps = timeline(record.tv_time, record.received_at, summary, legs.get(account, []))
            self._measure(steps["steps"])

    def _measure(self, steps: Sequence[Mapping[str, Any]]) -> None:
        at = {s["step"]: datetime.fromisoformat(s["at"]) for s in steps if s["at"] is not None}
        for name, start, end in SPANS:
            if start in at and end in at and at[end] >= at[start]:
                self.spans[name].append((at[end] - at[start]) // _MICROSECOND)

    def render(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "complete": self.complete,
            "alerts": sum(self.journal.values()),
            "webhook": {status: self.journal[status] for status in JOURNAL_STATUSES},
            "signals": {status: self.signals[status] for status in SIGNAL_STATUSES},
            "executions": dict(sorted(self.executions.items())),
            "refusals": dict(self.refusals.most_common()),
            "denials": dict(self.denials.most_common()),
            "latency": {name: summarise(self.spans[name]) for name, _, _ in SPANS},
        }


class Metrics:
    """Read the journal and the ledger into counts and latency percentiles."""

    def __init__(
        self,
        strategies: StrategyBook,
        journal: JournalReader,
        store: OpsStore,
        clock: Clock,
        *,
        row_cap: int = ROW_CAP,
    ) -> None:
        self._strategies = strategies
        self._journal = journal
        self._store = store
        self._clock = clock
        self._row_cap = row_cap

    async def report(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Return the last hour's and the last day's counts and latencies."""
        strategy = read_strategy(params, self._strategies)
        now = self._clock.now()
        hour, day = _Window(now - HOUR, now), _Window(now - DAY, now)
        recent = await self._read(hour.since, now, strategy, self._row_cap)
        hour.complete = len(recent) <= self._row_cap
        recent = recent[: self._row_cap]
        older: list[AlertRecord] = []
        if hour.complete:
            room = self._row_cap - len(recent)
            older = await self._read(day.since, hour.since, strategy, room)
            day.complete = len(older) <= room
            older = older[:room]
        else:
            day.complete = False  # the hour alone filled the cap: the rest of the day is unread
        accepted = [r.signal_id for r in (*recent, *older) if r.status == "accepted"]
        ledger = await self._store.ledgers(accepted) if accepted else {}
        for record in recent:
            rows = ledger.get(record.signal_id, []) if record.status == "accepted" else []
            hour.add(record, rows)
            day.add(record, rows)
        for record in older:
            day.add(record, ledger.get(record.signal_id, []) if record.status == "accepted" else [])
        return {
            "as_of": now.isoformat(),
            "strategy": strategy,
            "percentiles": "nearest-rank",
            "row_cap": self._row_cap,
            "rows_read": len(recent) + len(older),
            "capped": not day.complete,
            "windows": {"last_hour": hour.render(), "last_day": day.render()},
        }

    async def _read(
        self, since: datetime, until: datetime, strategy: str | None, room: int
    ) -> list[AlertRecord]:
        # One row more than there is room for tells a full window from a cut one.
        return await self._journal.alerts_between(since, until, strategy, room + 1)
