"""Percentiles and summaries the benchmark reports: nearest rank, in milliseconds."""

from __future__ import annotations

import random

import pytest

from bench.common import percentile, summary_ms


def test_percentile_of_one_to_hundred_is_the_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 101)]
    random.Random(7).shuffle(samples)
    assert percentile(samples, 50) == 50
    assert percentile(samples, 90) == 90
    assert percentile(samples, 99) == 99  # not the maximum
    assert percentile(samples, 100) == 100
    assert percentile(samples, 0) == 1


def test_percentile_with_whole_rank_in_float_arithmetic_does_not_round_up() -> None:
    # 99 % of 300 is 297 exactly; 0.99 * 300 is 297.00000000000006 in floating point.
    samples = [float(v) for v in range(1, 301)]
    assert percentile(samples, 99) == 297
    assert percentile(samples, 90) == 270


def test_percentile_of_few_samples_takes_the_smallest_covering_sample() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2
    assert percentile([3.0, 1.0, 2.0], 34) == 2
    assert percentile([3.0, 1.0, 2.0], 33) == 1
    assert percentile([5.0], 99) == 5


@pytest.mark.parametrize(("samples", "p"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_with_no_samples_or_bad_rank_refuses(samples: list[float], p: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(samples, p)


def test_summary_ms_converts_seconds_and_reports_p90() -> None:
    summary = summary_ms([i / 1000 for i in range(1, 11)])  # 1..10 ms
    assert summary["p50"] == pytest.approx(5)
    assert summary["p90"] == pytest.approx(9)
    assert summary["p99"] == pytest.approx(10)
    assert summary["mean"] == pytest.approx(5.5)
