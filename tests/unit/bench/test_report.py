"""The benchmark's table: targets judged against same-run baselines, and its JSON document."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from bench.report import (
    Row,
    Target,
    block_ratio_interval,
    build_rows,
    document,
    render_intervals,
    render_table,
    summarize,
)


def test_target_ratio_and_bound_both_must_hold() -> None:
    target = Target(max_ratio=1.3, below=15)
    assert target.met(14.0, 12.0) is True  # 1.17x, under 15
    assert target.met(16.0, 13.0) is False  # 1.23x but not under 15
    assert target.met(14.0, 10.0) is False  # under 15 but 1.4x
    assert target.met(15.0, 100.0) is False  # "<" is strict
    assert target.describe("ms") == "<= 1.3x and < 15 ms"


def test_target_minimum_ratio_and_at_most() -> None:
    assert Target(min_ratio=0.9).met(90.0, 100.0) is True
    assert Target(min_ratio=0.9).met(89.0, 100.0) is False
    assert Target(at_most=3).met(3.0, None) is True
    assert Target(at_most=3).met(3.01, None) is False
    assert Target(min_ratio=0.9).describe("alerts/s") == ">= 0.9x"


@pytest.mark.parametrize(("value", "baseline"), [(None, 1.0), (1.0, None), (1.0, 0.0)])
def test_target_without_value_or_usable_baseline_cannot_be_judged(
    value: float | None, baseline: float | None
) -> None:
    assert Target(max_ratio=1.5).met(value, baseline) is None


def test_row_ratio_and_verdict() -> None:
    row = Row("x", "ms", 6.0, 4.0, "base", Target(max_ratio=1.5))
    assert row.ratio == 1.5
    assert row.passed is True
    assert Row("x", "ms", 6.0, 0.0).ratio is None
    assert Row("x", "ms", 6.0, 4.0).passed is None  # no target


def _raw(scale: float = 1.0) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Raw results as the three measurements return them (seconds)."""

    def design(base_s: float, requests: float) -> dict[str, Any]:
        ms = [base_s * (1 + i / 100) for i in range(100)]  # base .. base x 1.99
        return {
            "one_at_a_time": ms,
            "burst": [v * 50 for v in ms],
            "burst_p99_by_run": [1.0],
            "post_to_sim_stamp": [v - 0.001 for v in ms],
            "stages": {
                "executor_own": [0.0005] * 99 + [0.004],
                "broker": [0.002] * 100,
                "enqueued_to_delivery": [0.0008] * 100,
            },
            "tradovate_requests_per_order": requests,
            "tradovate_requests": {"order/placeorder": 200},
        }

    e2e = {
        "options": {},
        "designs": {
            "tradebridge": design(0.010 * scale, 1.02),
            "durable": design(0.008, 1.0),
            "direct": design(0.003, 1.0),
        },
        "cold_first_alert": [{"start_to_first_order_s": 1.2, "request_to_first_order_s": 0.2}],
        "cold_first_alert_median": {"start_to_first_order_s": 1.2, "request_to_first_order_s": 0.2},
        "redis": {
            "round_trips": 2.5,
            "commands": 4.0,
            "round_trips_before_answer": 1.5,
            "breakdown": {"round_trips": {"work": 50}},
        },
        "redis_ping": [0.0002 * (i + 1) for i in range(100)],  # 0.2 .. 20 ms
        "executor_alone": [0.0007] * 99 + [0.009],
        "executor_pair": [0.0012] * 50 + [0.0016] * 50,
        "executor_alone_cpu": [0.0006] * 100,
        "floor_alone": [0.0003] * 100,
        "floor_pair": [0.0004] * 50 + [0.0005] * 50,
    }
    webhook = {
        "own_s": [0.001] * 100,
        "baseline_s": [0.00002] * 100,
        "back_to_back_s": [0.003] * 100,
        "webhook_rps": 700.0,
        "baseline_rps": 800.0,
        "concurrency": 16,
        "alerts": 100,
    }
    imports = {"runs": 5, "median_s": {"function_app": 0.30, "azure.functions": 0.15}}
    return e2e, webhook, imports


def _row(rows: list[Row], start: str) -> Row:
    found = [r for r in rows if r.figure.startswith(start)]
    assert len(found) == 1, [r.figure for r in found]
    return found[0]


