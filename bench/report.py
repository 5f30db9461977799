"""Turn the benchmark's raw results into one table of figures judged against their targets.

``summarize`` reduces the raw samples (seconds) to percentiles (milliseconds) and counts;
``build_rows`` picks the figures, each beside the baseline measured in the same run and,
where there is one, its target; ``render_table`` prints them; ``document`` is the JSON that
``python -m bench`` writes. All of it is pure, so it is unit-tested without a stack.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import percentile, summary_ms

SCHEMA = 1
DESIGN_LABELS = {
    "tradebridge": "Tradebridge",
    "durable": "durable forwarder",
    "direct": "direct forwarder",
}
MODES = {"one_at_a_time": "one at a time", "burst": "burst"}


@dataclass(frozen=True, slots=True)
class Target:
    """What a figure must meet: a ratio to its baseline and/or an absolute bound."""

    max_ratio: float | None = None  # value <= max_ratio x baseline
    min_ratio: float | None = None  # value >= min_ratio x baseline
    at_most: float | None = None  # value <= at_most
    below: float | None = None  # value < below

    def describe(self, unit: str) -> str:
        """Return the target as short text, e.g. ``<= 1.3x and < 15 ms``."""
        suffix = f" {unit}" if unit else ""
        parts = []
        if self.max_ratio is not None:
            parts.append(f"<= {self.max_ratio:g}x")
        if self.min_ratio is not None:
            parts.append(f">= {self.min_ratio:g}x")
        if self.at_most is not None:
            parts.append(f"<= {self.at_most:g}{suffix}")
        if self.below is not None:
            parts.append(f"< {self.below:g}{suffix}")
        return " and ".join(parts)

    def met(self, value: float | None, baseline: float | None) -> bool | None:
        """Say whether ``value`` meets the target; None when it cannot be judged (a value or
        a needed baseline is missing, or the baseline is zero)."""
        if value is None:
            return None
        ratio = value / baseline if baseline else None
        needs_ratio = self.max_ratio is not None or self.min_ratio is not None
        if needs_ratio and ratio is None:
            return None
        checks = [
            self.max_ratio is None or (ratio is not None and ratio <= self.max_ratio),
            self.min_ratio is None or (ratio is not None and ratio >= self.min_ratio),
            self.at_most is None or value <= self.at_most,
            self.below is None or value < self.below,
        ]
        return all(checks)


@dataclass(frozen=True, slots=True)
class Row:
    """One figure of the table."""

    figure: str
    unit: str
    value: float | None
    baseline: float | None = None
    baseline_label: str = ""
    target: Target | None = None
    # The ratio's 95 % interval, where the run measured one (``block_ratio_interval``).
    interval: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        """Return value / baseline, or None without both (or with a zero baseline)."""
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def passed(self) -> bool | None:
        """Return whether the target is met; None without a target or a judgeable value."""
        return None if self.target is None else self.target.met(self.value, self.baseline)

    def to_json(self) -> dict[str, Any]:
        """Return the row as JSON-able data."""
        return {
            "figure": self.figure,
            "unit": self.unit,
            "value": _finite(self.value),
            "baseline": _finite(self.baseline),
            "baseline_label": self.baseline_label,
            "ratio": _finite(self.ratio),
            "target": self.target.describe(self.unit) if self.target else None,
            "passed": self.passed,
            "ratio_interval": None if self.interval is None else list(self.interval),
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def block_ratio_interval(
    values: Sequence[float],
    baseline: Sequence[float],
    blocks: int,
    p: float = 99,
    *,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Return the 95 % interval of the p-th percentile of ``values`` over that of
    ``baseline``, by a paired block bootstrap.

    Both series are cut into ``blocks`` runs of consecutive samples of one size (the
    bench's one-at-a-time blocks: block i of each design ran next to the other's, the designs'
    order rotating), and each draw takes ``blocks`` block numbers with replacement, the same
    for both series, so a busy moment of the machine stays paired as it was measured. The
    interval says how far the ratio moves when the same blocks are drawn again: the run's own
    noise, not the drift of the machine from one hour to the next. None without two or more
    blocks of one non-zero size in each series.
    """

    def cut(samples: Sequence[float]) -> list[Sequence[float]] | None:
        if blocks < 2 or not samples or len(samples) % blocks:
            return None
        size = len(samples) // blocks
        return [samples[i * size : (i + 1) * size] for i in range(blocks)]

    ours, theirs = cut(values), cut(baseline)
    if ours is None or theirs is None:
        return None
    rng = random.Random(seed)  # the same run gives the same interval
    ratios = []
    for _ in range(draws):
        picks = [rng.randrange(blocks) for _ in range(blocks)]
        below = percentile([x for i in picks for x in theirs[i]], p)
        if below > 0:
            ratios.append(percentile([x for i in picks for x in ours[i]], p) / below)
    if not ratios:
        return None
    return percentile(ratios, 2.5), percentile(ratios, 97.5)


