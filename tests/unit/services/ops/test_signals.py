"""The signal journal: newest first, filters, cursor paging, and one signal whole."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared.domain.clock import ManualClock
from shared.domain.errors import DependencyUnavailable, InvalidRequest, NotFound
from shared.ports import AlertRecord, LedgerEntry
from shared.services.ops.signals import MAX_ROWS_PER_READ, SignalLog, read_query
from tests.unit.services.ops.fakes import NOW, FakeJournal, FakeStore, book

SIGNAL = {"source": "native", "intent": "buy",
          "symbol": {"root": "NQ", "continuous": 1, "month": None, "year": None,
                     "year_digit": None, "exchange": None}, "accounts": []}  # fmt: skip


def record(n: int, *, status: str = "accepted", strategy: str = "trend", **kw: Any) -> AlertRecord:
    values: dict[str, Any] = {
        "strategy_id": strategy,
        "signal_id": f"sig{n:02d}",
        "status": status,
        "received_at": NOW - timedelta(minutes=n),
        "correlation_id": f"c{n}",
        "raw_redacted": "{}",
        "signal_json": json.dumps(SIGNAL),
        "messages": 2 if status == "accepted" else 0,
    }
    values.update(kw)
    return AlertRecord(**values)


def summary(signal_id: str, account: str, status: str, **fields: Any) -> LedgerEntry:
    return LedgerEntry(signal_id, f"exec:{account}", status,
                       {"strategy": "trend", "root": "MNQ", **fields})  # fmt: skip


class ArchiveLedger:
    def __init__(self, rows: dict[str, list[LedgerEntry]] | None = None) -> None:
        self.rows_by_signal = rows or {}
        self.asked: list[str] = []

    async def rows(self, signal_id: str) -> list[LedgerEntry]:
        self.asked.append(signal_id)
        return list(self.rows_by_signal.get(signal_id, []))


def log(
    records: list[AlertRecord],
    ledger: dict[str, list[LedgerEntry]] | None = None,
    archive: ArchiveLedger | None = None,
    fills: Any = None,
) -> tuple[SignalLog, FakeStore, FakeJournal]:
    journal, store = FakeJournal(), FakeStore()
    journal.records = records
    store.ledger = ledger or {}
    service = SignalLog(book(), journal, store, archive or ArchiveLedger(),  # type: ignore[arg-type]
                        ManualClock(NOW), ledger_ttl_s=14 * 86400, fills=fills)  # fmt: skip
    return service, store, journal


async def page(service: SignalLog, **params: str) -> dict[str, Any]:
    return await service.page(read_query(params, NOW))


async def test_page_is_newest_first_with_a_cursor_to_the_next() -> None:
    service, store, _ = log([record(n) for n in (5, 1, 3, 2, 4)])
    first = await page(service, limit="2")
    assert [s["id"] for s in first["signals"]] == ["sig01", "sig02"]
    assert first["next"]
    second = await page(service, limit="2", cursor=first["next"])
    assert [s["id"] for s in second["signals"]] == ["sig03", "sig04"]
    third = await page(service, limit="2", cursor=second["next"])
    assert [s["id"] for s in third["signals"]] == ["sig05"]
    assert third["next"] is None
    assert store.reads == 3  # one ledger read per page


async def test_page_shows_execution_status_per_signal() -> None:
    ledger = {
        "sig01": [summary("sig01", "DEMO1", "done"), summary("sig01", "DEMO2", "done")],
        "sig02": [summary("sig02", "DEMO1", "done"), summary("sig02", "DEMO2", "denied",
                                                           reason_code="kill_switch_global")],
        "sig03": [summary("sig03", "DEMO1", "planned")],
    }  # fmt: skip
    records = [record(1), record(2), record(3), record(4), record(5, status="refused",
               reason_code="unauthorized")]  # fmt: skip
    service, _, _ = log(records, ledger)
    found = {s["id"]: s for s in (await page(service))["signals"]}
    assert {k: v["status"] for k, v in found.items()} == {
        "sig01": "done", "sig02": "mixed", "sig03": "executing", "sig04": "queued",
        "sig05": "refused",
    }  # fmt: skip
    assert found["sig02"]["accounts"][1] == {
        "account": "DEMO2", "status": "denied", "reason_code": "kill_switch_global"
    }  # fmt: skip
    assert found["sig01"]["symbol"] == "NQ1!"
    assert found["sig01"]["intent"] == "buy"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "done"}, ["sig01"]),
        ({"status": "denied"}, ["sig03"]),
        ({"status": "refused"}, ["sig04"]),
        ({"status": "accepted"}, ["sig01", "sig02", "sig03"]),
        ({"account": "DEMO2"}, ["sig02"]),
        ({"account": "DEMO1"}, ["sig01", "sig03"]),
        ({"strategy": "scalp"}, ["sig02"]),
        ({"symbol": "MNQ"}, ["sig01", "sig03"]),
        ({"symbol": "NQ"}, ["sig01", "sig02", "sig03", "sig04"]),
        ({"symbol": "NQ1!"}, ["sig01", "sig02", "sig03", "sig04"]),
        ({"symbol": "MNQ1!"}, ["sig01", "sig03"]),
        ({"symbol": "NQZ6"}, []),
        ({"since": (NOW - timedelta(minutes=2, seconds=30)).isoformat()}, ["sig01", "sig02"]),
    ],
)
async def test_filters_select_signals(params: dict[str, str], expected: list[str]) -> None:
    ledger = {
        "sig01": [summary("sig01", "DEMO1", "done")],
        "sig03": [summary("sig03", "DEMO1", "denied")],
    }
    records = [
        record(1, messages=1),
        record(2, strategy="scalp", messages=1,
               signal_json=json.dumps({**SIGNAL, "accounts": [{"account": "DEMO2"}]})),
        record(3, messages=1),
        record(4, status="refused"),
    ]  # fmt: skip
    service, _, _ = log(records, ledger)
    assert [s["id"] for s in (await page(service, **params))["signals"]] == expected


async def test_queued_signal_without_named_accounts_belongs_to_the_strategys_accounts() -> None:
    service, _, _ = log([record(1)])
    assert [s["id"] for s in (await page(service, account="DEMO2"))["signals"]] == ["sig01"]
    assert (await page(service, account="NOID"))["signals"] == []


async def test_duplicates_are_listed_and_paged_by_their_own_row() -> None:
    records = [record(1), record(1, status="duplicate", correlation_id="dup",
                                received_at=NOW - timedelta(seconds=30))]  # fmt: skip
    service, _, _ = log(records)
    first = await page(service, limit="1")
    assert first["signals"][0]["status"] == "duplicate"
    second = await page(service, limit="1", cursor=first["next"])
    assert second["signals"][0]["status"] == "queued"


async def test_old_signals_read_their_ledger_from_the_archive() -> None:
    old = record(1, received_at=NOW - timedelta(days=20))
    archive = ArchiveLedger({"sig01": [summary("sig01", "DEMO1", "done")]})
    service, _, _ = log([old], archive=archive)
    since = (NOW - timedelta(days=21)).isoformat()
    found = (await page(service, since=since))["signals"]
    assert found[0]["accounts"][0]["status"] == "done"
    assert archive.asked == ["sig01"]


async def test_a_slice_at_the_row_cap_is_read_again_narrower() -> None:
    records = [record(0, signal_id=f"many{i:04d}", received_at=NOW - timedelta(seconds=(i + 1) / 2))
               for i in range(MAX_ROWS_PER_READ + 5)]  # fmt: skip
    service, _, journal = log(records)
    found = await page(service, limit="3")
    assert [s["id"] for s in found["signals"]] == ["many0000", "many0001", "many0002"]
    widths = [until - since for since, until, _ in journal.queries[:2]]
    assert widths[1] < widths[0]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "exploded"}, "bad_filter"),
        ({"symbol": "%%%"}, "bad_filter"),
        ({"since": "2026-11-20T16:00:00Z", "until": "2026-11-20T15:00:00Z"}, "bad_filter"),
        ({"since": "2026-01-01T00:00:00Z"}, "window_too_large"),
        ({"limit": "0"}, "bad_filter"),
        ({"cursor": "not-a-cursor"}, "bad_cursor"),
        ({"colour": "red"}, "bad_filter"),
    ],
)
def test_read_query_refuses_bad_filters(params: dict[str, str], code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        read_query(params, NOW)
    assert info.value.code == code


async def test_detail_finds_the_strategy_in_the_ledger_and_shows_everything() -> None:
    t0 = NOW - timedelta(seconds=5)
    rows = [
        summary("sig01", "DEMO1", "done", received_at=t0, enqueued_at=t0 + timedelta(
            milliseconds=3), dequeued_at=t0 + timedelta(milliseconds=10),
            finished_at=t0 + timedelta(milliseconds=90), plan='{"commands": []}',
            basis='{"source": "cache"}', fills="confirmed", settled_ms=12, settled_by="cache"),
        LedgerEntry("sig01", "tb-leg-1", "filled", {
            "account": "DEMO1", "leg": "entry", "claimed_at": t0 + timedelta(milliseconds=20),
            "sent_at": t0 + timedelta(milliseconds=21), "acked_at": t0 + timedelta(
                milliseconds=60), "order_id": 42, "filled_at": t0 + timedelta(milliseconds=70),
            "settled_qty": 1}),
    ]  # fmt: skip
    archive = ArchiveLedger({"sig01": rows})
    service, _, _journal = log([record(1, received_at=t0, tv_time=t0 - timedelta(seconds=1))],
                              archive=archive)  # fmt: skip
    found = await service.detail("sig01", None)
    assert found["strategy"] == "trend"
    assert found["status"] == "executing"  # the journal says two accounts, one reported
    assert found["signal"]["intent"] == "buy"
    account = found["accounts"][0]
    assert account["plan"] == {"commands": []}
    assert account["basis"] == {"source": "cache"}
    assert account["legs"][0]["order_id"] == 42
    assert account["legs"][0]["claimed_at"] == (t0 + timedelta(milliseconds=20)).isoformat()
    steps = {s["step"]: s["ms"] for s in account["timeline"]["steps"]}
    assert steps == {"tradingview": None, "received": 1000.0, "enqueued": 3.0, "dequeued": 7.0,
                     "claimed": 10.0, "sent": 1.0, "acknowledged": 39.0, "filled": 10.0,
                     "finished": 20.0}  # fmt: skip
    assert account["timeline"]["total_ms"] == 1090.0


async def test_detail_without_ledger_rows_searches_the_journal_by_id() -> None:
    service, _, _ = log([record(7, status="refused", reason_code="unauthorized")])
    found = await service.detail("sig07", None)
    assert found["status"] == "refused"
    assert found["accounts"] == []
    assert found["journal"]["reason_code"] == "unauthorized"


async def test_detail_of_an_unknown_or_malformed_id_is_refused() -> None:
    service, _, _ = log([])
    with pytest.raises(NotFound) as info:
        await service.detail("nothing", "trend")
    assert info.value.code == "unknown_signal"
    with pytest.raises(InvalidRequest):
        await service.detail("a/b", None)


class Fills:
    def __init__(self, rows: list[dict[str, Any]], *, down: bool = False) -> None:
        self.rows, self.down = rows, down
        self.asked: list[tuple[str, date]] = []

    async def signal_fills(self, signal_id: str, since: date) -> list[dict[str, Any]]:
        self.asked.append((signal_id, since))
        if self.down:
            raise DependencyUnavailable("the fill history could not be read: ServiceRequestError")
        return [r for r in self.rows if r["signal_id"] == signal_id]


def fill_row(fill_id: int, account: str, leg: str, side: str, price: str, at: datetime) -> dict:  # type: ignore[type-arg]
    return {"signal_id": "sig01", "fill_id": fill_id, "order_id": 100 + fill_id,
            "account": account, "leg": leg, "side": side, "qty": 1, "price": price,
            "filled_at": at, "contract": "MNQZ6"}  # fmt: skip


async def test_detail_lists_each_accounts_trades_entry_and_exit_oldest_first() -> None:
    t0 = NOW - timedelta(days=2)  # a swing: the take profit filled days after the entry
    rows = [summary("sig01", "DEMO1", "done"), summary("sig01", "DEMO2", "done")]
    fills = Fills([
        fill_row(9, "DEMO1", "entry.tp", "sell", "21010", NOW - timedelta(hours=1)),
        fill_row(3, "DEMO1", "entry", "buy", "21000", t0),
        fill_row(4, "DEMO2", "entry", "buy", "21000.25", t0),
    ])  # fmt: skip
    archive = ArchiveLedger({"sig01": rows})
    service, _, _ = log([record(1, received_at=t0)], archive=archive, fills=fills)
    found = await service.detail("sig01", None)
    trades = {a["account"]: a["trades"] for a in found["accounts"]}
    assert [(t["leg"], t["side"], t["price"]) for t in trades["DEMO1"]] == [
        ("entry", "buy", "21000"),
        ("entry.tp", "sell", "21010"),
    ]
    assert [t["fill_id"] for t in trades["DEMO2"]] == [4]
    assert trades["DEMO1"][0]["filled_at"] == t0.isoformat()
    # Read from the day the alert came in, whatever day the exit filled.
    assert fills.asked == [("sig01", t0.astimezone(UTC).date())]


async def test_detail_with_the_history_down_still_answers_and_says_why() -> None:
    rows = [summary("sig01", "DEMO1", "done")]
    archive = ArchiveLedger({"sig01": rows})
    service, _, _ = log([record(1)], archive=archive, fills=Fills([], down=True))
    [account] = (await service.detail("sig01", None))["accounts"]
    assert account["trades"] is None
    assert "could not be read" in account["trades_error"]
    assert account["status"] == "done"
