"""Hostile requests through the whole local stack: every fuzzer invariant holds.

Runs ``bench.fuzz_webhook`` (a bounded, seeded run over every category) against a stack it
starts in this process, then ``bench.secrets_scan`` over Redis, every table and every part's
log. On a failure the message is the fuzzer's table and each broken (shape, invariant) with
its smallest request; ``python -m bench.fuzz_webhook --show CATEGORY:INDEX --seed 7`` rebuilds
any one of them.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import pytest

from bench.fuzz.categories import CATEGORIES
from bench.fuzz.invariants import Run
from bench.fuzz.report import failures, table
from bench.fuzz.run import fuzz, scan_logs_into
from bench.fuzz.stack import local_stack
from bench.secrets_scan import Scanner
from shared.config import read_local_settings

pytestmark = pytest.mark.integration

REQUESTS = 1500  # about 125 a category
SEED = 7


def summary(run: Run) -> dict[str, int]:
    """Count every invariant the run can break, zero when it held."""
    broken = Counter(v for r in run.results for v in r.violations)
    controls = run.by_category()["control"]
    return {
        "5xx": broken["5xx"],
        "slow": broken["slow"],
        "no_answer": sum(1 for r in run.results if r.status is None),
        "4xx_without_code": broken["4xx_without_code"],
        "unexpected_status": broken["unexpected_status"],
        "wrongful_orders": sum(map(len, run.wrongful.values())),
        "secrets_at_rest": sum(map(len, run.secrets.values())),
        "controls_not_accepted": sum(1 for r in controls if r.status != 202),
        "skipped": sum(run.skipped.values()),
    }


@pytest.mark.timeout(400)
def test_webhook_with_hostile_requests_breaks_no_invariant(tmp_path: Path) -> None:
    options = argparse.Namespace(
        requests=REQUESTS, seed=SEED, concurrency=1, budget_s=None, drain_s=10.0, categories=None
    )
    with local_stack(tmp_path) as (urls, logs):
        values = read_local_settings(Path(urls["settings"]))
        run = fuzz(urls, values, options)
    scan_logs_into(run, values, logs())
    report = "\n".join([table(run), *run.scan, *failures(run, Scanner(run.mask))])

    assert set(run.planned) == set(CATEGORIES)
    assert len(run.by_category()["control"]) >= REQUESTS // len(CATEGORIES)
    assert summary(run) == dict.fromkeys(summary(run), 0), report
