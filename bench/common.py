"""Shared helpers for the benchmarks: percentiles and the result table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], p: float) -> float:
    """Return the p-th percentile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """Return p50/p99/mean of samples given in seconds, in milliseconds."""
    ms = [s * 1000 for s in samples_s]
    return {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "mean": statistics.fmean(ms)}


def print_table(title: str, rows: list[tuple[str, float, float, str]]) -> None:
    """Print rows of (measure, baseline, candidate, unit) with the candidate/baseline ratio."""
    print(f"\n{title}")
    print(f"| {'measure':<34} | {'baseline':>10} | {'tradebridge':>11} | {'ratio':>6} |")
    print(f"|{'-' * 36}|{'-' * 12}|{'-' * 13}|{'-' * 8}|")
    for measure, base, value, unit in rows:
        ratio = value / base if base else float("inf")
        label = f"{measure} ({unit})"
        print(f"| {label:<34} | {base:>10.3f} | {value:>11.3f} | {ratio:>6.2f} |")
