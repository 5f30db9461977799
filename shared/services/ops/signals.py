"""List signals newest first with filters and cursor paging, and show one signal whole.

The alert journal (Table storage, every alert received: accepted, duplicate or refused) is
the list's spine; the ledger (Redis working copy, Table storage once Redis has forgotten)
adds each account's execution. Table storage cannot sort by time, so the window is read in
slices from the newest end, each slice sorted, until a page is full: a slice starts at one
hour and grows fourfold, and a slice that hits the row cap is halved and read again.
The ledger of a page's candidates is read in one Redis round trip.

Filters: ``strategy``, ``account``, ``status`` (``accepted``, ``duplicate``, ``refused``,
``queued``, ``executing``, ``done``, ``denied``, ``rejected``, ``mixed``), ``symbol`` (a root
matches every contract of it, ``NQ1!`` or ``NQZ6`` only that spelling), ``since``/``until``
(default: the last 24 hours; at most 31 days), ``limit`` (1-200, default 50), ``cursor`` (the
``next`` of the page before).

One signal whole adds, per account, its ``trades``: the fills the worker's history names the
signal in, its entries' and its exits' (a bracket's take profit or stop that traded), oldest
first, or null when the history cannot be read (``trades_error`` says why).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.domain.codec import decode
from shared.domain.errors import DependencyUnavailable, InvalidRequest, InvalidSignal, NotFound
from shared.domain.symbols import SymbolRef, parse_symbol
from shared.ports import AlertRecord, Clock, Ledger, LedgerEntry
from shared.services.ops.ports import FillReader, JournalReader, OpsStore
from shared.services.ops.requests import moment, number
from shared.services.ops.timeline import signal_view, status_of, summaries
from shared.strategies import StrategyBook

log = logging.getLogger(__name__)

STATUSES = frozenset(
    {"accepted", "duplicate", "refused", "queued", "executing", "done", "denied", "rejected",
     "mixed"}
)  # fmt: skip
JOURNAL_STATUSES = frozenset({"accepted", "duplicate", "refused"})
DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=31)
MAX_ROWS_PER_READ = 2000
_FIRST_SLICE = timedelta(hours=1)
_MIN_SLICE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SignalQuery:
    """A validated ``GET /api/signals`` query."""

    since: datetime
    until: datetime
    limit: int = 50
    strategy: str | None = None
    account: str | None = None
    status: str | None = None
    symbol: SymbolRef | None = None
    cursor: tuple[datetime, str] | None = None


def read_query(params: Mapping[str, str], now: datetime) -> SignalQuery:
    """Validate the list's query parameters (400 ``bad_filter`` / ``bad_cursor``)."""
    known = {"strategy", "account", "status", "symbol", "since", "until", "limit", "cursor"}
    unknown = sorted(set(params) - known - {"code"})
    if unknown:
        raise InvalidRequest(f"unknown filter {unknown[0]!r}", code="bad_filter", field=unknown[0])
    until = moment(params, "until") or now
    since = moment(params, "since") or until - DEFAULT_WINDOW
    if since >= until:
        raise InvalidRequest("since must be before until", code="bad_filter", field="since")
    if until - since > MAX_WINDOW:
        raise InvalidRequest(
            "since and until may be at most 31 days apart", code="window_too_large", field="since"
        )
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidRequest(
            f"status is one of {', '.join(sorted(STATUSES))}", code="bad_filter", field="status"
        )
    symbol = None
    if params.get("symbol"):
        try:
            symbol = parse_symbol(params["symbol"])
        except InvalidSignal as exc:
            raise InvalidRequest(exc.message, code="bad_filter", field="symbol") from None
    return SignalQuery(
        since=since,
        until=until,
        limit=int(number(params, "limit", 50, 1, 200)),
        strategy=params.get("strategy") or None,
        account=params.get("account") or None,
        status=status,
        symbol=symbol,
        cursor=_read_cursor(params.get("cursor")),
    )


def _read_cursor(raw: str | None) -> tuple[datetime, str] | None:
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
        at = datetime.fromisoformat(data["t"])
        key = str(data["k"])
        if at.tzinfo is None:
            raise ValueError("naive")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            "cursor is not one this API gave out", code="bad_cursor", field="cursor"
        ) from None
    return at, key


def _cursor(item: _Item) -> str:
    text = json.dumps({"t": item.record.received_at.isoformat(), "k": item.row_key})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@dataclass(slots=True)
class _Item:
    record: AlertRecord
    rows: list[LedgerEntry] = field(default_factory=list)
    enriched: bool = False

    @property
    def row_key(self) -> str:
        r = self.record
        return f"{r.signal_id}.dup.{r.correlation_id}" if r.status == "duplicate" else r.signal_id

    @property
    def order(self) -> tuple[datetime, str]:
        return self.record.received_at, self.row_key


