"""One simulation: every piece of mutable state, built from a ``SimConfig``.

Reset builds a new ``Simulation`` from the original config, so nothing can survive a reset by
accident (tokens, orders, prices, faults, counters, the clock offset, runtime config changes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from local.tradovate_sim.auth import AuthService
from local.tradovate_sim.clock import SimClock, parse_iso
from local.tradovate_sim.config import SimConfig
from local.tradovate_sim.contracts import Contract, ContractLibrary
from local.tradovate_sim.engine import Engine
from local.tradovate_sim.faults import FaultState, PenaltyBook

# Settings that shape state built once per simulation; changing them later would not apply.
START_ONLY = frozenset(
    {"accounts", "prices", "start_time", "user_id", "seed", "faults", "random_walk_s"}
)


@dataclass
class Stats:
    """Counters that tests and benchmarks read through ``GET /admin/stats``."""

    rest: Counter[str] = field(default_factory=Counter)
    ws: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    connections: Counter[str] = field(default_factory=Counter)
    heartbeats: int = 0
    logins: int = 0
    renewals: int = 0

    def count(self, transport: str, endpoint: str) -> None:
        """Count one request."""
        (self.rest if transport == "rest" else self.ws)[endpoint] += 1

    def snapshot(self, pticket_mismatches: int) -> dict[str, Any]:
        """Return every counter as JSON-able data."""
        total = self.rest + self.ws
        return {
            "requests": dict(sorted(total.items())),
            "rest": dict(sorted(self.rest.items())),
            "ws": dict(sorted(self.ws.items())),
            "total_requests": sum(total.values()),
            "faults": dict(sorted(self.faults.items())),
            "connections": dict(self.connections),
            "heartbeats": self.heartbeats,
            "logins": self.logins,
            "renewals": self.renewals,
            "pticket_body_mismatches": pticket_mismatches,
        }


class Simulation:
    """All state of one run of the simulator."""

    def __init__(self, config: SimConfig) -> None:
        self.base_config = config
        self.clock = SimClock(parse_iso(config.start_time) if config.start_time else None)
        self.library = ContractLibrary(self.clock.now())
        self.engine = Engine(config, self.library, self.clock)
        self.auth = AuthService(config, self.clock)
        self.faults = FaultState(config.faults, seed=config.seed)
        self.faults.start(self.clock.now())
        self.penalties = PenaltyBook()
        self.stats = Stats()
        self.config = config

    def configure(self, changes: dict[str, Any]) -> SimConfig:
        """Change settings at run time (until the next reset)."""
        fixed = sorted(set(changes) & START_ONLY)
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} only apply at start (use the config file, /admin/faults "
                "or /admin/ticker)"
            )
        config = self.config.replace(**changes)
        self.config = self.engine.config = self.auth.config = config
        return config

    def resolve(self, symbol: str | int) -> list[Contract]:
        """Resolve a contract id, a contract name or a product name (all its contracts)."""
        if isinstance(symbol, int):
            found = self.library.contracts.get(symbol)
            return [found] if found else []
        name = symbol.strip().upper()
        contract = self.library.contract(name)
        if contract is not None:
            return [contract]
        product = self.library.product(name)
        return self.library.product_contracts(product) if product else []
