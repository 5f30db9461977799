"""Simulator settings: credentials, accounts, starting prices, protocol knobs and faults.

Every knob that covers an **UNCONFIRMED** point of the reference (``tradovate-api.md`` §7) is a
setting here, so a client can be tested against both readings. ``SimConfig.from_json_file`` reads
the same names (snake_case) from a small JSON file; unknown names are rejected, never dropped.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.tradovate_sim.faults import FaultConfig


@dataclass(frozen=True)
class AccountConfig:
    """One simulated trading account."""

    id: int
    name: str
    cash: Decimal = Decimal("50000")
    active: bool = True
    locked: bool = False
    liquidation_only: bool = False
    max_order_qty: int | None = None
    max_position: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountConfig:
        """Build from JSON-like data."""
        values = _known(cls, data, "account")
        if "cash" in values:
            values["cash"] = Decimal(str(values["cash"]))
        return cls(**values)


DEFAULT_ACCOUNTS = (AccountConfig(10001, "DEMO10001"), AccountConfig(10002, "DEMO10002"))

# Round numbers near where these markets traded in 2025; every price is on its product's tick.
DEFAULT_PRICES: dict[str, Decimal] = {
    "ES": Decimal("6000.00"),
    "MES": Decimal("6000.00"),
    "NQ": Decimal("21000.00"),
    "MNQ": Decimal("21000.00"),
    "RTY": Decimal("2300.0"),
    "M2K": Decimal("2300.0"),
    "YM": Decimal("44000"),
    "MYM": Decimal("44000"),
    "CL": Decimal("70.00"),
    "MCL": Decimal("70.00"),
    "GC": Decimal("2650.0"),
    "MGC": Decimal("2650.0"),
}


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator needs to start; the defaults work out of the box."""

    username: str = "sim-trader"
    password: str = "sim-password"  # noqa: S105 - the documented simulator default
    cid: int = 8
    sec: str = "sim-api-secret"
    user_id: int = 4242
    full_name: str = "Sim Trader"
    email: str = "sim-trader@example.invalid"
    accounts: tuple[AccountConfig, ...] = DEFAULT_ACCOUNTS
    prices: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    # Auth. Lifetime 90 min per the classic docs (newer partner pages say 80: UNCONFIRMED).
    token_lifetime_s: float = 5400.0
    renew_invalidates_old_token: bool = False  # UNCONFIRMED either way
    renew_returns_md_token: bool = True  # UNCONFIRMED either way
    max_sessions: int = 2  # "a third login closes the oldest"; 0 means unlimited
    bad_credentials_status: int = 200  # 200 + errorText (logs) or 401 (partner page)
    expired_token_status: int = 401  # 401 (partner) or 400 (older docs)
    captcha_after_failed_logins: int = 0  # 0 = off; N = the Nth failure in a row earns p-captcha

    # WebSocket. Exact server timeouts are UNCONFIRMED; 30 s matches the observed drops.
    heartbeat_timeout_s: float = 30.0
    server_heartbeat_s: float = 2.5
    authorize_timeout_s: float = 30.0
    ws_closes_on_token_expiry: bool = False  # DOCS24 says sockets outlive their token
    ws_queue_limit: int = 10000  # frames buffered per socket before it is dropped as too slow

    # REST/entity shape choices for UNCONFIRMED points.
    order_has_clordid: bool = False  # clOrdId is a Command field; True also puts it on Order
    success_failure_reason: bool = False  # True adds failureReason "Success" to successes
    snapshot_omit_zero: bool = True  # cash snapshot leaves zero P&L fields out
    not_found_status: int = 404  # status of find/item misses; 200 answers null instead
    accept_form_bodies: bool = False  # form-encoded bodies (UNCONFIRMED); JSON always works
    require_is_automated: bool = False  # True rejects orders without isAutomated: true
    reject_unknown_fields: bool = False  # True answers 400 to unknown order-request fields
    # Trailing stops (docs/reference/tradovate-trailing-stops.md). The sign of pegDifference is
    # UNCONFIRMED: "signed" (FIX tag 211: negative for a sell, positive for a buy), "unsigned"
    # (a positive distance) or "either". DOCS24 marks stopPrice required for trailing types.
    # TrailingStopNonOrderQtyModify (in the reject enum) read as "only orderQty may change".
    trailing_peg_sign: str = "signed"
    trailing_requires_stop_price: bool = True
    trailing_modify_qty_only: bool = False

    start_time: str | None = None  # ISO-8601 UTC; None = the real current time
    seed: int = 0
    random_walk_s: float | None = None  # None = prices move only when told
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        ids = [account.id for account in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("account ids must be unique")
        if self.user_id in ids:
            raise ValueError("user_id must differ from every account id")
        if self.token_lifetime_s <= 0 or self.heartbeat_timeout_s <= 0:
            raise ValueError("token_lifetime_s and heartbeat_timeout_s must be positive")
        if self.trailing_peg_sign not in ("signed", "unsigned", "either"):
            raise ValueError("trailing_peg_sign must be signed, unsigned or either")

    def replace(self, **changes: Any) -> SimConfig:
        """Return a copy with ``changes`` applied (JSON-like values accepted)."""
        merged = {**self.to_dict(), **changes}
        return SimConfig.from_dict(merged)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-able data that ``from_dict`` reads back."""
        data = dataclasses.asdict(self)
        data["accounts"] = [{**dataclasses.asdict(a), "cash": str(a.cash)} for a in self.accounts]
        data["prices"] = {symbol: str(price) for symbol, price in self.prices.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimConfig:
        """Build from JSON-like data, rejecting unknown names and wrongly typed values."""
        values = _known(cls, data, "simulator")
        for name, value in values.items():
            values[name] = _checked(name, value)
        if "accounts" in values:
            values["accounts"] = tuple(
                a if isinstance(a, AccountConfig) else AccountConfig.from_dict(a)
                for a in values["accounts"]
            )
        if "prices" in values:
            prices = {**DEFAULT_PRICES}
            prices.update({str(k).upper(): Decimal(str(v)) for k, v in values["prices"].items()})
            values["prices"] = prices
        if "faults" in values and not isinstance(values["faults"], FaultConfig):
            values["faults"] = FaultConfig.from_dict(values["faults"])
        return cls(**values)

    @classmethod
    def from_json_file(cls, path: str | Path) -> SimConfig:
        """Read settings from a JSON object in ``path``."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return cls.from_dict(data)


_OPTIONAL = {"start_time": str, "random_walk_s": float}


def _checked(name: str, value: Any) -> Any:
    """Check a scalar setting against the type of its default (ints pass as floats)."""
    default = getattr(_DEFAULTS, name)
    kind: type | None = _OPTIONAL.get(name)
    if kind is not None and value is None:
        return None
    if kind is None and isinstance(default, bool | int | float | str):
        kind = type(default)
    if kind is None:
        return value  # structured settings are checked by their own parsers
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"setting {name} must be {kind.__name__}, not {value!r}")
    return value


def _known(cls: type, data: dict[str, Any], what: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {what} setting(s): {', '.join(unknown)}")
    return dict(data)


_DEFAULTS = SimConfig()
