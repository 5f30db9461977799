"""Trace the orders, queue messages, ledger entries and secrets at rest back to requests."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx

from bench.fuzz.invariants import Run
from bench.fuzz.requests import MARKER_RE
from bench.secrets_scan import ScanReport


@dataclass(frozen=True)
class Baseline:
    """What existed before the run, so a running stack's history is not blamed on it."""

    order_ids: frozenset[int]
    signal_ids: frozenset[str]


def _redis_signal_ids(redis_url: str, values: dict[str, str]) -> dict[str, set[str]]:
    """Return signal id -> the clOrdIds its ledger holds, for every queued or ledgered signal,
    and ``#{order id}`` for each OCO partner its rows name (``oco_id``): the second order of
    an ``order/placeoco`` has its own clOrdId but no row and no parent of its own."""
    from shared.adapters.redis_connect import RedisOptions, build_sync_redis
    from shared.adapters.redis_ledger import VERSION_FIELD, decode_row

    client = build_sync_redis(RedisOptions.from_environment({**values, "REDIS_URL": redis_url}))
    found: dict[str, set[str]] = defaultdict(set)
    try:
        for key in client.scan_iter(match="lq:*:d:*", count=1000):
            found[_str(key).split(":d:", 1)[1].rsplit(":", 1)[0]]
        for key in client.scan_iter(match="{ledger}:sig:*", count=1000):
            sid = _str(key).split(":sig:", 1)[1]
            for name, raw in client.hgetall(key).items():
                field = _str(name)
                if field == VERSION_FIELD:
                    continue
                found[sid].add(field)
                partner = decode_row(sid, field, raw).fields.get("oco_id")
                if isinstance(partner, int):
                    found[sid].add(f"#{partner}")
    finally:
        client.close()
    return found


def _str(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _sim_orders(admin_url: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = httpx.get(f"{admin_url}/state", timeout=30).json()["orders"]
    return sorted(orders, key=lambda o: int(o["id"]))  # a parent before its brackets


def baseline(urls: dict[str, Any], values: dict[str, str]) -> Baseline:
    """Record the orders and signals a (running) stack already has."""
    orders = _sim_orders(str(urls["tradovate_admin"])) if "tradovate_admin" in urls else []
    signals = _redis_signal_ids(str(urls["redis"]), values)
    return Baseline(frozenset(o["id"] for o in orders), frozenset(signals))


def wait_for_queue(urls: dict[str, Any], master_key: str, timeout_s: float) -> bool:
    """Wait until the signals queue holds nothing active or scheduled; say whether it did."""
    url = f"{urls['functions_background']}/admin/queues/signals"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            counts = httpx.get(url, headers={"x-functions-key": master_key}, timeout=5).json()[
                "counts"
            ]
            if counts["active"] == 0 and counts["scheduled"] == 0:
                return True
        time.sleep(0.5)
    return False


def wrongful(
    urls: dict[str, Any],
    values: dict[str, str],
    accepted: set[str],
    before: Baseline,
    accounts: list[str],
) -> list[str]:
    """Return every queued/ledgered signal and simulator order not owed to an accepted request."""
    from shared.domain.planning.model import is_leg_of

    signals = _redis_signal_ids(str(urls["redis"]), values)
    problems = [
        f"signal {sid} queued or in the ledger, but no request was answered 202 with it"
        for sid in signals
        if sid not in accepted and sid not in before.signal_ids
    ]
    owner = {cl: sid for sid, cls in signals.items() for cl in cls}
    known = accepted | before.signal_ids
    for order in _sim_orders(str(urls["tradovate_admin"])) if "tradovate_admin" in urls else []:
        if order["id"] in before.order_ids:
            continue
        cl = order.get("clOrdId") or ""
        # A bracket's legs are placed with their entry and are not in the ledger: they belong
        # to their parent's signal, and their clOrdId must still be derived from it.
        sid = (
            owner.get(cl)
            or owner.get(f"#{order.get('parentId')}")
            or owner.get(f"#{order['id']}")  # an OCO partner its signal's ledger names
        )
        if sid:
            owner[f"#{order['id']}"] = sid
        if sid not in known or not any(is_leg_of(cl, sid, a) for a in accounts):
            whose = f", signal {sid}" if sid else ""
            problems.append(f"order {order['id']} (clOrdId {cl!r}{whose}) has no 202 behind it")
    return problems


_CORRELATION_RE = re.compile(r'"correlation_id":\s*"(?:s:)?([0-9a-f]{16,64})"')
_SIGNAL_RE = re.compile(r"signal ([0-9a-f]{16,64})\b")


def signal_id_of(strategy_id: str, alert_id: str) -> str:
    """Return the signal id the webhook gives an alert with an explicit id.

    The derivation of ``shared/services/ingest.py`` (``_dedupe_key``), repeated here so that a
    signal with no 202 behind it can be traced to its request; should it change, attribution
    falls back to the journal.
    """
    text = "\n".join((strategy_id, "id", alert_id))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def attribute_signal(
    urls: dict[str, Any], values: dict[str, str], problem: str, sent: dict[str, str]
) -> tuple[str, str]:
    """Find the request behind a wrongful signal: by its alert id (``sent``: signal id ->
    marker), else by its correlation id (ledger or queue) in the journal, whose raw text
    carries the request's marker."""
    from azure.data.tables import TableServiceClient

    from bench.secrets_scan import tables_connection_string

    found = _SIGNAL_RE.search(problem)
    if found is None:
        return "(unattributed)", problem
    if found.group(1) in sent:
        mark = sent[found.group(1)]
        return mark.split("-")[2], f"{problem} ({mark})"
    if "tables" not in urls:
        return "(unattributed)", problem
    correlations = _signal_correlations(str(urls["redis"]), values, found.group(1))
    service = TableServiceClient.from_connection_string(tables_connection_string(urls["tables"]))
    with service:
        for table in service.list_tables():
            if not table.name.endswith("Alerts"):
                continue
            client = service.get_table_client(table.name)
            queries = [("RowKey eq @v", found.group(1))]
            queries += [("correlation_id eq @v", cid) for cid in correlations]
            for query, value in queries:
                for row in client.query_entities(query, parameters={"v": value}):
                    hit = MARKER_RE.search(str(row.get("raw_redacted", "")))
                    answer = f"journaled {row.get('status')} {row.get('reason_code') or ''}"
                    if hit:
                        return hit.group(0).split("-")[2], f"{problem} ({hit.group(0)}, {answer})"
    return "(unattributed)", problem


def _signal_correlations(redis_url: str, values: dict[str, str], signal_id: str) -> set[str]:
    from shared.adapters.redis_connect import RedisOptions, build_sync_redis

    client = build_sync_redis(RedisOptions.from_environment({**values, "REDIS_URL": redis_url}))
    texts: list[bytes | str] = []
    try:
        texts += client.hvals(f"{{ledger}}:sig:{signal_id}")
        for key in client.scan_iter(match="lq:*:s:*", count=1000):
            if client.type(key) == b"list":
                texts += [m for m in client.lrange(key, 0, -1) if signal_id in _str(m)]
    finally:
        client.close()
    return {m for t in texts for m in _CORRELATION_RE.findall(_str(t))}


def attribute_hits(run: Run, report: ScanReport) -> None:
    """File each secret found at rest under the category of the request it came from."""
    for hit in report.hits:
        categories = {m.split("-")[2] for m in hit.markers} or {"(unattributed)"}
        for category in categories:
            line = f"{hit.secret} ({hit.form}) in {hit.where}: ...{hit.snippet}..."
            run.secrets.setdefault(category, []).append(line)
