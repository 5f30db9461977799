"""Check a strategy file against this deployment: ``POST /api/config/check``.

Without a body the deployed file (``STRATEGIES_FILE``) is checked; with a TOML body, that
candidate file, against the same deployment, so a trader can check a change before deploying
it. Every problem found is one entry ``{code, message, where}``; an empty list means none.
The checks:

1. settings: the function app's settings load (every required one is set and valid), Table
   storage and (with ``QUEUE_BACKEND=servicebus``) Service Bus are configured, and each timer's
   NCRONTAB schedule parses, field by field (``invalid_schedule``);
2. the strategy file loads (``shared.strategies``; its own codes, with the file, line and
   field in ``where``). Nothing below runs without it;
3. every secret a strategy names exists in the deployment's secret store (Key Vault in
   Azure, the environment locally), read as the webhook reads it. Values are never returned:
   only that one is missing (``missing_secret``) or could not be read;
4. every account a strategy names exists for the Tradovate login (one ``account/list``;
   ``unknown_account``), with the id the file gives, if any (``account_id_mismatch``);
5. every root a strategy trades (its symbol map's targets and its ``risk.symbols``) resolves
   to a contract (``unknown_symbol``) through the contract maps, as the executor resolves a
   ``ROOT1!`` alert: a missing map is built from Tradovate, as on a first signal. The map's
   keys are what alerts say and never reach Tradovate; the file has no default symbol.

A dependency that cannot be asked (Key Vault, Tradovate, Redis) is a problem too, with its
code, since the check could not conclude. The secret, account and symbol checks run at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.errors import BridgeError, ConfigError, InvalidRequest, InvalidSignal
from shared.domain.symbols import parse_symbol
from shared.ports import ContractSource, SecretStore
from shared.strategies import (
    SecretRef,
    StrategyBook,
    StrategyFileError,
    load_strategies,
    parse_strategies,
)

if TYPE_CHECKING:
    from pathlib import Path

    from shared.config import Settings
    from shared.domain.broker import Account

MAX_CANDIDATE_BYTES = 256 * 1024
MAX_ROOTS = 50
CANDIDATE = "candidate"
SCHEDULES = (
    ("CONTRACT_REFRESH_SCHEDULE", "contract_refresh_schedule"),
    ("TOKEN_REFRESH_SCHEDULE", "token_refresh_schedule"),
    ("RECONCILE_SCHEDULE", "reconcile_schedule"),
    ("LEDGER_MIRROR_SCHEDULE", "ledger_mirror_schedule"),
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: a stable code, a sentence, and where (a setting, a file line, a key)."""

    code: str
    message: str
    where: str

    def to_dict(self) -> dict[str, str]:
        """Render for the answer."""
        return {"code": self.code, "message": self.message, "where": self.where}


class AccountLister(Protocol):
    """List the broker's accounts for this login (``TradovateRest``)."""

    async def accounts(self) -> tuple[Account, ...]:
        """Return the user's accounts."""
        ...


# --- NCRONTAB: {second} {minute} {hour} {day} {month} {day-of-week} ----------------------------

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, {name: n for n, name in enumerate(_MONTHS, start=1)}),
    ("day of week", 0, 6, {name: n for n, name in enumerate(_DAYS)}),
)
_NUMBER = re.compile(r"^[0-9]{1,2}$")


def schedule_error(expression: str) -> str | None:
    """Say why an NCRONTAB expression (six fields, seconds first) does not parse, or None."""
    fields = expression.split()
    if len(fields) != len(_CRON_FIELDS):
        return (
            f"{expression!r} has {len(fields)} fields; an NCRONTAB schedule has six: "
            "{second} {minute} {hour} {day} {month} {day-of-week}"
        )
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            error = _item_error(item, low, high, names)
            if error is not None:
                return f"{name} field {text!r}: {error}"
    return None


def _item_error(item: str, low: int, high: int, names: Mapping[str, int]) -> str | None:
    body, slash, step = item.partition("/")
    if slash and (not _NUMBER.match(step) or int(step) == 0):
        return f"step {step!r} is not a whole number from 1"
    if body == "*":
        return None
    start, dash, end = body.partition("-")
    first = _value(start, names)
    last = _value(end, names) if dash else first
    if first is None or last is None:
        return f"{body!r} is not *, a value, or a range a-b"
    if not (low <= first <= high and low <= last <= high):
        return f"{body!r} is outside {low}-{high}"
    if first > last:
        return f"the range {body!r} runs backwards"
    return None


def _value(text: str, names: Mapping[str, int]) -> int | None:
    if _NUMBER.match(text):
        return int(text)
    return names.get(text.upper())


def settings_problems(load: Callable[[], Settings]) -> list[Problem]:
    """Check that the settings load, name their stores, and that each schedule parses."""
    try:
        settings = load()
    except ConfigError as exc:
        return [Problem(exc.code, exc.message, "settings")]
    problems = []
    requirements = [settings.require_tables]
    if settings.queue_backend == "servicebus":
        requirements.append(settings.require_servicebus)
    for require in requirements:
        try:
            require()
        except ConfigError as exc:
            problems.append(Problem(exc.code, exc.message, "settings"))
    for setting, attribute in SCHEDULES:
        error = schedule_error(str(getattr(settings, attribute)))
        if error is not None:
            problems.append(Problem("invalid_schedule", error, setting))
    return problems


