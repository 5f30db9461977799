"""Judge a chaos run: replay the oracle, check every invariant, print the table, write JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.chaos import invariants as inv
from bench.chaos.oracle import Step, replay
from bench.chaos.run import Collected, expected_pairs
from bench.chaos.strategies import chaos_book, lanes
from bench.common import Cell, print_table

STALE_NA = "n/a (no basis recorded)"
INVARIANTS = (
    "never accepted",
    "lost",
    "stuck in queue",
    "duplicated",
    "position mismatches",
    "exposure-increasing exits",
    "max_position breaches",
    "wrongful rejections",
    "stale plans",
)


@dataclass
class Verdict:
    """A run's figures, the lines behind each non-zero invariant, and whether it passed."""

    figures: dict[str, Any]
    details: dict[str, list[str]] = field(default_factory=dict)

    @property
    def violations(self) -> dict[str, int]:
        """Return each invariant's count (stale plans: those with a basis only)."""
        return {name: len(self.details.get(name, [])) for name in INVARIANTS}

    @property
    def passed(self) -> bool:
        """Tell whether every invariant held."""
        return not any(self.violations.values())


def _oracle(c: Collected) -> tuple[dict[inv.Lane, int], dict[inv.Pair, tuple[int, Step]]]:
    """Replay each lane's accepted alerts in stream order: final positions, and each signal's
    outcome with the position the oracle had before it."""
    finals: dict[inv.Lane, int] = {}
    outcomes: dict[inv.Pair, tuple[int, Step]] = {}
    for lane in lanes(chaos_book()):
        ours = [p for p in c.posted if p.alert.strategy == lane.strategy and p.signal_id]
        steps = replay((p.alert.spec for p in ours), lane.rules)
        finals[(lane.account_id, lane.root)] = steps[-1].position if steps else 0
        before = 0
        for posted, outcome in zip(ours, steps, strict=True):
            outcomes[(str(posted.signal_id), lane.account)] = (before, outcome)
            before = outcome.position
    return finals, outcomes


def _outcome_mismatches(c: Collected, outcomes: Mapping[inv.Pair, tuple[int, Step]]) -> list[str]:
    """Signals whose ledger outcome differs from the oracle's, with what each side saw."""
    found = inv.summaries(c.rows)
    specs = {p.signal_id: p.alert for p in c.posted}
    lines = []
    for pair, (before, want) in outcomes.items():
        row = found.get(pair)
        got = None if row is None else (row.status, row.fields.get("reason_code"))
        if got is None or row is None or got == (want.outcome, want.code):
            continue
        alert = specs[pair[0]]
        seen = {k: row.fields.get(k) for k in ("position_before", "delivery_count", "basis")}
        lines.append(
            f"{pair[0]} ({alert.key} {alert.spec}) for {pair[1]}: ledger {got} {seen}; "
            f"oracle from {before}: {want}"
        )
    return lines


def _only_duplicate(c: Collected) -> list[str]:
    """Alerts whose copies failed and were then answered "duplicate": either the first copy
    was enqueued although it was answered 5xx, or the de-duplication claim outlived a failed
    enqueue and the alert is lost (then it is also counted under "lost")."""
    executed = {row.signal_id for row in c.rows if row.row_key.startswith("exec:")}
    return [
        f"{p.alert.key} ({p.signal_id}): {', '.join(p.answers)}; "
        + ("enqueued" if p.signal_id in executed else "never enqueued")
        for p in c.posted
        if p.duplicates and not p.accepted
    ]


def _queue_lines(c: Collected) -> list[str]:
    """One line per message left on the queue: active or scheduled, or dead-lettered (why)."""
    waiting = [
        f"{name} message {n + 1}"
        for name in ("active", "scheduled")
        for n in range(c.queue.get(name, 0))
    ]
    return waiting + [f"dead-lettered {letter}" for letter in c.dead_letters]


