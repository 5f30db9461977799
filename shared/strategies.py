"""Read the strategy file: which webhooks exist, whose accounts they trade, and within what limits.

The file is TOML (``strategies.example.toml`` documents every field), deployed with the app and
named by the ``STRATEGIES_FILE`` setting. It never holds a secret: each strategy names where its
webhook secret lives (a Key Vault secret in Azure, an environment variable locally), and a value
that looks like an inline secret is refused. ``load_strategies`` validates the whole file at
start and raises :class:`StrategyFileError` naming the file, line and field; the same check runs
from the command line::

    python -m shared.strategies check strategies.toml
"""

from __future__ import annotations

import re
import sys
import tomllib
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.domain.errors import ConfigError
from shared.domain.signal import (
    BracketLeg,
    Breakeven,
    OrderType,
    PriceSpec,
    PriceUnit,
    TimeInForce,
    TrailingStop,
)
from shared.domain.symbols import SymbolRef

_ID_RE = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_KEY_VAULT_NAME_RE = r"^[0-9A-Za-z-]{1,127}$"
_ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
# Keys that, holding a string, mean someone pasted a credential into the file.
_SECRET_KEYS = re.compile(
    r"^(secret|password|passphrase|token|api_?key|client_secret|private_key|webhook_secret|value)$",
    re.IGNORECASE,
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Positive = Annotated[Decimal, Field(gt=0)]
# An instrument root as Tradovate names products: upper-case letters and digits (MNQ, 6E, M2K).
Root = Annotated[str, Field(pattern=r"^[0-9]*[A-Z][A-Z0-9]*$", max_length=6)]


class _Model(BaseModel):
    # Each field's docstring is its description: docs/reference/strategy-file.md is generated
    # from them (python -m local.docs_reference), so a key cannot ship undocumented.
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class SecretRef(_Model):
    """Say where a webhook secret lives; never the secret itself."""

    key_vault_secret: str | None = Field(None, pattern=_KEY_VAULT_NAME_RE)
    """The Key Vault secret that holds the webhook secret (Azure); derived from ``env`` when left
    out.
    """
    env: str | None = Field(None, pattern=_ENV_NAME_RE)
    """The environment variable that holds the webhook secret (local stack); derived from
    ``key_vault_secret`` when left out.
    """

    @model_validator(mode="after")
    def _one_name(self) -> SecretRef:
        if self.key_vault_secret is None and self.env is None:
            raise ValueError("give key_vault_secret (Azure) and/or env (local)")
        for name in (self.key_vault_secret, self.env):
            if name is not None and _looks_random(name):
                raise ValueError("this looks like a secret value, not the name of one")
        return self

    @property
    def key_vault_name(self) -> str:
        """Return the Key Vault secret name (derived from ``env`` when not given)."""
        return self.key_vault_secret or str(self.env).lower().replace("_", "-")

    @property
    def env_name(self) -> str:
        """Return the environment variable name (derived from the Key Vault name when not given)."""
        return self.env or str(self.key_vault_secret).upper().replace("-", "_")


def _looks_random(name: str) -> bool:
    # Secret names are words joined by - or _; a long unbroken mix of letters and digits is a key.
    return (
        len(name) >= 20
        and not re.search(r"[-_]", name)
        and bool(re.search(r"\d", name))
        and bool(re.search(r"[A-Za-z]", name))
    )


class Account(_Model):
    """Name one Tradovate account the strategy trades and how it scales quantities."""

    name: str = Field(min_length=1, max_length=64)
    """The Tradovate account name, as Tradovate shows it."""
    id: StrictInt | None = Field(None, gt=0)
    """The Tradovate account id; looked up by name when left out."""
    multiplier: Positive = Decimal(1)
    """Multiplies every quantity for this account, rounded down to whole contracts; may be
    fractional (``0.5``); at most 100.
    """
    enabled: StrictBool = True
    """False leaves the account out of every signal of this strategy."""

    @field_validator("multiplier")
    @classmethod
    def _sane_multiplier(cls, value: Decimal) -> Decimal:
        if value > 100:
            raise ValueError("multiplier above 100 is almost certainly a typo")
        return value


class Level(_Model):
    """Give a bracket distance in exactly one unit: ticks, points, percent or dollars."""

    ticks: Positive | None = None
    """The distance in ticks of the traded contract."""
    points: Positive | None = None
    """The distance in price points."""
    percent: Positive | None = None
    """The distance as a percent of the anchor price (below 100)."""
    dollars: Positive | None = None
    """The distance as profit or loss in USD per contract."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Level:
        if len([v for v in (self.ticks, self.points, self.percent, self.dollars) if v]) != 1:
            raise ValueError("give exactly one of ticks, points, percent, dollars")
        if self.percent is not None and self.percent >= 100:
            raise ValueError("a percent distance must be below 100")
        return self

    def spec(self) -> PriceSpec:
        """Return the domain level."""
        for unit in (PriceUnit.TICKS, PriceUnit.POINTS, PriceUnit.PERCENT, PriceUnit.DOLLARS):
            value = getattr(self, unit.value)
            if value is not None:
                return PriceSpec(value, unit)
        raise AssertionError("unreachable: validated to hold one unit")  # pragma: no cover


class TrailingDefault(_Model):
    """Trail the stop by ``distance``, starting once ``trigger`` is in profit."""

    distance: Level
    """How far the stop trails the best price."""
    trigger: Level | None = None
    """The profit at which trailing starts; at once when left out."""
    step: Level | None = None
    """The smallest move that shifts the stop; every tick when left out."""


class BreakevenDefault(_Model):
    """Move the stop to entry plus ``offset`` once ``trigger`` is in profit."""

    trigger: Level
    """The profit at which the stop moves to the entry price."""
    offset: Level | None = None
    """How far past the entry price the stop goes (in profit); exactly the entry when left out."""


class Defaults(_Model):
    """Fill in what an alert leaves out."""

    quantity: Positive = Decimal(1)
    """Contracts per order when the alert names none (whole contracts; multiplied per account)."""
    order_type: OrderType = OrderType.MARKET
    """``market`` or ``limit`` (resting at the alert's price) when the alert names none; a stop
    needs a trigger price only an alert can give.
    """
    time_in_force: TimeInForce = TimeInForce.DAY
    """``day``, ``gtc``, ``ioc`` or ``fok`` when the alert names none; ``gtd`` needs an expiry
    only an alert can give.
    """
    take_profit: Level | None = None
    """The take-profit distance of an entry whose alert names none."""
    stop_loss: Level | None = None
    """The stop-loss distance of an entry whose alert names none."""
    trailing_stop: TrailingDefault | None = None
    """A trailing stop for entries whose alert names none."""
    breakeven: BreakevenDefault | None = None
    """Move the stop to breakeven once in profit, for entries whose alert names none."""

    @field_validator("quantity")
    @classmethod
    def _whole(cls, value: Decimal) -> Decimal:
        if value != value.to_integral_value():
            raise ValueError("quantity must be whole contracts")
        return value

    @field_validator("order_type")
    @classmethod
    def _plannable_type(cls, value: OrderType) -> OrderType:
        if value not in (OrderType.MARKET, OrderType.LIMIT):
            raise ValueError(
                f"a default order type of {value.value} needs a trigger price only an alert can "
                "give: use market or limit"
            )
        return value

    @field_validator("time_in_force")
    @classmethod
    def _plannable_time(cls, value: TimeInForce) -> TimeInForce:
        if value is TimeInForce.GTD:
            raise ValueError("a default gtd needs an expiry only an alert can give")
        return value

    def brackets(self) -> tuple[BracketLeg, ...]:
        """Return the default bracket as domain legs (empty when none is configured)."""
        trailing = breakeven = None
        if self.trailing_stop is not None:
            t = self.trailing_stop
            trailing = TrailingStop(t.distance.spec(), _spec(t.trigger), _spec(t.step))
        if self.breakeven is not None:
            breakeven = Breakeven(self.breakeven.trigger.spec(), _spec(self.breakeven.offset))
        parts = (self.take_profit, self.stop_loss, trailing, breakeven)
        if all(part is None for part in parts):
            return ()
        return (
            BracketLeg(
                take_profit=_spec(self.take_profit),
                stop_loss=_spec(self.stop_loss),
                trailing_stop=trailing,
                breakeven=breakeven,
            ),
        )


def _spec(level: Level | None) -> PriceSpec | None:
    return None if level is None else level.spec()


class Behaviour(_Model):
    """Decide what an opposite signal does and whether a same-side signal may add."""

    opposite_signal: Literal["reverse", "exit_only", "ignore"] = "exit_only"
    """What a signal against the open position does: ``reverse`` (close and open the other side),
    ``exit_only`` (close only) or ``ignore``.
    """
    allow_add: StrictBool = False
    """True lets a same-side signal add to an open position; otherwise it is ignored unless it says
    ``add``.
    """
    # What a market entry's distance brackets (ticks, points, percent, dollars) measure from:
    # "auto" = the alert's price, else a quote no older than its time to live, else the
    # entry's own fill (the exits go out once the fill is known); or pin one of them.
    bracket_anchor: Literal["auto", "alert", "quote", "fill"] = "auto"
    """What a market entry's bracket distances measure from: ``auto`` (the alert's price, else a
    fresh quote, else the fill), ``alert``, ``quote`` or ``fill``.
    """
    # When exits placed after a fill are refused: "flatten" closes what filled, "notify" keeps
    # the position and publishes a risk.alert event.
    bracket_failure: Literal["flatten", "notify"] = "flatten"
    """When exits placed after a fill are refused: ``flatten`` closes what filled, ``notify`` keeps
    it and publishes a ``risk.alert`` event.
    """


class TradingWindow(_Model):
    """Allow trading from ``start`` (inclusive) to ``end`` (exclusive) on ``days``.

    A window whose end is before its start runs past midnight; ``days`` names the start day.
    """

    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    """The weekdays the window starts on (``mon`` … ``sun``)."""
    start: time
    """The first minute of the window (``HH:MM``, in the risk ``timezone``)."""
    end: time
    """The minute the window closes (exclusive); before ``start`` runs past midnight."""

    @model_validator(mode="after")
    def _not_empty(self) -> TradingWindow:
        if self.start == self.end:
            raise ValueError("start and end are equal; the window would be empty")
        if not self.days or len(set(self.days)) != len(self.days):
            raise ValueError("days must name each weekday at most once")
        return self


class Risk(_Model):
    """Limit what execution may do; every limit is checked before any broker call."""

    max_order_qty: StrictInt | None = Field(None, ge=1)
    """The most contracts one order may carry, after the account multiplier."""
    max_position: StrictInt | None = Field(None, ge=1)
    """The most contracts (absolute) one account may hold in one instrument."""
    daily_loss_limit: Positive | None = None
    """USD per account, realized plus open; once lost, entries are denied for the rest of the day.
    """
    timezone: str = "America/Chicago"
    """The IANA time zone of the trading windows and of the trading day."""
    trading_windows: tuple[TradingWindow, ...] = ()
    """When entries are allowed; empty allows any time."""
    exits_outside_windows: StrictBool = True
    """True lets exits, flats and cancels pass outside the windows."""
    cooldown_s: StrictInt = Field(0, ge=0, le=86_400)
    """The fewest seconds between two entries."""
    max_alert_age_s: StrictInt | None = Field(60, ge=1, le=86_400)
    """Refuse an alert whose TradingView time is older than this many seconds."""
    symbols: tuple[Root, ...] = ()
    """The traded roots allowed (after the symbol map); empty allows any."""
    kill_switch: StrictBool = False
    """True denies every order that opens or adds exposure; exits still pass."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Risk:
        if self.max_order_qty and self.max_position and self.max_order_qty > self.max_position:
            raise ValueError("max_order_qty cannot exceed max_position")
        return self


class Webhook(_Model):
    """Tune the webhook for this strategy."""

    rate_limit_per_min: StrictInt = Field(60, ge=1, le=6_000)
    """The most alerts per minute the webhook accepts for this strategy; more answer 429."""
    dedupe_window_s: StrictInt = Field(10, ge=0, le=86_400)
    """An identical body within this many seconds is a duplicate and is not queued again."""
    ip_allowlist: StrictBool = True
    """True accepts only TradingView's published addresses (and ``WEBHOOK_EXTRA_ALLOWED_IPS``)."""


class Reconcile(_Model):
    """Decide what the reconcile timer does about drift: report it (default), or also heal it
    by queueing a target-position signal that passes every risk gate like an alert."""

    heal: StrictBool = False
    """False reports drift; true also queues a target-position signal that trades it back through
    every risk gate.
    """


class Strategy(_Model):
    """Describe one strategy: its secret, accounts, symbol map, defaults, behaviour and limits."""

    id: str = Field(pattern=_ID_RE)
    """The strategy id: the table name ``[strategies.<id>]`` and the last part of the webhook URL.
    """
    description: str = ""
    """Free text for people."""
    enabled: StrictBool = True
    """False makes the webhook refuse this strategy's alerts (401)."""
    secret: SecretRef
    """Where the webhook secret lives (never the secret itself)."""
    accounts: tuple[Account, ...] = Field(min_length=1)
    """The Tradovate accounts every signal of this strategy trades, each once."""
    symbols: dict[Root, Root] = Field(default_factory=dict)
    """Alert root → traded root (``NQ = "MNQ"`` trades MNQ for NQ alerts); the contract choice is
    kept.
    """
    defaults: Defaults = Defaults()
    """What an alert may leave out."""
    behaviour: Behaviour = Behaviour()
    """How signals combine with an open position."""
    risk: Risk = Risk()
    """Limits checked before any broker call."""
    webhook: Webhook = Webhook()
    """How the webhook treats this strategy's alerts."""
    reconcile: Reconcile = Reconcile()
    """What the reconcile timer does about drift."""

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, value: tuple[Account, ...]) -> tuple[Account, ...]:
        names = [account.name for account in value]
        if len(set(names)) != len(names):
            raise ValueError("an account is listed twice")
        return value

    @model_validator(mode="after")
    def _plannable(self) -> Strategy:
        # The executor builds each account's policy from this; a value it refuses would fail
        # every signal of the strategy there, so the file is refused here instead.
        from shared.services.policy_builder import policy_for

        for account in self.accounts:
            try:
                policy_for(self, account.name, account.multiplier)
            except ValueError as exc:
                raise ValueError(f"account {account.name}: {exc}") from exc
        return self

    def trade_symbol(self, symbol: SymbolRef) -> SymbolRef:
        """Return the symbol to trade for an alert's symbol (alert on NQ, trade MNQ)."""
        mapped = self.symbols.get(symbol.root)
        return symbol if mapped is None else symbol.with_root(mapped)

    def account(self, name: str) -> Account | None:
        """Return the account called ``name``, or None."""
        return next((account for account in self.accounts if account.name == name), None)