def read_candidate(body: bytes) -> str | None:
    """Return a candidate file's text, None for an empty body (400 when too large)."""
    if len(body) > MAX_CANDIDATE_BYTES:
        raise InvalidRequest(
            f"a strategy file is at most {MAX_CANDIDATE_BYTES // 1024} KiB",
            code="body_too_large",
        )
    if not body.strip():
        return None
    return body.decode("utf-8", errors="replace")


def _file_problem(exc: StrategyFileError) -> Problem:
    where = exc.path if exc.line is None else f"{exc.path}:{exc.line}"
    if exc.field:
        where = f"{where} {exc.field}"
    # The message already starts with the file and line; keep the reason alone.
    prefix = f"{exc.path}:{exc.line}: " if exc.line is not None else f"{exc.path}: "
    message = exc.message.removeprefix(prefix).removeprefix(f"{exc.field}: " if exc.field else "")
    return Problem(exc.code, message, where)


class ConfigCheck:
    """Check a strategy file and the settings against secrets, the broker and the contracts."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        strategies_path: Callable[[], Path],
        secrets: SecretStore,
        broker: Callable[[], AccountLister],
        contracts: Callable[[], ContractSource],
    ) -> None:
        self._settings = settings
        self._strategies_path = strategies_path
        self._secrets = secrets
        self._broker = broker
        self._contracts = contracts

    async def check(self, candidate: str | None) -> dict[str, Any]:
        """Return every problem of the deployed file (``candidate`` None) or of ``candidate``."""
        problems = settings_problems(self._settings)
        source = CANDIDATE if candidate is not None else str(self._strategies_path())
        book: StrategyBook | None = None
        try:
            if candidate is None:
                book = load_strategies(source)
            else:
                book = parse_strategies(candidate, CANDIDATE)
        except StrategyFileError as exc:
            problems.append(_file_problem(exc))
        checked: dict[str, Any] = {"secrets": 0, "accounts": 0, "roots": []}
        if book is not None:
            roots = _roots(book)
            checked = {
                "secrets": len({s.secret.key_vault_name for s in book.values()}),
                "accounts": len({a.name for s in book.values() for a in s.accounts}),
                "roots": sorted(roots),
            }
            found = await asyncio.gather(
                self._check_secrets(book), self._check_accounts(book), self._check_roots(roots)
            )
            for group in found:
                problems.extend(group)
        return {
            "file": "candidate" if candidate is not None else "deployed",
            "source": source,
            "strategies": 0 if book is None else len(book),
            "checked": checked,
            "ok": not problems,
            "problems": [p.to_dict() for p in problems],
        }

    async def _check_secrets(self, book: StrategyBook) -> list[Problem]:
        refs: dict[str, tuple[SecretRef, list[str]]] = {}
        for strategy in book.values():
            ref = strategy.secret
            refs.setdefault(ref.key_vault_name, (ref, []))[1].append(strategy.id)
        problems = []
        for ref, users in refs.values():
            try:
                await self._secrets.get_secret(ref.key_vault_name, ref.env_name)
            except BridgeError as exc:
                owners = ", ".join(sorted(users))
                problems.append(
                    Problem(exc.code, f"the secret of {owners}: {exc.message}", _where(users))
                )
        return problems

    async def _check_accounts(self, book: StrategyBook) -> list[Problem]:
        try:
            known = {a.name: a for a in await self._broker().accounts()}
        except BridgeError as exc:
            return [Problem(exc.code, f"the accounts could not be listed: {exc.message}", "broker")]
        problems = []
        for strategy in book.values():
            for index, account in enumerate(strategy.accounts):
                where = f"strategies.{strategy.id}.accounts[{index}]"
                found = known.get(account.name)
                if found is None:
                    problems.append(
                        Problem(
                            "unknown_account",
                            f"the Tradovate login has no account {account.name!r}",
                            where,
                        )
                    )
                elif account.id is not None and account.id != found.id:
                    problems.append(
                        Problem(
                            "account_id_mismatch",
                            f"account {account.name!r} has id {found.id} at Tradovate, "
                            f"not {account.id}",
                            where,
                        )
                    )
        return problems

    async def _check_roots(self, roots: Mapping[str, Sequence[str]]) -> list[Problem]:
        if len(roots) > MAX_ROOTS:
            return [
                Problem(
                    "too_many_roots",
                    f"{len(roots)} traded roots; only files trading at most {MAX_ROOTS} are "
                    "checked",
                    "strategies",
                )
            ]
        names = sorted(roots)
        found = await asyncio.gather(*(self._resolve(root) for root in names))
        return [
            Problem(code, f"{root} (traded by {', '.join(roots[root])}): {message}",
                    _where(roots[root], "symbols"))
            for root, (code, message) in zip(names, found, strict=True)
            if code
        ]  # fmt: skip

    async def _resolve(self, root: str) -> tuple[str, str]:
        try:
            await self._contracts().resolve(parse_symbol(f"{root}1!"))
        except InvalidSignal as exc:
            return "unknown_symbol", f"resolves to no Tradovate contract: {exc.message}"
        except BridgeError as exc:
            return exc.code, f"could not be resolved: {exc.message}"
        return "", ""


def _roots(book: StrategyBook) -> dict[str, list[str]]:
    """Return each traded root and the strategies trading it."""
    roots: dict[str, list[str]] = {}
    for strategy in book.values():
        for root in sorted({*strategy.symbols.values(), *strategy.risk.symbols}):
            roots.setdefault(root, []).append(strategy.id)
    return roots


def _where(strategies: Iterable[str], key: str = "secret") -> str:
    return ", ".join(f"strategies.{sid}.{key}" for sid in strategies)
