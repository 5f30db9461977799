"""Shared helpers for the benchmarks: percentiles, the result table, the simulator's admin
endpoints, and the settings and arguments that run ``local.stack.Stack`` in this process."""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

Cell = float | str | None


def percentile(samples: Sequence[float], p: float) -> float:
    """Return the p-th percentile of ``samples`` by nearest rank: the smallest sample with at
    least p % of the samples at or below it (rank ceil(p/100 x n), at least 1)."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    ordered = sorted(samples)
    # The small epsilon keeps p x n that is a whole number in exact arithmetic (99 % of
    # 300) from rounding up past it in floating point.
    rank = math.ceil(p * len(ordered) / 100 - 1e-9)
    return ordered[min(len(ordered), max(1, rank)) - 1]


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """Return p50/p90/p99/mean of samples given in seconds, in milliseconds."""
    ms = [s * 1000 for s in samples_s]
    return {
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms),
    }


def _cell(value: Cell, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, str):
        return f"{value:>{width}}"
    if isinstance(value, int):
        return f"{value:>{width}d}"
    return f"{value:>{width}.3f}"


def print_table(
    title: str,
    rows: Sequence[tuple[str, Cell, Cell, str]],
    *,
    columns: tuple[str, str] = ("baseline", "tradebridge"),
    ratio: bool = True,
) -> None:
    """Print rows of (measure, baseline, candidate, unit), with the candidate/baseline ratio
    unless ``ratio`` is off; a cell may be a number, a short text, or None (shown as ``-``)."""
    left, right = columns
    print(f"\n{title}")
    head = f"| {'measure':<34} | {left:>10} | {right:>11} |"
    rule = f"|{'-' * 36}|{'-' * 12}|{'-' * 13}|"
    print(f"{head} {'ratio':>6} |" if ratio else head)
    print(f"{rule}{'-' * 8}|" if ratio else rule)
    for measure, base, value, unit in rows:
        label = f"{measure} ({unit})" if unit else measure
        line = f"| {label:<34} | {_cell(base, 10)} | {_cell(value, 11)} |"
        if ratio:
            share = float("inf")
            if isinstance(base, int | float) and isinstance(value, int | float) and base:
                share = value / base
            line += f" {share:>6.2f} |"
        print(line)


class SimAdmin:
    """Talk to a simulator running in its own process through its admin endpoints."""

    def __init__(self, urls: Mapping[str, Any]) -> None:
        self.base_url = str(urls["rest"])
        self.md_ws_url = str(urls["md_ws"])
        self._client = httpx.Client(base_url=str(urls["admin"]), timeout=30)

    @classmethod
    def of_stack(cls, urls: Mapping[str, Any]) -> SimAdmin:
        """Build from the URL line ``python -m local.stack`` prints."""
        return cls(
            {
                "rest": urls["tradovate"],
                "md_ws": urls["tradovate_md_ws"],
                "admin": urls["tradovate_admin"],
            }
        )

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._client.request(method, path, json=None if body is None else dict(body))
        response.raise_for_status()
        return response.json()

    def state(self) -> Any:
        """Return the simulator's whole state."""
        return self._call("GET", "/state")

    def stats(self) -> Any:
        """Return request counters."""
        return self._call("GET", "/stats")

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self._call("POST", "/stats/reset")

    def reset(self) -> None:
        """Restore the starting state."""
        self._call("POST", "/reset")

    def price(self, symbol: str) -> Any:
        """Return a product's contracts and prices."""
        return self._call("GET", f"/price?symbol={symbol}")

    def faults(self, **changes: Any) -> Any:
        """Change the live fault settings (``clear=True`` first restores none) and return them."""
        return self._call("POST", "/faults", changes)

    def drop_sockets(self, kind: str | None = None) -> int:
        """Cut open WebSocket connections (of one kind, or all) without a close handshake."""
        return int(self._call("POST", "/sockets/drop", {"kind": kind})["dropped"])

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def stack_settings(folder: Path, strategies_file: Path, **values: str) -> Path:
    """Write fresh local settings for ``local.stack.Stack`` in ``folder`` that point at
    ``strategies_file`` and carry ``values`` besides; return the settings file."""
    from local.stack import ensure_local_settings

    settings = folder / "local.settings.json"
    ensure_local_settings(settings)
    document = json.loads(settings.read_text(encoding="utf-8"))
    document["Values"].update(values, STRATEGIES_FILE=str(strategies_file))
    settings.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return settings


def stack_args(settings: Path) -> argparse.Namespace:
    """Return the arguments of ``python -m local.stack`` for a stack on free loopback ports."""
    return argparse.Namespace(
        host="127.0.0.1",
        functions_port=0,
        redis_port=0,
        azurite_port=0,
        tradovate_port=0,
        worker_port=0,
        settings=settings,
        logs=None,
        no_simulator=False,
        azure_like=False,
    )