def judge(c: Collected) -> Verdict:
    """Check every invariant of a collected run."""
    all_lanes = lanes(chaos_book())
    view = inv.SimView.from_state(c.state, c.roots)
    lines = inv.timelines(view)
    pairs = expected_pairs(c.posted)
    finals, outcomes = _oracle(c)
    account_ids = {lane.account: lane.account_id for lane in all_lanes}
    linked = inv.link_orders(view, c.rows, pairs, {v: k for k, v in account_ids.items()})
    reducing = {str(p.signal_id) for p in c.posted if p.signal_id and p.alert.spec.reducing}
    limits = {(lane.account_id, lane.root): lane.rules.max_position for lane in all_lanes}
    staleness = inv.stale_plans(c.rows, lines, account_ids)
    details = {
        "never accepted": [
            f"{p.alert.key}: {p.failures} failures, refusals {p.refusals}"
            for p in c.posted
            if p.signal_id is None
        ],
        "lost": inv.lost(pairs, c.rows),
        "stuck in queue": _queue_lines(c),
        "duplicated": inv.duplicated(view, c.rows, {p.alert.key: p.accepted for p in c.posted}),
        "position mismatches": inv.position_mismatches(view, finals),
        "exposure-increasing exits": inv.exposure_increasing_exits(lines, linked, reducing),
        "max_position breaches": inv.max_position_breaches(lines, limits),
        "wrongful rejections": inv.wrongful_rejections(c.rows, view),
        "stale plans": staleness.stale,
        "outcome mismatches (info)": _outcome_mismatches(c, outcomes),
        "answered only duplicate (info)": _only_duplicate(c),
        "orders not linked to a signal (info)": [
            f"order {o.id} clOrdId {o.cl_ord_id}"
            for o in view.orders.values()
            if o.id not in linked
        ],
    }
    faults = c.stats.get("faults", {})
    figures: dict[str, Any] = {
        "alerts": len(c.posted),
        "re-sends": sum(p.resends for p in c.posted),
        "accepted": sum(1 for p in c.posted if p.accepted),
        "answered duplicate": sum(len(p.duplicates) for p in c.posted),
        "webhook retries": sum(p.retries for p in c.posted),
        "kills": c.faults["kill"],
        "kills mid-order": c.faults["kills mid-order"],
        "redis restarts": c.faults["redis"],
        "socket drops": c.faults["drop"],
        "sockets dropped": c.faults["sockets dropped"],
        "worker kills": c.faults["worker"],
        "5xx before": int(faults.get("500", 0)),
        "5xx after": int(faults.get("504-after", 0)),
        "429": int(faults.get("429", 0)),
        "p-tickets": int(faults.get("p-ticket", 0)),
        "executions": len(pairs),
        "orders": len(view.orders),
        "fills": len(view.fills),
        "basis recorded": staleness.evaluated,
        "drain s": round(c.drain_s, 2),
        "wall time s": round(c.wall_s, 2),
    }
    verdict = Verdict(figures, details)
    for name, count in verdict.violations.items():
        figures[name] = count
    if not staleness.evaluated:
        figures["stale plans"] = STALE_NA
    figures["outcome mismatches (info)"] = len(details["outcome mismatches (info)"])
    return verdict


def print_verdict(verdict: Verdict, title: str) -> None:
    """Print the figures as a table, then the first lines behind each non-zero count."""
    f = verdict.figures
    counts: list[tuple[str, Cell, Cell, str]] = [
        (name, None, f[name], "")
        for name in ("alerts", "re-sends", "accepted", "answered duplicate", "webhook retries")
    ]  # fmt: skip
    counts.append(("kills", None, f"{f['kills']} ({f['kills mid-order']} mid-order)", ""))
    counts.append(("redis restarts", None, f["redis restarts"], ""))
    counts.append(("socket drops", None, f"{f['socket drops']} ({f['sockets dropped']} ws)", ""))
    counts.append(("worker kills", None, f["worker kills"], ""))
    counts += [(name, None, f[name], "") for name in ("5xx before", "5xx after", "429")]
    counts += [(name, None, f[name], "") for name in ("p-tickets", "executions", "orders")]
    stale = f["stale plans"]
    checks: list[tuple[str, Cell, Cell, str]] = [
        (name, 0, "n/a" if name == "stale plans" and stale == STALE_NA else f[name], "")
        for name in INVARIANTS
    ]
    tail: list[tuple[str, Cell, Cell, str]] = [
        ("plans with a basis (info)", None, f["basis recorded"], ""),
        ("outcome mismatches (info)", None, f["outcome mismatches (info)"], ""),
        ("drain", None, float(f["drain s"]), "s"),
        ("wall time", None, float(f["wall time s"]), "s"),
    ]
    print_table(title, counts + checks + tail, columns=("target", "measured"), ratio=False)
    if stale == STALE_NA:
        print(f"stale plans: {STALE_NA}: no execution summary carries a basis yet")
    for name, lines in verdict.details.items():
        for line in lines[:8]:
            print(f"  {name}: {line}")
        if len(lines) > 8:
            print(f"  {name}: ... {len(lines) - 8} more")
    print("invariants: " + ("all held" if verdict.passed else "VIOLATED"))


def write_json(verdict: Verdict, path: Path) -> None:
    """Write the figures, the details and the verdict as JSON."""
    document = {"figures": verdict.figures, "details": verdict.details, "passed": verdict.passed}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