def _symbol_of(record: AlertRecord) -> SymbolRef | None:
    if not record.signal_json:
        return None
    try:
        return decode(SymbolRef, json.loads(record.signal_json).get("symbol"), "symbol")
    except (ValueError, InvalidSignal, AttributeError):
        return None


def _same_contract(a: SymbolRef, b: SymbolRef) -> bool:
    return (a.root, a.continuous, a.month, a.year_digit) == (
        b.root,
        b.continuous,
        b.month,
        b.year_digit,
    )


def _intent_of(record: AlertRecord) -> str | None:
    try:
        intent = json.loads(record.signal_json or "{}").get("intent")
    except ValueError:
        return None
    return intent if isinstance(intent, str) else None


class SignalLog:
    """Read the journal and the ledger together."""

    def __init__(
        self,
        strategies: StrategyBook,
        journal: JournalReader,
        store: OpsStore,
        ledger: Ledger,
        clock: Clock,
        *,
        ledger_ttl_s: float,
        fills: FillReader | None = None,
    ) -> None:
        self._strategies = strategies
        self._journal = journal
        self._store = store
        self._ledger = ledger
        self._clock = clock
        self._ledger_ttl_s = ledger_ttl_s
        self._fills = fills

    def now(self) -> datetime:
        """Return the current time (the default end of a list's window)."""
        return self._clock.now()

    # --- the list ----------------------------------------------------------------------------

    async def page(self, query: SignalQuery) -> dict[str, Any]:
        """Return one page of signals, newest first, and the cursor of the next page."""
        upper = query.until
        if query.cursor is not None:
            upper = min(upper, query.cursor[0] + timedelta(microseconds=1))
        kept: list[_Item] = []
        pending: list[_Item] = []
        hi, width = upper, _FIRST_SLICE
        while hi > query.since and len(kept) <= query.limit:
            lo = max(query.since, hi - width)
            records = await self._journal.alerts_between(lo, hi, query.strategy, MAX_ROWS_PER_READ)
            if len(records) >= MAX_ROWS_PER_READ and width > _MIN_SLICE:
                width = max(_MIN_SLICE, width / 2)
                continue  # too many to sort in one read: the same end, a narrower slice
            items = sorted((_Item(r) for r in records), key=lambda i: i.order, reverse=True)
            pending += [i for i in items if self._journal_match(i, query)]
            hi, width = lo, width * 4
            if len(pending) + len(kept) > query.limit or hi <= query.since:
                await self._enrich(pending)
                kept += [i for i in pending if self._ledger_match(i, query)]
                pending = []
        page, more = kept[: query.limit], len(kept) > query.limit
        return {
            "since": query.since.isoformat(),
            "until": query.until.isoformat(),
            "signals": [self._summary(i) for i in page],
            "next": _cursor(page[-1]) if more and page else None,
        }

    def _journal_match(self, item: _Item, query: SignalQuery) -> bool:
        record = item.record
        if query.cursor is not None and item.order >= query.cursor:
            return False
        if query.status in JOURNAL_STATUSES:
            return record.status == query.status
        # An execution status (queued, done...) only ever describes an accepted alert.
        return query.status is None or record.status == "accepted"

    def _ledger_match(self, item: _Item, query: SignalQuery) -> bool:
        status = query.status
        executed = status is None or status in JOURNAL_STATUSES
        if not executed and status_of(item.record, item.rows) != status:
            return False
        if query.account is not None and query.account not in self._accounts(item):
            return False
        return query.symbol is None or self._symbol_match(item, query.symbol)

    def _symbol_match(self, item: _Item, wanted: SymbolRef) -> bool:
        symbol = _symbol_of(item.record)
        traded = {str(s.fields.get("root")) for s in summaries(item.rows).values()}
        if symbol is not None:
            traded.add(symbol.root)
        if wanted.continuous is None and wanted.month is None:
            return wanted.root in traded
        # A contract or continuous spelling: the alert's, on its own root or the traded one.
        return symbol is not None and any(
            _same_contract(symbol.with_root(root), wanted) for root in traded
        )

    def _accounts(self, item: _Item) -> list[str]:
        found = list(summaries(item.rows))
        if found or item.record.status != "accepted":
            return found
        # Queued, not executed yet: the accounts the webhook fanned it out to.
        try:
            chosen = json.loads(item.record.signal_json or "{}").get("accounts") or []
        except ValueError:
            chosen = []
        named = [str(a.get("account")) for a in chosen if isinstance(a, dict)]
        strategy = self._strategies.get(item.record.strategy_id)
        if named or strategy is None:
            return named
        return [a.name for a in strategy.accounts if a.enabled]

    async def _enrich(self, items: Sequence[_Item]) -> None:
        todo = [i for i in items if not i.enriched and i.record.status == "accepted"]
        if not todo:
            return
        found = await self._store.ledgers([i.record.signal_id for i in todo])
        old = self._clock.now() - timedelta(seconds=self._ledger_ttl_s)
        for item in todo:
            item.rows, item.enriched = found.get(item.record.signal_id, []), True
        # Redis keeps the working copy for LEDGER_TTL_DAYS; older signals come from Tables.
        forgotten = [i for i in todo if not i.rows and i.record.received_at < old]
        archived = await asyncio.gather(*(self._ledger.rows(i.record.signal_id) for i in forgotten))
        for item, rows in zip(forgotten, archived, strict=True):
            item.rows = rows

    def _summary(self, item: _Item) -> dict[str, Any]:
        record = item.record
        symbol = _symbol_of(record)
        return {
            "id": record.signal_id,
            "strategy": record.strategy_id,
            "status": status_of(record, item.rows),
            "received_at": record.received_at.isoformat(),
            "tv_time": None if record.tv_time is None else record.tv_time.isoformat(),
            "format": record.alert_format,
            "intent": _intent_of(record),
            "symbol": None if symbol is None else symbol.canonical,
            "reason_code": record.reason_code,
            "reason": record.reason,
            "accounts": [
                {
                    "account": account,
                    "status": summary.status,
                    "reason_code": summary.fields.get("reason_code"),
                }
                for account, summary in sorted(summaries(item.rows).items())
            ],
        }

    # --- one signal ------------------------------------------------------------------------

    async def detail(self, signal_id: str, strategy: str | None) -> dict[str, Any]:
        """Return one signal whole (404 ``unknown_signal``)."""
        if not signal_id or len(signal_id) > 128 or "/" in signal_id:
            raise InvalidRequest("not a signal id", code="bad_filter", field="id")
        rows = await self._ledger.rows(signal_id)
        owner = strategy or next(
            (str(r.fields["strategy"]) for r in rows if isinstance(r.fields.get("strategy"), str)),
            None,
        )
        if owner is not None:
            record = await self._journal.get_alert(owner, signal_id)
        else:
            record = await self._journal.find_alert(signal_id)
        if record is None and not rows:
            raise NotFound(
                f"no signal {signal_id} in the journal or the ledger", code="unknown_signal"
            )
        view = signal_view(signal_id, record, rows)
        if self._fills is not None:
            await add_trades(self._fills, view, signal_id, self._first_day(record, rows))
        return view

    def _first_day(self, record: AlertRecord | None, rows: Sequence[LedgerEntry]) -> date:
        """Return the UTC day the signal's first fill can fall on (its receipt, else its
        first claim, else as far back as the ledger keeps signals)."""
        if record is not None:
            return record.received_at.astimezone(UTC).date()
        claimed = [at for r in rows if isinstance(at := r.fields.get("claimed_at"), datetime)]
        earliest = min(claimed) if claimed else self.now() - timedelta(seconds=self._ledger_ttl_s)
        return earliest.astimezone(UTC).date()