def _summary(samples_s: Sequence[float]) -> dict[str, float]:
    return {**summary_ms(samples_s), "n": len(samples_s)} if samples_s else {}


def summarize(
    e2e: Mapping[str, Any], webhook: Mapping[str, Any], imports: Mapping[str, Any]
) -> dict[str, Any]:
    """Reduce the raw results of ``bench.execute.run``, ``bench.webhook.measure`` and
    ``bench.imports.compare_imports`` to the figures the table is built from (ms, counts)."""
    designs = e2e["designs"]
    interval = block_ratio_interval(
        designs["tradebridge"]["one_at_a_time"],
        designs["durable"]["one_at_a_time"],
        int(e2e["options"].get("rounds", 0)),
    )
    return {
        # p99 one at a time, Tradebridge over the durable forwarder: the judged ratio's noise.
        "p99_ratio_interval": {"one_at_a_time": None if interval is None else list(interval)},
        "latency_ms": {
            name: {mode: _summary(d[mode]) for mode in MODES} for name, d in designs.items()
        },
        "sim_stamp_ms": {name: _summary(d["post_to_sim_stamp"]) for name, d in designs.items()},
        "burst_p99_by_run_ms": {name: d["burst_p99_by_run"] for name, d in designs.items()},
        "stages_ms": {
            name: {stage: _summary(v) for stage, v in d["stages"].items()}
            for name, d in designs.items()
        },
        "tradovate_requests_per_order": {
            name: d["tradovate_requests_per_order"] for name, d in designs.items()
        },
        "tradovate_requests": {name: d["tradovate_requests"] for name, d in designs.items()},
        "redis_per_order": {k: v for k, v in e2e["redis"].items() if k != "breakdown"},
        "redis_breakdown": e2e["redis"]["breakdown"],
        "redis_ping_ms": _summary(e2e.get("redis_ping", [])),
        "executor_alone_ms": _summary(e2e.get("executor_alone", [])),
        "executor_pair_ms": _summary(e2e.get("executor_pair", [])),
        "executor_alone_cpu_ms": _summary(e2e.get("executor_alone_cpu", [])),
        "floor_alone_ms": _summary(e2e.get("floor_alone", [])),
        "floor_pair_ms": _summary(e2e.get("floor_pair", [])),
        "imports_ms": {m: s * 1000 for m, s in imports["median_s"].items()},
        "import_runs": imports["runs"],
        "cold_first_alert_ms": {
            k.removesuffix("_s"): v * 1000 for k, v in e2e["cold_first_alert_median"].items()
        },
        "cold_runs": len(e2e["cold_first_alert"]),
        "webhook": {
            "own_ms": _summary(webhook["own_s"]),
            "baseline_ms": _summary(webhook["baseline_s"]),
            "back_to_back_ms": _summary(webhook["back_to_back_s"]),
            "rps": webhook["webhook_rps"],
            "baseline_rps": webhook["baseline_rps"],
            "concurrency": webhook["concurrency"],
            "alerts": webhook["alerts"],
        },
    }


def _get(data: Mapping[str, Any], *path: str) -> float | None:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def _interval(m: Mapping[str, Any], mode: str) -> tuple[float, float] | None:
    found = m.get("p99_ratio_interval", {}).get(mode)
    return None if found is None else (float(found[0]), float(found[1]))