def test_build_rows_judges_each_target_against_its_baseline() -> None:
    rows = build_rows(summarize(*_raw()))
    single = _row(rows, "signal → order, one at a time, p99, vs durable")
    # p99 of base x (1 + i/100), i = 0..99: the 99th sample, base x 1.98.
    assert single.value == pytest.approx(19.8)
    assert single.baseline == pytest.approx(15.84)
    assert single.ratio == pytest.approx(1.25)
    assert single.passed is False  # 1.25x is fine, but 19.8 ms is not under 15
    assert _row(rows, "signal → order, one at a time, p99, vs direct").baseline == pytest.approx(
        5.94
    )
    assert _row(rows, "signal → order, burst, p99, vs durable").passed is True  # 1.25x <= 1.5x
    own99 = _row(rows, "stage: executor own (delivery → Tradovate call), p99")
    assert own99.value == pytest.approx(0.5)  # the one 4 ms sample is the 100th of 100
    assert own99.passed is True
    assert _row(rows, "stage: enqueued → delivery started, p50").passed is True
    assert _row(rows, "Tradovate requests per order").passed is True  # 1.02 <= 1.05
    assert _row(rows, "executor Redis round trips per order (queue").passed is True
    imports = _row(rows, "import function_app")
    assert (imports.value, imports.baseline) == (pytest.approx(300), pytest.approx(150))
    assert imports.passed is False  # 2x > 1.5x
    assert _row(rows, "dev host throughput").passed is False  # 0.875x < 0.9x
    assert _row(rows, "webhook own time p99, vs").passed is True  # 1 ms < 2 ms
    ping = _row(rows, "one Redis round trip (PING) during Tradebridge's blocks, p50")
    assert ping.value == pytest.approx(10.0)  # the 50th of 0.2 .. 20 ms
    assert ping.passed is None  # a floor to read the executor's own time by, not a target
    assert _row(rows, "one Redis round trip (PING) during Tradebridge's blocks, p99").value == (
        pytest.approx(19.8)
    )
    alone = _row(rows, "executor own, in one process, one delivery at a time, p50")
    assert (alone.value, alone.passed) == (pytest.approx(0.7), None)  # a reference, no target
    assert _row(rows, "executor own, in one process, one delivery at a time, p99").value == (
        pytest.approx(0.7)  # the one 9 ms sample is the 100th of 100
    )
    pair = _row(rows, "executor own, in one process, an alert's two deliveries at once, p50")
    assert (pair.value, pair.passed) == (pytest.approx(1.2), None)
    assert _row(
        rows, "executor own, in one process, an alert's two deliveries at once, p99"
    ).value == pytest.approx(1.6)
    cpu = _row(rows, "executor own, in one process, one delivery at a time, the thread's CPU, p50")
    assert (cpu.value, cpu.passed) == (pytest.approx(0.6), None)
    floor = _row(rows, "floor: the executor's two Redis round trips alone, no work, p50")
    assert (floor.value, floor.passed) == (pytest.approx(0.3), None)
    assert _row(
        rows, "floor: the executor's two Redis round trips, two at once, no work, p99"
    ).value == pytest.approx(0.5)
    cold = _row(rows, "cold hosts: first request")
    assert cold.value == pytest.approx(200)
    assert cold.baseline == pytest.approx(14.9)  # warm Tradebridge p50: 10 ms x 1.49


def test_build_rows_with_a_faster_tradebridge_passes_the_latency_target() -> None:
    rows = build_rows(summarize(*_raw(scale=0.7)))
    single = _row(rows, "signal → order, one at a time, p99, vs durable")
    assert single.value == pytest.approx(13.86)
    assert single.passed is True


def test_build_rows_with_a_missing_measurement_marks_it_not_judged() -> None:
    measurements = summarize(*_raw())
    del measurements["redis_per_order"]["round_trips"]
    row = _row(build_rows(measurements), "executor Redis round trips per order (queue")
    assert row.value is None
    assert row.passed is None


