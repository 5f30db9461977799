"""Render a signal's ledger rows as the ops API shows them: status, legs, and the timeline.

Pure. The timeline of one account's execution follows the signal from TradingView to the fill::

    tradingview → received → enqueued → dequeued → claimed → sent → acknowledged → filled

(then ``finished``, when the executor wrote the outcome), each step with its time and the
milliseconds since the step before it that has a time. A denied signal stops at ``dequeued``
and ``finished``; a leg's steps are taken over all legs: the first claim and send, the last
acknowledgement and fill.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.ports import AlertRecord, LedgerEntry

FINAL = frozenset({"done", "denied", "rejected"})
SUMMARY_PREFIX = "exec:"


def plain(value: object) -> Any:
    """Render a ledger field for JSON: times as ISO-8601, the rest as is."""
    return value.isoformat() if isinstance(value, datetime) else value


def summaries(rows: Iterable[LedgerEntry]) -> dict[str, LedgerEntry]:
    """Return the execution summaries by account."""
    return {
        r.row_key.removeprefix(SUMMARY_PREFIX): r
        for r in rows
        if r.row_key.startswith(SUMMARY_PREFIX)
    }


def status_of(record: AlertRecord | None, rows: Sequence[LedgerEntry]) -> str:
    """Return a signal's overall status.

    ``refused`` or ``duplicate`` (the webhook's answer); for an accepted alert ``queued``
    (no execution yet), ``executing`` (an account is not finished), else the accounts'
    common outcome (``done``, ``denied``, ``rejected``) or ``mixed``.
    """
    if record is not None and record.status in ("refused", "duplicate"):
        return record.status
    found = summaries(rows)
    if not found:
        return "queued"
    states = {s.status for s in found.values()}
    expected = record.messages if record is not None else 0
    if states - FINAL or len(found) < expected:
        return "executing"
    return states.pop() if len(states) == 1 else "mixed"


def _time(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _first(times: Iterable[object]) -> datetime | None:
    found = [t for t in (_time(v) for v in times) if t is not None]
    return min(found) if found else None


def _last(times: Iterable[object]) -> datetime | None:
    found = [t for t in (_time(v) for v in times) if t is not None]
    return max(found) if found else None


def timeline(
    tv_time: datetime | None,
    received_at: datetime | None,
    summary: LedgerEntry | None,
    legs: Sequence[LedgerEntry],
) -> dict[str, Any]:
    """Return the steps of one account's execution with the milliseconds between them."""
    fields: Mapping[str, Any] = summary.fields if summary is not None else {}
    steps = [
        ("tradingview", tv_time or _time(fields.get("tv_time"))),
        ("received", received_at or _time(fields.get("received_at"))),
        ("enqueued", _time(fields.get("enqueued_at"))),
        ("dequeued", _time(fields.get("dequeued_at"))),
        ("claimed", _first(leg.fields.get("claimed_at") for leg in legs)),
        ("sent", _first(leg.fields.get("sent_at") for leg in legs)),
        ("acknowledged", _last(leg.fields.get("acked_at") for leg in legs)),
        ("filled", _last(leg.fields.get("filled_at") for leg in legs)),
        ("finished", _time(fields.get("finished_at"))),
    ]
    out: list[dict[str, Any]] = []
    previous: datetime | None = None
    first: datetime | None = None
    for name, at in steps:
        if at is None:
            out.append({"step": name, "at": None, "ms": None})
            continue
        ms = None if previous is None else round((at - previous).total_seconds() * 1000, 1)
        out.append({"step": name, "at": at.isoformat(), "ms": ms})
        previous, first = at, first or at
    total = None if first is None or previous is None else (previous - first).total_seconds()
    return {"steps": out, "total_ms": None if total is None else round(total * 1000, 1)}


def _json_field(value: object) -> Any:
    if not isinstance(value, str) or not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def leg_view(row: LedgerEntry) -> dict[str, Any]:
    """Render one leg: its clOrdId, status and every field the executor and worker wrote."""
    return {
        "cl_ord_id": row.row_key,
        "status": row.status,
        **{name: plain(value) for name, value in sorted(row.fields.items())},
    }


_SUMMARY_SCALARS = (
    "detail", "reason_code", "reason", "fills", "settled_ms", "settled_by", "delivery_count",
    "message_id", "root", "correlation_id",
)  # fmt: skip


def account_view(
    account: str,
    summary: LedgerEntry | None,
    legs: Sequence[LedgerEntry],
    record: AlertRecord | None,
) -> dict[str, Any]:
    """Render one account's execution: outcome, plan, basis, legs and timeline."""
    fields: Mapping[str, Any] = summary.fields if summary is not None else {}
    view: dict[str, Any] = {
        "account": account,
        "status": summary.status if summary is not None else "queued",
    }
    view.update({name: plain(fields.get(name)) for name in _SUMMARY_SCALARS})
    view["plan"] = _json_field(fields.get("plan"))
    view["basis"] = _json_field(fields.get("basis"))
    view["legs"] = [leg_view(leg) for leg in legs]
    view["timeline"] = timeline(
        record.tv_time if record is not None else None,
        record.received_at if record is not None else None,
        summary,
        legs,
    )
    return view


def signal_view(
    signal_id: str, record: AlertRecord | None, rows: Sequence[LedgerEntry]
) -> dict[str, Any]:
    """Render a whole signal: the journal's record, the parsed signal, every account."""
    found = summaries(rows)
    legs_by_account: dict[str, list[LedgerEntry]] = {}
    for row in rows:
        if not row.row_key.startswith(SUMMARY_PREFIX):
            legs_by_account.setdefault(str(row.fields.get("account", "")), []).append(row)
    accounts = sorted(set(found) | {a for a in legs_by_account if a})
    strategy = record.strategy_id if record is not None else _strategy_of(rows)
    return {
        "id": signal_id,
        "strategy": strategy,
        "status": status_of(record, rows),
        "journal": None if record is None else _journal_view(record),
        "signal": None if record is None else _json_field(record.signal_json),
        "accounts": [
            account_view(a, found.get(a), legs_by_account.get(a, []), record) for a in accounts
        ],
    }


def _strategy_of(rows: Sequence[LedgerEntry]) -> str | None:
    for row in rows:
        strategy = row.fields.get("strategy")
        if isinstance(strategy, str):
            return strategy
    return None


def _journal_view(record: AlertRecord) -> dict[str, Any]:
    return {
        "status": record.status,
        "received_at": record.received_at.isoformat(),
        "tv_time": None if record.tv_time is None else record.tv_time.isoformat(),
        "correlation_id": record.correlation_id,
        "format": record.alert_format,
        "reason_code": record.reason_code,
        "reason": record.reason,
        "messages": record.messages,
        "client_ip": record.client_ip,
        "raw": record.raw_redacted,
        "extras": _json_field(record.extras_json),
    }