def _latency_rows(m: Mapping[str, Any]) -> list[Row]:
    rows = []
    targets = {
        ("one_at_a_time", "p99"): Target(max_ratio=1.3, below=15),
        ("burst", "p99"): Target(max_ratio=1.5),
    }
    for mode, label in MODES.items():
        for p in ("p50", "p90", "p99"):
            value = _get(m, "latency_ms", "tradebridge", mode, p)
            for base in ("durable", "direct"):
                target = targets.get((mode, p)) if base == "durable" else None
                rows.append(
                    Row(
                        f"signal → order, {label}, {p}, vs {DESIGN_LABELS[base]}",
                        "ms",
                        value,
                        _get(m, "latency_ms", base, mode, p),
                        DESIGN_LABELS[base],
                        target,
                        _interval(m, mode) if target is not None and p == "p99" else None,
                    )
                )
    for p in ("p50", "p99"):
        rows.append(
            Row(
                f"post → simulator's order stamp, one at a time, {p}, vs durable",
                "ms",
                _get(m, "sim_stamp_ms", "tradebridge", p),
                _get(m, "sim_stamp_ms", "durable", p),
                DESIGN_LABELS["durable"],
            )
        )
    return rows


def _stage_rows(m: Mapping[str, Any]) -> list[Row]:
    def stage(name: str, p: str, figure: str, target: Target | None = None) -> Row:
        return Row(
            f"{figure}, {p}",
            "ms",
            _get(m, "stages_ms", "tradebridge", name, p),
            _get(m, "stages_ms", "durable", name, p),
            DESIGN_LABELS["durable"],
            target,
        )

    return [
        stage("http_in", "p50", "stage: post → webhook has the alert"),
        stage("webhook_to_enqueued", "p50", "stage: webhook has it → enqueued"),
        stage(
            "enqueued_to_delivery", "p50", "stage: enqueued → delivery started", Target(at_most=1)
        ),
        stage("enqueued_to_delivery", "p99", "stage: enqueued → delivery started"),
        stage(
            "executor_own",
            "p50",
            "stage: executor own (delivery → Tradovate call)",
            Target(at_most=1),
        ),
        stage(
            "executor_own",
            "p99",
            "stage: executor own (delivery → Tradovate call)",
            Target(at_most=3),
        ),
        *_reference_rows(
            m, "executor_alone_ms", "executor own, in one process, one delivery at a time"
        ),
        *_reference_rows(
            m, "executor_pair_ms", "executor own, in one process, an alert's two deliveries at once"
        ),
        *_reference_rows(
            m,
            "executor_alone_cpu_ms",
            "executor own, in one process, one delivery at a time, the thread's CPU",
        ),
        *_reference_rows(
            m, "floor_alone_ms", "floor: the executor's two Redis round trips alone, no work"
        ),
        *_reference_rows(
            m, "floor_pair_ms", "floor: the executor's two Redis round trips, two at once, no work"
        ),
        stage("delivery_to_claimed", "p50", "stage: delivery → legs claimed"),
        stage("broker", "p50", "stage: broker (Tradovate call → answer)"),
        stage("broker", "p99", "stage: broker (Tradovate call → answer)"),
    ]


def _count_rows(m: Mapping[str, Any]) -> list[Row]:
    redis = m.get("redis_per_order", {})
    return [
        Row(
            "Tradovate requests per order, vs durable",
            "",
            _get(m, "tradovate_requests_per_order", "tradebridge"),
            _get(m, "tradovate_requests_per_order", "durable"),
            DESIGN_LABELS["durable"],
            Target(at_most=1.05),
        ),
        Row(
            "executor Redis round trips per order (queue's excluded)",
            "",
            _get(redis, "round_trips"),
            target=Target(at_most=3),
        ),
        Row(
            "executor Redis round trips per order, before the answer",
            "",
            _get(redis, "round_trips_before_answer"),
        ),
        Row("executor Redis commands per order (queue's excluded)", "", _get(redis, "commands")),
        # The floor under the executor's own time: it holds two round trips, one after the other.
        *_reference_rows(
            m, "redis_ping_ms", "one Redis round trip (PING) during Tradebridge's blocks"
        ),
    ]


def _reference_rows(m: Mapping[str, Any], key: str, figure: str) -> list[Row]:
    """Return a reference figure's p50 and p99 rows (ms, no baseline, no target)."""
    return [Row(f"{figure}, {p}", "ms", _get(m, key, p)) for p in ("p50", "p99")]


def _start_rows(m: Mapping[str, Any]) -> list[Row]:
    runs = m.get("import_runs", 0)
    return [
        Row(
            f"import function_app (median of {runs}), vs azure.functions",
            "ms",
            _get(m, "imports_ms", "function_app"),
            _get(m, "imports_ms", "azure.functions"),
            "import azure.functions",
            Target(max_ratio=1.5),
        ),
        Row(
            "cold hosts: process start → first order",
            "ms",
            _get(m, "cold_first_alert_ms", "start_to_first_order"),
        ),
        Row(
            "cold hosts: first request → first order, vs warm p50",
            "ms",
            _get(m, "cold_first_alert_ms", "request_to_first_order"),
            _get(m, "latency_ms", "tradebridge", "one_at_a_time", "p50"),
            "warm, one at a time",
        ),
    ]