def test_document_has_rows_verdicts_and_samples_as_json() -> None:
    measurements = summarize(*_raw())
    rows = [*build_rows(measurements), Row("odd", "ms", math.inf, 1.0)]
    samples = {"one_at_a_time": {"tradebridge": [1.23456789, 2.0]}, "burst": {}}
    doc = document(rows, measurements, samples, {"quick": True})
    text = json.dumps(doc, allow_nan=False)  # no NaN/Infinity: strict JSON readers load it
    back = json.loads(text)
    assert back["schema"] == 1
    assert back["quick"] is True
    assert back["samples_ms"]["one_at_a_time"]["tradebridge"] == [1.2346, 2.0]
    judged = [r for r in rows if r.passed is not None]
    assert back["targets"]["judged"] == len(judged) == 10
    assert back["targets"]["passed"] == sum(1 for r in judged if r.passed)
    assert "import function_app (median of 5), vs azure.functions" in back["targets"]["failed"]
    first = back["rows"][0]
    assert set(first) == {
        "figure",
        "unit",
        "value",
        "baseline",
        "baseline_label",
        "ratio",
        "target",
        "passed",
        "ratio_interval",
    }
    assert back["rows"][-1]["value"] is None  # infinite → null


def test_render_table_prints_one_line_per_row_with_its_verdict() -> None:
    rows = [
        Row("fast", "ms", 1.0, 2.0, "b", Target(at_most=3)),
        Row("slow", "ms", 4.0, 2.0, "b", Target(at_most=3)),
        Row("info", "", 2.5),
        Row("far", "ms", 1448.04, 1.0),
    ]
    lines = render_table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[2].rstrip().endswith("| pass   |")
    assert "FAIL" in lines[3]
    assert "0.50" in lines[2]  # the ratio
    assert lines[4].split("|")[3].strip() == "-"  # no baseline
    assert lines[5].split("|")[4].strip() == "1448"  # a large ratio keeps its column


def test_block_interval_of_a_series_against_itself_or_scaled_is_that_ratio() -> None:
    base = [float(i % 37 + 1) for i in range(800)]
    assert block_ratio_interval(base, base, 8) == (1.0, 1.0)
    low, high = block_ratio_interval([v * 1.5 for v in base], base, 8) or (0.0, 0.0)
    assert (low, high) == (pytest.approx(1.5), pytest.approx(1.5))


def test_block_interval_spans_a_block_that_holds_the_slow_samples() -> None:
    # Block 0 of Tradebridge's eight was slow throughout (the machine busy), the rest equal
    # to the baseline: drawn again, the eight blocks leave block 0 out about a third of the
    # time (7/8 to the 8th), so the ratio's interval runs from 1 to 10.
    baseline = [10.0] * 800
    values = [100.0] * 100 + [10.0] * 700
    assert block_ratio_interval(values, baseline, 8) == (1.0, 10.0)
    # Drawn with another seed, the same: the ends are far from the cut.
    assert block_ratio_interval(values, baseline, 8, seed=7) == (1.0, 10.0)


@pytest.mark.parametrize(
    ("values", "baseline", "blocks"),
    [
        ([1.0] * 10, [1.0] * 10, 1),  # one block: nothing to draw again
        ([1.0] * 10, [1.0] * 9, 2),  # the baseline does not cut into equal blocks
        ([], [], 2),
        ([1.0] * 10, [0.0] * 10, 2),  # a zero baseline: no ratio
    ],
)
def test_block_interval_without_equal_blocks_or_a_ratio_is_none(
    values: list[float], baseline: list[float], blocks: int
) -> None:
    assert block_ratio_interval(values, baseline, blocks) is None


def test_the_judged_one_at_a_time_p99_carries_its_interval_into_json_and_text() -> None:
    e2e, webhook, imports = _raw()
    e2e["options"] = {"rounds": 4}
    rows = build_rows(summarize(e2e, webhook, imports))
    single = _row(rows, "signal → order, one at a time, p99, vs durable")
    assert single.interval is not None
    low, high = single.interval
    assert single.ratio is not None
    assert low <= single.ratio <= high
    assert single.to_json()["ratio_interval"] == [low, high]
    # Only the judged one-at-a-time ratio has one.
    assert [r.figure for r in rows if r.interval is not None] == [single.figure]
    [line] = render_intervals(rows).splitlines()
    assert line.startswith(single.figure)
    assert f"{low:.2f}-{high:.2f}" in line
    assert render_intervals(build_rows(summarize(*_raw()))) == ""  # no blocks, no line
