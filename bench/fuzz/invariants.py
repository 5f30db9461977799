"""The invariants one answer must hold, and the counts of what a whole run broke."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field

from bench.fuzz.requests import FuzzRequest
from bench.secrets_scan import Secret

SLOW_MS = 100.0


@dataclass
class Result:
    """What one request got back, and which invariants it broke."""

    request: FuzzRequest
    status: int | None = None
    own_ms: float | None = None
    wall_ms: float = 0.0
    error: str | None = None
    answer: str = ""
    signal_id: str | None = None
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resent_ids: list[str] = field(default_factory=list)


def _has_code(text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and isinstance(body.get("message"), str)
    )


def judge(result: Result, answer: str) -> None:
    """Record the invariants one answer breaks (5xx, slow, 4xx without a code, wrong status)."""
    status, spec = result.status, result.request.spec
    if status is None:
        result.violations.append(result.error or "error")
        if result.error == "timeout":
            result.violations.append("slow")
        return
    if status >= 500:
        result.violations.append("5xx")
    if result.own_ms is not None and result.own_ms > SLOW_MS:
        result.violations.append("slow")
    if 400 <= status < 500 and not _has_code(answer):
        result.violations.append("4xx_without_code")
    if spec.expect is not None and status not in spec.expect:
        result.violations.append("unexpected_status")
    if status == 202:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            result.signal_id = str(json.loads(answer)["id"])


@dataclass
class Run:
    """Everything a fuzz run found, ready to print."""

    planned: Counter[str]
    results: list[Result]
    skipped: Counter[str]
    wrongful: dict[str, list[str]] = field(default_factory=dict)  # category -> problems
    secrets: dict[str, list[str]] = field(default_factory=dict)  # category -> hit lines
    scan: list[str] = field(default_factory=list)
    drained: bool = True
    duration_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    mask: list[Secret] = field(default_factory=list)

    def by_category(self) -> dict[str, list[Result]]:
        """Group the results by category, in the order they were planned."""
        grouped: dict[str, list[Result]] = {c: [] for c in self.planned}
        for result in self.results:
            grouped[result.request.category].append(result)
        return grouped

    def violations(self) -> int:
        """Count every broken invariant (a timeout and its slowness count once each)."""
        counted = sum(len(r.violations) for r in self.results)
        return (
            counted + sum(map(len, self.wrongful.values())) + sum(map(len, self.secrets.values()))
        )

    def failed(self) -> bool:
        """Say whether the run found anything, or could not check everything."""
        return self.violations() > 0 or sum(self.skipped.values()) > 0
