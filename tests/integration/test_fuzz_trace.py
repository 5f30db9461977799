"""The fuzzer's order tracing: every order of an accepted signal is owed, no other order is.

The ledger rows are written to a real Redis the way the executor writes them; the
simulator's order list is handed in, so each shape of order Tradebridge places is covered.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from bench.fuzz import trace
from shared.adapters.redis_ledger import VERSION_FIELD, encode_row, signal_key
from shared.domain.planning.model import client_order_id
from shared.ports import LedgerEntry

pytestmark = pytest.mark.integration

ACCOUNT = "DEMO1"
SIGNAL = "a1" * 16


def _ledger(redis_url: str, rows: list[LedgerEntry]) -> None:
    client = redis.Redis.from_url(redis_url)
    mapping = {row.row_key: encode_row(row) for row in rows}
    client.hset(signal_key(SIGNAL), mapping={**mapping, VERSION_FIELD: "3"})
    client.close()


def _wrongful(
    redis_url: str, orders: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    monkeypatch.setattr(trace, "_sim_orders", lambda _admin: orders)
    urls = {"redis": redis_url, "tradovate_admin": "http://sim.invalid"}
    empty = trace.Baseline(frozenset(), frozenset())
    return trace.wrongful(urls, {}, {SIGNAL}, empty, [ACCOUNT])


def test_entry_bracket_legs_and_the_oco_partner_of_a_fill_anchored_exit_are_owed(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = client_order_id(SIGNAL, ACCOUNT, "entry")
    take_profit = client_order_id(SIGNAL, ACCOUNT, "entry.tp")
    stop = client_order_id(SIGNAL, ACCOUNT, "entry.sl")
    _ledger(
        redis_url,
        [
            LedgerEntry(SIGNAL, entry, "acknowledged", {"order_id": 10}),
            # The exits placed around the fill: one placeoco, one row, the partner by id.
            LedgerEntry(SIGNAL, take_profit, "acknowledged", {"order_id": 12, "oco_id": 13}),
            LedgerEntry(SIGNAL, f"exec:{ACCOUNT}", "done", {}),
        ],
    )
    orders = [
        {"id": 10, "clOrdId": entry},
        {"id": 11, "clOrdId": client_order_id(SIGNAL, ACCOUNT, "entry.x"), "parentId": 10},
        {"id": 12, "clOrdId": take_profit},
        {"id": 13, "clOrdId": stop},
    ]

    assert _wrongful(redis_url, orders, monkeypatch) == []


def test_an_order_the_ledger_does_not_lead_to_is_reported_even_with_a_leg_id(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = client_order_id(SIGNAL, ACCOUNT, "entry")
    _ledger(redis_url, [LedgerEntry(SIGNAL, entry, "acknowledged", {"order_id": 20})])
    stray = client_order_id(SIGNAL, ACCOUNT, "entry.sl")  # no row, no parent, no OCO link
    foreign = client_order_id("b2" * 16, ACCOUNT, "entry")
    orders = [
        {"id": 20, "clOrdId": entry},
        {"id": 21, "clOrdId": stray},
        {"id": 22, "clOrdId": foreign},
    ]

    problems = _wrongful(redis_url, orders, monkeypatch)

    assert [p.split(" ")[1] for p in problems] == ["21", "22"]
