"""Draw the latency distributions of the three designs as a PNG (matplotlib, Agg backend).

One panel per way of posting (one at a time, burst); in each, every design's cumulative
distribution of signal → order latency on a logarithmic time axis, so the medians and the
tails of designs an order of magnitude apart are all readable. The p50 and p99 of each are
in the legend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.common import percentile
from bench.report import DESIGN_LABELS, MODES

COLOURS = {"tradebridge": "#1f77b4", "durable": "#ff7f0e", "direct": "#2ca02c"}


def draw_latencies(
    samples_ms: Mapping[str, Mapping[str, Sequence[float]]], path: Path, title: str
) -> Path:
    """Draw ``samples_ms[mode][design]`` (milliseconds) to ``path``; return the path."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    modes = [m for m in MODES if any(samples_ms.get(m, {}).values())]
    if not modes:
        raise ValueError("no latency samples to draw")
    figure, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4.2), squeeze=False)
    for axis, mode in zip(axes[0], modes, strict=True):
        for design, values in samples_ms[mode].items():
            if not values:
                continue
            ordered = sorted(values)
            share = [(i + 1) / len(ordered) for i in range(len(ordered))]
            label = (f"{DESIGN_LABELS.get(design, design)}: p50 {percentile(ordered, 50):.1f}, "
                     f"p99 {percentile(ordered, 99):.1f} ms")  # fmt: skip
            axis.step(ordered, share, where="post", label=label, color=COLOURS.get(design))
        axis.set_xscale("log")
        # Plain numbers on the decades and a few steps between them, not powers of ten.
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.xaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
        axis.xaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_xlabel("signal → order (ms, log scale)")
        axis.set_ylabel("share of orders")
        axis.set_ylim(0, 1.01)
        axis.set_title(MODES[mode])
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(loc="lower right", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
