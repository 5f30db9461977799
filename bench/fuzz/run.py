"""Fuzz a stack from the command line: plan, send, settle, trace, scan, then print the run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

import bench.fuzz
from bench.fuzz.categories import CATEGORIES, build, plan
from bench.fuzz.invariants import Run
from bench.fuzz.report import print_run
from bench.fuzz.requests import MARKER_RE, Ctx, control_alerts, marker
from bench.fuzz.send import fire
from bench.fuzz.stack import local_stack
from bench.fuzz.trace import (
    attribute_hits,
    attribute_signal,
    baseline,
    signal_id_of,
    wait_for_queue,
    wrongful,
)
from bench.secrets_scan import scan_logs_only, scan_stack, secrets_from_settings
from shared.config import read_local_settings


def context(urls: dict[str, Any], values: dict[str, str], seed: int) -> Ctx:
    """Read keys, the secret, the body limit and a fair price from the stack and its settings."""
    price = "21000"
    with contextlib.suppress(httpx.HTTPError, StopIteration, KeyError, ValueError):
        prices = httpx.get(f"{urls['tradovate_admin']}/price", params={"symbol": "MNQ"}, timeout=10)
        price = str(next(iter(prices.json().values()))["price"])
    return Ctx(
        secret=values["WEBHOOK_DEMO"],
        function_key=values["DEVHOST_FUNCTION_KEYS"].split(",")[0],
        master_key=values.get("DEVHOST_MASTER_KEY", ""),
        price=price,
        max_body=int(values.get("WEBHOOK_MAX_BODY_BYTES") or 65536),
        controls=control_alerts(values["WEBHOOK_DEMO"]),
        seed=seed,
    )


def _accounts(values: dict[str, str]) -> list[str]:
    from shared.strategies import load_strategies

    book = load_strategies(values["STRATEGIES_FILE"])
    return sorted({a.name for s in book.values() for a in s.accounts})


def fuzz(urls: dict[str, Any], values: dict[str, str], options: argparse.Namespace) -> Run:
    """Run the fuzz against a running stack and check every invariant but the logs."""
    started = time.monotonic()
    ctx = context(urls, values, options.seed)
    mask = secrets_from_settings(values)  # now, while the strategy file exists
    categories = options.categories or list(CATEGORIES)
    order = plan(ctx, options.requests, categories)
    before = baseline(urls, values)
    results, skipped = asyncio.run(
        fire(str(urls["functions"]), ctx, order, options.concurrency, options.budget_s)
    )
    run = Run(Counter({c: 0 for c in categories}), results, skipped, mask=mask)
    run.planned.update(c for c, _ in order)
    run.timings["send"] = time.monotonic() - started
    if "functions_background" in urls:
        run.drained = wait_for_queue(urls, ctx.master_key, options.drain_s)
    time.sleep(1.0)  # the webhook's journal writes run in the background
    run.timings["settle"] = time.monotonic() - started - run.timings["send"]
    accepted = {r.signal_id for r in results if r.signal_id}
    accepted.update(sid for r in results for sid in r.resent_ids)
    sent = {signal_id_of("demo", marker(ctx, c, i)): marker(ctx, c, i) for c, i in order}
    for problem in wrongful(urls, values, accepted, before, _accounts(values)):
        category, line = attribute_signal(urls, values, problem, sent)
        run.wrongful.setdefault(category, []).append(line)
    report = scan_stack(urls, values, marker_re=MARKER_RE)
    attribute_hits(run, report)
    run.scan = report.lines()[:1]
    run.duration_s = time.monotonic() - started
    run.timings["check"] = run.duration_s - run.timings["send"] - run.timings["settle"]
    return run


def scan_logs_into(run: Run, values: dict[str, str], logs: dict[str, str]) -> None:
    """Add the secrets found in the stack's logs (read after it stopped) to the run."""
    report = scan_logs_only(values, logs, MARKER_RE)
    attribute_hits(run, report)
    run.scan.append(report.lines()[0])


def show(spec: str, settings: Path | None, seed: int, body_out: Path | None) -> int:
    """Print one request as the fuzzer would build it (placeholders without a settings file)."""
    category, _, index = spec.partition(":")
    values = read_local_settings(settings) if settings else {}
    secret = values.get("WEBHOOK_DEMO", "S" * 32)
    key = values.get("DEVHOST_FUNCTION_KEYS", "K" * 32).split(",")[0]
    master = values.get("DEVHOST_MASTER_KEY", "M" * 32)
    ctx = Ctx(secret, key, master, "21000", 65536, control_alerts(secret), seed)
    request = build(ctx, category, int(index))
    spec_ = request.spec
    described = {
        "shape": request.name,
        "strategy": spec_.strategy,
        "key": "none" if spec_.key is None else spec_.key or "the function key",
        "key_in_header": spec_.key_in_header,
        "content_type": spec_.content_type,
        "headers": [(k, v.decode(errors="replace")[:200]) for k, v in spec_.headers],
        "expect": sorted(spec_.expect or []),
        "body_bytes": len(spec_.body),
        "body_preview": spec_.body[:300].decode(errors="backslashreplace"),
    }
    print(json.dumps(described, indent=2, ensure_ascii=False))
    if body_out is not None:
        body_out.write_bytes(spec_.body)
    return 0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fuzz_webhook",
        description=bench.fuzz.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=1500, help="how many requests in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stack", help="the JSON line of a running python -m local.stack")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument(
        "--budget-s", type=float, help="stop sending after this long (rest skipped)"
    )
    parser.add_argument("--drain-s", type=float, default=15.0, help="wait this long for the queue")
    parser.add_argument("--category", dest="categories", action="append", choices=list(CATEGORIES))
    parser.add_argument("--show", metavar="CATEGORY:INDEX", help="print one request and exit")
    parser.add_argument("--settings", type=Path, help="with --show: the settings to build it with")
    parser.add_argument("--body-out", type=Path, help="with --show: write the body to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Fuzz a stack (started here unless --stack names one); exit 1 on any violation."""
    options = _parse(sys.argv[1:] if argv is None else argv)
    if options.show:
        return show(options.show, options.settings, options.seed, options.body_out)
    started = time.monotonic()
    if options.stack:
        urls = json.loads(options.stack)
        values = read_local_settings(Path(urls["settings"]))
        run = fuzz(urls, values, options)
        run.scan.append("logs not scanned: a running stack does not say where its parts log")
    else:
        with tempfile.TemporaryDirectory(prefix="tradebridge-fuzz-") as folder:
            with local_stack(Path(folder)) as (urls, logs):
                values = read_local_settings(Path(urls["settings"]))
                run = fuzz(urls, values, options)
            scan_logs_into(run, values, logs())
    print_run(run, values, time.monotonic() - started)
    return 1 if run.failed() else 0
