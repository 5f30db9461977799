"""GET /api/health/metrics: counts and nearest-rank percentiles from the journal and ledger."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.domain.clock import ManualClock
from shared.domain.errors import InvalidRequest, NotFound
from shared.ports import AlertRecord, LedgerEntry
from shared.services.ops.metrics import Metrics, milliseconds, nearest_rank, summarise
from tests.unit.services.ops.fakes import NOW, FakeJournal, FakeStore, book


@pytest.mark.parametrize(
    ("samples", "percent", "expected"),
    [
        ([7], 50, 7),
        ([7], 99, 7),
        ([1, 2, 3, 4], 50, 2),  # rank ceil(2.0) = 2
        ([1, 2, 3, 4, 5], 50, 3),  # rank ceil(2.5) = 3
        (list(range(1, 11)), 90, 9),
        (list(range(1, 11)), 99, 10),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 101)), 100, 100),
    ],
)
def test_nearest_rank_picks_a_measured_sample(
    samples: list[int], percent: int, expected: int
) -> None:
    assert nearest_rank(samples, percent) == expected


def test_nearest_rank_refuses_no_samples_and_bad_percents() -> None:
    with pytest.raises(ValueError, match="no samples"):
        nearest_rank([], 50)
    with pytest.raises(ValueError, match="percent"):
        nearest_rank([1], 0)


def test_milliseconds_render_exact_microseconds_as_decimal_text() -> None:
    assert milliseconds(1234) == "1.234"
    assert milliseconds(0) == "0.000"
    assert milliseconds(5_000_001) == "5000.001"


def test_summarise_without_samples_is_all_null_and_ordered_with_them() -> None:
    assert summarise([]) == {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None,
                             "max_ms": None}  # fmt: skip
    assert summarise([3000, 1000, 2000]) == {
        "count": 3, "p50_ms": "2.000", "p90_ms": "3.000", "p99_ms": "3.000", "max_ms": "3.000"
    }  # fmt: skip


def record(n: int, ago: timedelta, status: str = "accepted", strategy: str = "trend",
           reason: str | None = None) -> AlertRecord:  # fmt: skip
    return AlertRecord(
        strategy_id=strategy, signal_id=f"s{n}", status=status, received_at=NOW - ago,
        correlation_id=f"c{n}", raw_redacted="{}", reason_code=reason, messages=1,
    )  # fmt: skip


def executed(store: FakeStore, rec: AlertRecord, status: str, *, enqueue_us: int,
             sent_us: int | None = None, reason: str | None = None) -> None:  # fmt: skip
    received = rec.received_at
    summary = LedgerEntry(rec.signal_id, "exec:DEMO1", status, {
        "received_at": received,
        "enqueued_at": received + timedelta(microseconds=enqueue_us),
        "dequeued_at": received + timedelta(microseconds=enqueue_us + 100),
        "finished_at": received + timedelta(milliseconds=50),
        "reason_code": reason,
    })  # fmt: skip
    rows = [summary]
    if sent_us is not None:
        sent = received + timedelta(microseconds=sent_us)
        rows.append(LedgerEntry(rec.signal_id, f"tb-{rec.signal_id}", "acknowledged", {
            "account": "DEMO1", "claimed_at": sent, "sent_at": sent,
            "acked_at": sent + timedelta(milliseconds=2),
        }))  # fmt: skip
    store.ledger[rec.signal_id] = rows


def metrics(journal: FakeJournal, store: FakeStore, cap: int = 100) -> Metrics:
    return Metrics(book(), journal, store, ManualClock(NOW), row_cap=cap)


async def test_report_counts_each_window_and_measures_spans() -> None:
    journal, store = FakeJournal(), FakeStore()
    recent = [record(1, timedelta(minutes=5)), record(2, timedelta(minutes=10)),
              record(3, timedelta(minutes=20))]  # fmt: skip
    journal.records = [
        *recent,
        record(4, timedelta(minutes=30), status="refused", reason="unauthorized"),
        record(5, timedelta(minutes=40), status="duplicate"),
        record(6, timedelta(hours=3)),
        record(7, timedelta(hours=30)),  # outside both windows
    ]
    executed(store, recent[0], "done", enqueue_us=1000, sent_us=5000)
    executed(store, recent[1], "done", enqueue_us=3000, sent_us=9000)
    executed(store, recent[2], "denied", enqueue_us=2000, reason="max_position")
    executed(store, journal.records[5], "done", enqueue_us=8000, sent_us=12000)
    body = await metrics(journal, store).report({})
    hour, day = body["windows"]["last_hour"], body["windows"]["last_day"]
    assert (body["rows_read"], body["capped"]) == (6, False)
    assert hour["webhook"] == {"accepted": 3, "duplicate": 1, "refused": 1}
    assert hour["signals"]["done"] == 2
    assert hour["signals"]["denied"] == 1
    assert hour["executions"] == {"denied": 1, "done": 2}
    assert hour["refusals"] == {"unauthorized": 1}
    assert hour["denials"] == {"max_position": 1}
    assert hour["latency"]["received_to_enqueued"] == {
        "count": 3, "p50_ms": "2.000", "p90_ms": "3.000", "p99_ms": "3.000", "max_ms": "3.000"
    }  # fmt: skip
    assert hour["latency"]["sent_to_acknowledged"]["count"] == 2
    assert hour["latency"]["received_to_filled"]["count"] == 0
    assert day["webhook"]["accepted"] == 4
    assert day["latency"]["received_to_enqueued"]["max_ms"] == "8.000"
    assert hour["complete"] is True
    assert day["complete"] is True


async def test_report_with_a_queued_signal_counts_it_without_latency() -> None:
    journal, store = FakeJournal(), FakeStore()
    journal.records = [record(1, timedelta(minutes=1))]
    body = await metrics(journal, store).report({"strategy": "trend"})
    hour = body["windows"]["last_hour"]
    assert body["strategy"] == "trend"
    assert hour["signals"]["queued"] == 1
    assert hour["latency"]["received_to_enqueued"]["count"] == 0


async def test_report_over_the_row_cap_says_which_windows_are_incomplete() -> None:
    journal, store = FakeJournal(), FakeStore()
    journal.records = [record(n, timedelta(minutes=n)) for n in range(1, 4)]
    journal.records += [record(n, timedelta(hours=n)) for n in range(2, 6)]
    body = await metrics(journal, store, cap=5).report({})
    assert (body["rows_read"], body["capped"]) == (5, True)
    assert body["windows"]["last_hour"]["complete"] is True
    assert body["windows"]["last_day"]["complete"] is False
    assert body["windows"]["last_day"]["alerts"] == 5
    cut = await metrics(journal, store, cap=2).report({})
    assert cut["windows"]["last_hour"]["complete"] is False
    assert cut["windows"]["last_day"]["complete"] is False
    assert cut["windows"]["last_hour"]["alerts"] == 2
    assert cut["rows_read"] == 2


async def test_report_refuses_a_bad_or_unknown_strategy() -> None:
    m = metrics(FakeJournal(), FakeStore())
    with pytest.raises(InvalidRequest) as bad:
        await m.report({"strategy": "Not An Id"})
    assert bad.value.code == "bad_filter"
    with pytest.raises(NotFound) as unknown:
        await m.report({"strategy": "nope"})
    assert unknown.value.code == "unknown_strategy"


async def test_report_reads_the_ledger_only_for_accepted_alerts() -> None:
    journal, store = FakeJournal(), FakeStore()
    journal.records = [record(1, timedelta(minutes=1), status="refused", reason="unknown_symbol")]
    body = await metrics(journal, store).report({})
    assert store.reads == 0
    assert body["windows"]["last_hour"]["refusals"] == {"unknown_symbol": 1}
    assert isinstance(datetime.fromisoformat(body["as_of"]), datetime)
