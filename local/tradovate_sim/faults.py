"""Fault injection: latency, 5xx, 429/423 bursts, p-ticket time penalties, dropped sockets.

``FaultConfig`` is the frozen description (from ``SimConfig`` or an admin call); ``FaultState``
is the live copy that counts down "next N" faults. Endpoint filters are shell patterns over the
normalised endpoint name (``order/placeorder``, ``auth/accesstokenrequest``, ``authorize``,
``md/subscribequote``); several patterns may be given separated by commas.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class FaultConfig:
    """Faults active from the start (all off by default)."""

    latency_ms: float = 0.0
    latency_endpoint: str = "*"
    error_rate: float = 0.0
    fail_next: int = 0
    error_status: int = 500
    error_endpoint: str = "*"
    # "before": answer 5xx without doing anything; "after": do the work, then answer 5xx (the
    # case where a client must look its order up by clOrdId before re-sending).
    error_mode: str = "before"
    throttle_next: int = 0
    throttle_status: int = 429
    throttle_endpoint: str = "*"
    lockout_s: float = 0.0
    pticket_next: int = 0
    pticket_time_s: float = 1.0
    pticket_captcha: bool = False
    pticket_endpoint: str = "*"
    drop_next_connections: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        """Build from JSON-like data, rejecting unknown names and wrong types."""
        return cls(**_checked_fields(cls, data))


def _checked_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
    checked: dict[str, Any] = {}
    for name, value in data.items():
        kind = type(getattr(FaultConfig(), name))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"fault setting {name} must be {kind.__name__}")
        checked[name] = value
    if checked.get("error_mode", "before") not in ("before", "after"):
        raise ValueError("error_mode must be 'before' or 'after'")
    if checked.get("throttle_status", 429) not in (423, 429):
        raise ValueError("throttle_status must be 423 or 429")
    return checked


def matches(pattern: str, endpoint: str) -> bool:
    """Say whether ``endpoint`` matches any of the comma-separated shell patterns."""
    return any(fnmatch.fnmatchcase(endpoint, part.strip().lower()) for part in pattern.split(","))


@dataclass
class FaultDecision:
    """What the pipeline must do to one request."""

    latency_s: float = 0.0
    throttle_status: int | None = None
    error_status: int | None = None
    error_after: bool = False
    pticket: bool = False


@dataclass
class FaultState:
    """The live, mutable fault settings of one simulation."""

    config: FaultConfig
    seed: int = 0
    lockout_until: datetime | None = None
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def update(self, changes: dict[str, Any], now: datetime) -> None:
        """Merge ``changes`` into the live settings; a positive ``lockout_s`` starts a lockout."""
        checked = _checked_fields(FaultConfig, changes)
        self.config = dataclasses.replace(self.config, **checked)
        if checked.get("lockout_s", 0.0) > 0:
            self.lockout_until = now + timedelta(seconds=checked["lockout_s"])

    def start(self, now: datetime) -> None:
        """Apply the configured lockout, if any, from ``now``."""
        if self.config.lockout_s > 0:
            self.lockout_until = now + timedelta(seconds=self.config.lockout_s)

    def decide(self, endpoint: str, now: datetime, resend: bool = False) -> FaultDecision:
        """Decide the faults for one request and count down the "next N" budgets; a p-ticket
        ``resend`` never earns a new penalty from the budget."""
        cfg = self.config
        decision = FaultDecision()
        if cfg.latency_ms > 0 and matches(cfg.latency_endpoint, endpoint):
            decision.latency_s = cfg.latency_ms / 1000.0
        if matches(cfg.throttle_endpoint, endpoint):
            if self.lockout_until is not None and now < self.lockout_until:
                decision.throttle_status = cfg.throttle_status
                return decision
            if cfg.throttle_next > 0:
                self.config = dataclasses.replace(cfg, throttle_next=cfg.throttle_next - 1)
                decision.throttle_status = cfg.throttle_status
                return decision
        if matches(cfg.error_endpoint, endpoint) and self._error_now():
            decision.error_status = self.config.error_status
            decision.error_after = self.config.error_mode == "after"
            if not decision.error_after:
                return decision
        pticket_due = self.config.pticket_next > 0 and not resend
        if pticket_due and matches(self.config.pticket_endpoint, endpoint):
            self.config = dataclasses.replace(
                self.config, pticket_next=self.config.pticket_next - 1
            )
            decision.pticket = True
        return decision

    def _error_now(self) -> bool:
        if self.config.fail_next > 0:
            self.config = dataclasses.replace(self.config, fail_next=self.config.fail_next - 1)
            return True
        return self.config.error_rate > 0 and self.rng.random() < self.config.error_rate

    def take_dropped_connection(self) -> bool:
        """Say whether the connection now opening must be dropped, counting it down."""
        if self.config.drop_next_connections <= 0:
            return False
        self.config = dataclasses.replace(
            self.config, drop_next_connections=self.config.drop_next_connections - 1
        )
        return True

    def snapshot(self) -> dict[str, Any]:
        """Return the live settings as JSON-able data."""
        data = dataclasses.asdict(self.config)
        until = self.lockout_until
        data["lockout_until"] = None if until is None else until.isoformat()
        return data


def body_digest(body: Any) -> str:
    """Hash a request body without its ``p-ticket`` so a re-send can be compared."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "p-ticket"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Ticket:
    """One issued time penalty."""

    endpoint: str
    digest: str
    not_before: datetime
    captcha: bool


@dataclass
class PenaltyBook:
    """Issue and redeem ``p-ticket`` time penalties (reference §2.4)."""

    tickets: dict[str, Ticket] = field(default_factory=dict)
    body_mismatches: int = 0

    def issue(
        self, endpoint: str, body: Any, now: datetime, wait_s: float, captcha: bool
    ) -> dict[str, Any]:
        """Record a new penalty and return the 200 body that announces it."""
        ticket = secrets.token_urlsafe(24)
        self.tickets[ticket] = Ticket(
            endpoint, body_digest(body), now + timedelta(seconds=wait_s), captcha
        )
        answer: dict[str, Any] = {"p-ticket": ticket, "p-time": _whole_seconds(wait_s)}
        if captcha:
            answer["p-captcha"] = True
        return answer

    def redeem(self, ticket: str, endpoint: str, body: Any, now: datetime) -> dict[str, Any] | None:
        """Accept a re-sent request, or return the penalty body to answer instead."""
        held = self.tickets.get(ticket)
        if held is None or held.endpoint != endpoint:
            # An unknown or foreign ticket earns a fresh penalty, as a new violation would.
            return self.issue(endpoint, body, now, 1.0, captcha=False)
        if held.captcha:
            # A third-party app cannot solve the captcha, so the ticket never clears here.
            return {"p-ticket": ticket, "p-time": _whole_seconds(3600.0), "p-captcha": True}
        if now < held.not_before:
            remaining = (held.not_before - now).total_seconds()
            return {"p-ticket": ticket, "p-time": _whole_seconds(remaining)}
        if held.digest != body_digest(body):
            self.body_mismatches += 1
        del self.tickets[ticket]
        return None


def _whole_seconds(seconds: float) -> int | float:
    # Tradovate reports p-time in whole seconds; sub-second values stay fractional so that fast
    # tests can use them.
    return int(seconds) if seconds >= 1 and seconds == int(seconds) else round(seconds, 3)