class _StrategyFile(_Model):
    version: Literal[1] = 1
    """The file format version; 1."""
    strategies: dict[str, Strategy] = Field(min_length=1)
    """One table per strategy, keyed by its id."""

    @model_validator(mode="before")
    @classmethod
    def _ids_from_keys(cls, data: Any) -> Any:
        # The table name is the id (it is part of the webhook URL); _check_ids refused others.
        tables = data.get("strategies") if isinstance(data, dict) else None
        if isinstance(tables, dict):
            for key, table in tables.items():
                if isinstance(table, dict):
                    table["id"] = key
        return data


class StrategyBook(Mapping[str, Strategy]):
    """Hold every configured strategy by id; read-only."""

    def __init__(self, strategies: Mapping[str, Strategy], source: str) -> None:
        self._strategies = dict(strategies)
        self.source = source

    def __getitem__(self, strategy_id: str) -> Strategy:
        return self._strategies[strategy_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._strategies)

    def __len__(self) -> int:
        return len(self._strategies)


class StrategyFileError(ConfigError):
    """Report an invalid strategy file with the file, line and field at fault."""

    code = "invalid_strategies"

    def __init__(
        self, message: str, *, path: str, line: int | None, field: str | None, code: str
    ) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}", code=code)
        self.path, self.line, self.field = path, line, field


