"""Rendering a signal's ledger rows: overall status, legs and the timeline."""

from __future__ import annotations

from datetime import timedelta

from shared.ports import AlertRecord, LedgerEntry
from shared.services.ops.timeline import leg_view, signal_view, status_of, timeline
from tests.unit.services.ops.fakes import NOW


def record(status: str = "accepted", messages: int = 1) -> AlertRecord:
    return AlertRecord("trend", "s1", status, NOW, "c1", "{}", messages=messages,
                       signal_json="not json")  # fmt: skip


def summary(account: str, status: str) -> LedgerEntry:
    return LedgerEntry("s1", f"exec:{account}", status, {"strategy": "trend"})


def test_status_of_follows_the_journal_then_the_accounts() -> None:
    assert status_of(record("refused"), []) == "refused"
    assert status_of(record(), []) == "queued"
    assert status_of(None, [summary("A", "done")]) == "done"
    assert status_of(record(messages=2), [summary("A", "done")]) == "executing"
    assert status_of(record(messages=2), [summary("A", "done"), summary("B", "rejected")]) == (
        "mixed"
    )


def test_timeline_without_any_time_has_no_total() -> None:
    found = timeline(None, None, None, [])
    assert found["total_ms"] is None
    assert {s["at"] for s in found["steps"]} == {None}


def test_timeline_takes_first_claim_and_last_fill_over_legs() -> None:
    legs = [
        LedgerEntry("s1", "a", "filled", {"claimed_at": NOW + timedelta(milliseconds=5),
                                          "filled_at": NOW + timedelta(milliseconds=50)}),
        LedgerEntry("s1", "b", "filled", {"claimed_at": NOW + timedelta(milliseconds=2),
                                          "filled_at": NOW + timedelta(milliseconds=80)}),
    ]  # fmt: skip
    steps = {s["step"]: s for s in timeline(None, NOW, None, legs)["steps"]}
    assert steps["claimed"]["ms"] == 2.0
    assert steps["filled"]["ms"] == 78.0


def test_signal_view_without_journal_row_names_strategy_from_the_ledger() -> None:
    rows = [summary("A", "denied"), LedgerEntry("s1", "leg", "claimed", {"account": "A",
                                                                         "plan": "x"})]  # fmt: skip
    found = signal_view("s1", None, rows)
    assert found["strategy"] == "trend"
    assert found["journal"] is None
    assert found["accounts"][0]["legs"][0]["cl_ord_id"] == "leg"
    assert signal_view("s1", record(), [])["signal"] == "not json"


def test_leg_view_renders_times_as_iso() -> None:
    assert leg_view(LedgerEntry("s1", "leg", "sent", {"sent_at": NOW}))["sent_at"] == (
        NOW.isoformat()
    )
