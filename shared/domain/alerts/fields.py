"""Handle an alert's fields: take the known ones once, find the secret, keep the rest as extras."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType

from shared.domain.alerts.coerce import fail
from shared.domain.alerts.text import strip_spaces
from shared.domain.signal import JsonValue

# Field names a webhook secret travels in, across the formats traders use (tradingview.md §1.6).
SECRET_FIELDS = ("secret", "passphrase", "key", "token")
# Anything named like a credential is dropped from extras so the journal never stores it.
_SECRET_NAME_RE = re.compile(
    r"secret|passphrase|password|passwd|token|api_?key|apikey|^key$|^auth(?:_|orization|$)"
    r"|credential|private",
    re.IGNORECASE,
)


def _present(value: object) -> bool:
    # An empty placeholder substitution ("") means "not given", as a missing field does.
    return value is not None and not (isinstance(value, str) and not value.strip())


class Fields:
    """Take named fields from an alert object once; what nobody took becomes extras."""

    def __init__(self, data: Mapping[str, object]) -> None:
        self._data = data
        self._taken: set[str] = set()

    def get(self, *names: str) -> object | None:
        """Return the value given under one of ``names`` (aliases) and mark all of them taken.

        Two aliases with different values (``quantity=1`` and ``qty=100``) are refused: which
        one the trader meant is not ours to guess, and a template could hide a size that way.
        """
        return self.get_named(*names)[0]

    def get_named(self, *names: str) -> tuple[object | None, str]:
        """Return :meth:`get`'s value and the alias it came under (the first name if none)."""
        found: object | None = None
        found_name = names[0] if names else ""
        for name in names:
            self._taken.add(name)
            value = self._data.get(name)
            if not _present(value):
                continue
            if found is None:
                found, found_name = value, name
            elif value != found:
                fail(
                    f"{found_name} and {name} say the same thing with different values",
                    "duplicate_field",
                    name,
                )
        return found, found_name

    def has(self, name: str) -> bool:
        """Tell whether the alert gave ``name`` a value (without taking it)."""
        return _present(self._data.get(name))

    def rest(self) -> dict[str, object]:
        """Return the fields nobody took, for the journal."""
        return {k: v for k, v in self._data.items() if k not in self._taken}


# Names (compared without case, "_" or "-") that change an order in the formats traders use
# (tradingview.md §1.6): a reader that does not read one must refuse it, never drop it.
_TRADE_WORDS = frozenset(
    {
        "ordertype", "type", "ordtype", "limit", "limitprice", "lmtprice", "stop", "stopprice",
        "stpprice", "triggerprice", "stoploss", "stoplossprice", "sl", "slprice", "takeprofit",
        "takeprofitprice", "tp", "tpprice", "tp1", "tp2", "tp3", "sl1", "sl2", "target",
        "targetprice", "profittarget", "trail", "trailing", "trailingstop", "trailamount",
        "trailpercent", "trailoffset", "trailstop", "trailticks", "pegdifference", "breakeven",
        "breakevenoffset", "timeinforce", "tif", "gtd", "gtdinsecond", "expireafter",
        "cancelafter", "account", "accounts", "accountid", "accountname", "subaccount",
        "quantity", "qty", "contracts", "size", "lots", "units", "amount", "leverage",
        "reduceonly", "closeposition", "delay", "bracket", "brackets", "oco", "atm",
        "atmstrategy", "appendatm",
        # the strategy's position, under names a reader does not take: it would decide
        "position", "sentiment", "marketposition", "positionsize", "marketpositionsize",
        "prevmarketposition", "prevposition", "prevpositionsize", "prevmarketpositionsize",
        "targetquantity", "strategyposition", "strategymarketposition",
    }
)  # fmt: skip


def _squash(name: str) -> str:
    return "".join(char for char in name.lower() if char.isascii() and char.isalnum())


def refuse_unread(rest: Mapping[str, object], reader: str) -> None:
    """Refuse a field that would change the trade but that the ``reader`` format does not read."""
    for name in rest:
        if _squash(str(name)) in _TRADE_WORDS and _present(rest[name]):
            fail(
                f"{name} would change the order, but the {reader} format does not read it "
                "(see the README's alert formats for the fields each one reads)",
                "unsupported_field",
                str(name),
            )


def take_secret(data: dict[str, object]) -> str | None:
    """Remove the secret fields from ``data`` and return the secret, if one was sent."""
    found: list[tuple[str, str]] = []
    for name in list(data):
        if name.lower() in SECRET_FIELDS:
            value = data.pop(name)
            if isinstance(value, Decimal):
                value = str(value)
            if _present(value):
                if not isinstance(value, str):
                    fail(f"{name} must be text", "invalid_secret", name)
                found.append((name, value.strip()))
    if len({value for _, value in found}) > 1:
        fail("the alert carries two different secrets", "ambiguous_secret", found[1][0])
    return found[0][1] if found else None


def extras_of(rest: Mapping[str, object]) -> dict[str, JsonValue]:
    """Freeze unknown fields for the journal (numbers as text), dropping credential-like names."""
    return {str(k): _freeze(v) for k, v in rest.items() if not _SECRET_NAME_RE.search(str(k))}


def _freeze(value: object) -> JsonValue:
    if isinstance(value, Mapping):
        return MappingProxyType(extras_of(value))
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    if value is None or isinstance(value, str | bool):
        return value
    # Numbers are kept as their exact text: extras are for people reading the journal.
    return str(value)


def lowered(pairs: Iterable[tuple[str, str]]) -> dict[str, object]:
    """Build a field map from text pairs with lower-cased keys; a repeated key is an error."""
    data: dict[str, object] = {}
    for key, value in pairs:
        name = strip_spaces(key).lower()
        if not name:
            fail("a field has an empty name", "malformed_text", None)
        if name in data:
            fail(f"{name} is given twice", "duplicate_field", name)
        data[name] = strip_spaces(value)
    return data