async def add_trades(fills: FillReader, view: dict[str, Any], signal_id: str, since: date) -> None:
    """Give each account of a signal's ``view`` the fills the history names the signal in."""
    try:
        rows = await fills.signal_fills(signal_id, since)
    except DependencyUnavailable as exc:
        log.warning("fills of signal %s not read: %s", signal_id, exc.message)
        for account in view["accounts"]:
            account["trades"] = None
            account["trades_error"] = exc.message
        return
    by_account: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=_fill_order):
        by_account.setdefault(str(row.get("account")), []).append(trade_view(row))
    for account in view["accounts"]:
        account["trades"] = by_account.get(account["account"], [])


def _fill_order(row: Mapping[str, Any]) -> tuple[str, int]:
    at = row.get("filled_at")
    moment_text = at.isoformat() if isinstance(at, datetime) else str(at or "")
    fill_id = row.get("fill_id")
    return moment_text, fill_id if isinstance(fill_id, int) else 0


def trade_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """Render one history fill for the ops API: the leg (``entry``, ``entry.tp`` ...), side,
    quantity, price (a decimal string), when and in which order and contract."""
    at = row.get("filled_at")
    return {
        "leg": row.get("leg"),
        "side": row.get("side"),
        "qty": row.get("qty"),
        "price": row.get("price"),
        "filled_at": at.isoformat() if isinstance(at, datetime) else at,
        "order_id": row.get("order_id"),
        "fill_id": row.get("fill_id"),
        "contract": row.get("contract"),
    }