def _webhook_rows(m: Mapping[str, Any]) -> list[Row]:
    hook = m.get("webhook", {})
    clients = hook.get("concurrency", "?")
    return [
        Row(
            "webhook own time p50, vs answer-200",
            "ms",
            _get(hook, "own_ms", "p50"),
            _get(hook, "baseline_ms", "p50"),
            "answer-200 function",
        ),
        Row(
            "webhook own time p99, vs answer-200",
            "ms",
            _get(hook, "own_ms", "p99"),
            _get(hook, "baseline_ms", "p99"),
            "answer-200 function",
            Target(below=2),
        ),
        Row(
            "webhook own time p99 back to back, vs answer-200",
            "ms",
            _get(hook, "back_to_back_ms", "p99"),
            _get(hook, "baseline_ms", "p99"),
            "answer-200 function",
        ),
        Row(
            f"dev host throughput, {clients} clients, vs answer-200",
            "alerts/s",
            _get(hook, "rps"),
            _get(hook, "baseline_rps"),
            "answer-200 function",
            Target(min_ratio=0.9),
        ),
    ]


def build_rows(m: Mapping[str, Any]) -> list[Row]:
    """Return every figure of the table, in the order it is printed."""
    return [*_latency_rows(m), *_stage_rows(m), *_count_rows(m), *_start_rows(m), *_webhook_rows(m)]


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "alerts/s":
        return f"{value:.0f}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def render_table(rows: Sequence[Row]) -> str:
    """Return the table as Markdown-style text: figure, value, baseline, ratio, target, result."""
    width = max(len(_label(r)) for r in rows)
    lines = [
        f"| {'figure':<{width}} | {'value':>9} | {'baseline':>9} | {'ratio':>6} | "
        f"{'target':<22} | result |",
        f"|{'-' * (width + 2)}|{'-' * 11}|{'-' * 11}|{'-' * 8}|{'-' * 24}|--------|",
    ]
    for row in rows:
        ratio = (
            "-"
            if row.ratio is None
            else f"{row.ratio:.2f}"
            if row.ratio < 100
            else f"{row.ratio:.0f}"
        )
        target = row.target.describe(row.unit) if row.target else ""
        result = {True: "pass", False: "FAIL", None: "n/a" if row.target else ""}[row.passed]
        lines.append(
            f"| {_label(row):<{width}} | {_number(row.value, row.unit):>9} | "
            f"{_number(row.baseline, row.unit):>9} | {ratio:>6} | {target:<22} | {result:<6} |"
        )
    return "\n".join(lines)


def render_intervals(rows: Sequence[Row]) -> str:
    """Return a line per row whose ratio has an interval, or nothing."""
    lines = []
    for row in rows:
        if row.interval is None or row.ratio is None:
            continue
        low, high = row.interval
        lines.append(
            f"{row.figure}: ratio {row.ratio:.2f}, 95 % interval {low:.2f}-{high:.2f} "
            "(the run's blocks drawn again; not the drift between runs)"
        )
    return "\n".join(lines)


def _label(row: Row) -> str:
    return f"{row.figure} ({row.unit})" if row.unit else row.figure


def document(
    rows: Sequence[Row],
    measurements: Mapping[str, Any],
    samples_ms: Mapping[str, Mapping[str, Sequence[float]]],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the JSON document of one run: its rows, verdicts, figures and latency samples."""
    judged = [r for r in rows if r.passed is not None]
    return {
        "schema": SCHEMA,
        **meta,
        "targets": {
            "judged": len(judged),
            "passed": sum(1 for r in judged if r.passed),
            "failed": [r.figure for r in judged if not r.passed],
        },
        "rows": [r.to_json() for r in rows],
        "measurements": measurements,
        "samples_ms": {
            mode: {name: [round(v, 4) for v in values] for name, values in by_design.items()}
            for mode, by_design in samples_ms.items()
        },
    }


def write_json(doc: Mapping[str, Any], path: Path) -> None:
    """Write the document, creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