def load_strategies(path: str | Path) -> StrategyBook:
    """Read and validate the strategy file, or raise ``StrategyFileError`` saying where and why."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise StrategyFileError(
            f"cannot read the strategy file ({exc.strerror})",
            path=name,
            line=None,
            field=None,
            code="missing_strategies_file",
        ) from None
    return parse_strategies(text, name)


def parse_strategies(text: str, source: str = "<strategies>") -> StrategyBook:
    """Validate strategy TOML given as text; ``source`` names it in errors."""
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = int(match.group(1)) if match else len(text.splitlines())
        raise StrategyFileError(
            f"not valid TOML: {exc}", path=source, line=line, field=None, code="invalid_toml"
        ) from None
    _reject_inline_secrets(raw, (), text, source)
    _check_ids(raw, text, source)
    try:
        document = _StrategyFile.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        raise StrategyFileError(
            error["msg"].removeprefix("Value error, "),
            path=source,
            line=_locate(text, loc),
            field=_dotted(loc) or None,
            code="invalid_strategies",
        ) from None
    return StrategyBook(document.strategies, source)


def _reject_inline_secrets(node: object, loc: tuple[str | int, ...], text: str, src: str) -> None:
    items: Sequence[tuple[str | int, object]]
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        here = (*loc, key)
        if isinstance(key, str) and isinstance(value, str) and _SECRET_KEYS.match(key):
            raise StrategyFileError(
                "this looks like an inline secret; name where it lives instead "
                '(secret = { key_vault_secret = "...", env = "..." })',
                path=src,
                line=_locate(text, here),
                field=_dotted(here),
                code="inline_secret",
            )
        _reject_inline_secrets(value, here, text, src)


def _check_ids(raw: dict[str, Any], text: str, source: str) -> None:
    tables = raw.get("strategies")
    for key, table in tables.items() if isinstance(tables, dict) else ():
        if isinstance(table, dict) and table.get("id", key) != key:
            loc = ("strategies", key, "id")
            raise StrategyFileError(
                f"id {table['id']!r} differs from the table name {key!r}; drop it",
                path=source, line=_locate(text, loc), field=_dotted(loc),
                code="invalid_strategies",
            )  # fmt: skip


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself", already named
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _locate(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Find the line of the table or key an error points at (best effort)."""
    keys = [part for part in loc if isinstance(part, str)]
    lines = text.splitlines()
    best, depth = None, 0
    for number, line in enumerate(lines):
        match = _HEADER_RE.match(line)
        if match:
            parts = [p.strip().strip("\"'") for p in match.group(1).split(".")]
            if parts == keys[: len(parts)] and len(parts) >= depth:
                best, depth = number, len(parts)
    start = 0 if best is None else best + 1
    for key in keys[depth:]:
        pattern = re.compile(
            rf"""^\s*["']?{re.escape(key)}["']?\s*=|[{{,]\s*{re.escape(key)}\s*="""
        )
        for number in range(start, len(lines)):
            if number > start and _HEADER_RE.match(lines[number]):
                break
            if pattern.search(lines[number]):
                return number + 1
    return None if best is None else best + 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``check FILE``: print what the file configures, or why it is invalid (exit 1)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "check":
        print("usage: python -m shared.strategies check FILE", file=sys.stderr)
        return 2
    try:
        book = load_strategies(args[1])
    except ConfigError as exc:
        print(f"invalid: {exc.message}", file=sys.stderr)
        return 1
    for strategy in book.values():
        accounts = ", ".join(f"{a.name} x{a.multiplier}" for a in strategy.accounts)
        state = "" if strategy.enabled else " (disabled)"
        print(f"{strategy.id}{state}: accounts {accounts}; secret {strategy.secret.key_vault_name}")
    print(f"ok: {len(book)} strateg{'y' if len(book) == 1 else 'ies'} in {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
