"""Print a run: the per-category table, each broken invariant's smallest request, timings."""

from __future__ import annotations

from collections import Counter

from bench.common import percentile
from bench.fuzz.invariants import Result, Run
from bench.secrets_scan import Scanner, secrets_from_settings


def _row(
    name: str, planned: int, results: list[Result], skipped: int, wrong: int, secrets: int
) -> list[str]:
    statuses = Counter((r.status or 0) // 100 for r in results)
    count = Counter(v for r in results for v in r.violations)
    own = [r.own_ms for r in results if r.own_ms is not None]
    wall = [r.wall_ms for r in results]

    def fmt(samples: list[float], p: float) -> str:
        return f"{percentile(samples, p):.2f}" if samples else "-"

    errors = sum(1 for r in results if r.status is None)
    return [
        name,
        str(planned),
        str(skipped),
        str(statuses[2]),
        str(statuses[4]),
        str(statuses[5]),
        str(errors),
        str(count["slow"]),
        str(sum(1 for r in results if r.notes)),
        str(count["4xx_without_code"]),
        str(count["unexpected_status"]),
        str(wrong),
        str(secrets),
        fmt(own, 50),
        fmt(own, 99),
        fmt(wall, 99),
    ]


HEADER = [
    "category",
    "requests",
    "skipped",
    "2xx",
    "4xx",
    "5xx",
    "no answer",
    "slow",
    "slow once",
    "4xx no code",
    "unexpected",
    "wrongful orders",
    "secrets",
    "own p50 ms",
    "own p99 ms",
    "wall p99 ms",
]


def table(run: Run) -> str:
    """Render the per-category table with a total row."""
    rows = []
    grouped = run.by_category()
    for category, results in grouped.items():
        wrong, secrets = len(run.wrongful.get(category, [])), len(run.secrets.get(category, []))
        rows.append(
            _row(category, run.planned[category], results, run.skipped[category], wrong, secrets)
        )
    extra = {k for k in (*run.wrongful, *run.secrets) if k not in grouped}
    for name in sorted(extra):
        rows.append(
            _row(name, 0, [], 0, len(run.wrongful.get(name, [])), len(run.secrets.get(name, [])))
        )
    total = _row(
        "total",
        sum(run.planned.values()),
        run.results,
        sum(run.skipped.values()),
        sum(map(len, run.wrongful.values())),
        sum(map(len, run.secrets.values())),
    )
    widths = [max(len(r[i]) for r in [HEADER, *rows, total]) for i in range(len(HEADER))]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *map(line, rows), rule, line(total)])


def describe(result: Result, scanner: Scanner) -> str:
    """Show a request compactly (secrets masked) and what it got, as a reproduction."""
    request, spec = result.request, result.request.spec
    body = scanner.mask(spec.body.decode("utf-8", errors="backslashreplace"))
    shown = body if len(body) <= 240 else f"{body[:160]} …[{len(body) - 220} chars]… {body[-60:]}"
    key = (
        "none"
        if spec.key is None
        else ("the function key" if spec.key == "" else repr(scanner.mask(spec.key)[:40]))
    )
    headers = ", ".join(
        f"{k}: {scanner.mask(v.decode(errors='replace'))[:80]!r}" for k, v in spec.headers
    )
    answer = (
        f"{result.status} own {result.own_ms} ms wall {result.wall_ms:.0f} ms"
        if result.status
        else result.error
    )
    return (
        f"--show {request.category}:{request.index} | POST /api/webhook/{spec.strategy[:40]}"
        f" key={key}"
        f"{' (header)' if spec.key_in_header else ''} content-type={spec.content_type!r}"
        f"{' ' + headers if headers else ''} body {len(spec.body)} B: {shown!r} -> {answer}"
        f" {scanner.mask(result.answer[:160])!r}"
    )


def failures(run: Run, scanner: Scanner) -> list[str]:
    """List each violated (shape, invariant) once, with its smallest failing request."""
    smallest: dict[tuple[str, str], Result] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for result in run.results:
        for violation in result.violations:
            key = (result.request.name, violation)
            counts[key] += 1
            best = smallest.get(key)
            if best is None or len(result.request.spec.body) < len(best.request.spec.body):
                smallest[key] = result
    lines = [
        f"{shape} {violation} x{counts[(shape, violation)]}\n    {describe(r, scanner)}"
        for (shape, violation), r in sorted(smallest.items())
    ]
    for category, problems in sorted(run.wrongful.items()):
        lines += [f"{category} wrongful: {p}" for p in problems[:10]]
    for category, hits in sorted(run.secrets.items()):
        lines += [f"{category} secret_at_rest: {h}" for h in hits[:10]]
    if run.skipped:
        lines.append(f"skipped (shape timed out before, or past the budget): {dict(run.skipped)}")
    if not run.drained:
        # Not a violation: every queued message was checked against the accepted ids.
        lines.append(
            "note: the signals queue had not drained; orders not yet placed went unchecked"
        )
    return lines


def print_run(run: Run, values: dict[str, str], total_s: float) -> None:
    """Print the table, the failures with reproductions and the timings."""
    scanner = Scanner(run.mask or secrets_from_settings(values))
    print(table(run))
    print(*run.scan, sep="\n")
    lines = failures(run, scanner)
    print(f"\n{len(lines)} violated (shape, invariant) pairs" + (":" if lines else "."))
    for line in lines:
        print(line)
    sent = len(run.results)
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
    print(f"\n{sent} requests sent; fuzz + checks {run.duration_s:.1f} s ({steps})")
    print(f"whole run {total_s:.1f} s")
