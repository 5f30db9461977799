"""Time ``import function_app`` against ``import azure.functions``, each in a fresh interpreter.

A cold Functions worker imports the app's script before it can run anything, and cold start
eats into TradingView's 3-second budget; ``azure.functions`` is what any Python app must
import, so it is the floor. Each sample is one new ``python -c`` in the repository root that
times only the import statement (``time.perf_counter`` around it; interpreter start-up is
outside). The two modules alternate, after one untimed import of each (bytecode written, files
in the page cache), so a busy moment of the machine falls on both.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_MODULE = "function_app"
FLOOR_MODULE = "azure.functions"
_SNIPPET = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def time_import(module: str, cwd: Path = ROOT) -> float:
    """Return how long ``import module`` takes in a new interpreter, in seconds."""
    done = subprocess.run(
        [sys.executable, "-c", _SNIPPET.format(module=module)],
        cwd=cwd, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def compare_imports(runs: int) -> dict[str, object]:
    """Time both imports ``runs`` times each, alternating; return samples and medians (s)."""
    for module in (APP_MODULE, FLOOR_MODULE):
        time_import(module)
    samples: dict[str, list[float]] = {APP_MODULE: [], FLOOR_MODULE: []}
    for _ in range(runs):
        for module in samples:
            samples[module].append(time_import(module))
    return {
        "runs": runs,
        "samples_s": samples,
        "median_s": {module: statistics.median(values) for module, values in samples.items()},
    }
