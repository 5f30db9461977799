"""Run every benchmark and judge it: ``python -m bench [--quick] [--out DIR] [--check]``.

In order: the import times (``bench.imports``), the webhook (``bench.webhook``, in its own
process, on its own Redis and Azurite), then the end-to-end run (``bench.execute``:
Tradebridge beside the durable and the direct forwarder, stages, Tradovate requests, cold
hosts, Redis round trips). Prints one table (figure, value, baseline, ratio, target, result),
writes it with every figure and the latency samples to ``DIR/bench.json`` and draws the
latency distributions to ``DIR/latency.png`` (``DIR`` defaults to ``.tools/bench``).
``--quick`` is a short run (about a minute); the default takes a few minutes. The exit status
is 0 once the run completes, unless ``--check`` is given and a target was missed (then 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import execute
from bench.imports import compare_imports
from bench.plot import draw_latencies
from bench.report import (
    MODES,
    build_rows,
    document,
    render_intervals,
    render_table,
    summarize,
    write_json,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / ".tools" / "bench"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write results")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    return parser.parse_args(argv)


def _webhook(alerts: int) -> dict[str, Any]:
    """Run ``bench.webhook`` in its own process and return its raw results."""
    with tempfile.TemporaryDirectory(prefix="tb-bench-webhook-") as folder:
        out = Path(folder) / "webhook.json"
        done = subprocess.run(
            [sys.executable, "-m", "bench.webhook", "--alerts", str(alerts), "--json", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench.webhook failed:\n{done.stderr[-3000:]}")
        results: dict[str, Any] = json.loads(out.read_text())
        return results


def _step(text: str) -> float:
    print(f"-- {text}", flush=True)
    return time.monotonic()


def main(argv: list[str] | None = None) -> int:
    """Run the measurements, print the table, write the JSON and the plot."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    cpus = os.cpu_count() or 1
    load_before = os.getloadavg()
    began = time.monotonic()
    _step("import times")
    imports = compare_imports(5 if args.quick else 11)
    _step("webhook: own time in process, throughput through the dev host")
    webhook = _webhook(300 if args.quick else 2000)
    _step("end to end: Tradebridge, durable forwarder, direct forwarder")
    e2e = execute.run(execute.QUICK if args.quick else execute.Options())
    measurements = summarize(e2e, webhook, imports)
    rows = build_rows(measurements)
    samples = {
        mode: {name: [s * 1000 for s in d[mode]] for name, d in e2e["designs"].items()}
        for mode in MODES
    }
    load_after = os.getloadavg()
    meta = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "duration_s": round(time.monotonic() - began, 1),
        "options": e2e["options"],
        "host": {
            "cpus": cpus,
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
            # Other work on the machine when the run began: its figures are noisier.
            "busy": load_before[0] >= 0.5 * cpus,
        },
    }
    doc = document(rows, measurements, samples, meta)
    write_json(doc, args.out / "bench.json")
    title = f"signal → order, {meta['created_at']}" + (" (quick)" if args.quick else "")
    draw_latencies(samples, args.out / "latency.png", title)
    print()
    print(render_table(rows))
    if intervals := render_intervals(rows):
        print(intervals)
    targets = doc["targets"]
    print(
        f"\ntargets met: {targets['passed']} of {targets['judged']}; run took "
        f"{meta['duration_s']:.0f} s; load average before {load_before[0]:.2f}, after "
        f"{load_after[0]:.2f} on {cpus} cores" + (" (machine busy)" if meta["host"]["busy"] else "")
    )
    print(f"wrote {args.out / 'bench.json'} and {args.out / 'latency.png'}")
    return 1 if args.check and targets["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
