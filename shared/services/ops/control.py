"""Steer trading: see the kill switches, disable (pause or stop) and enable a scope.

The kill switches are the Redis keys the executor's risk gates read with every signal
(``kill:global``, ``kill:strategy:{id}``, ``kill:account:{name}``; presence is what counts,
``shared.adapters.redis_exec.risk_facts``). An engaged switch denies every plan's opening part
(``kill_switch_*``, journaled and published on ``risk.denied``) and lets its closing part
through: exits, closes, flattens and cancels, so a switch never traps a position, and the
worker keeps managing stops (breakeven, trailing), which it does without reading switches.

Two modes, stored in the key's value:

- ``pause`` denies new entries and keeps exits and stop management (the gate above, as is);
- ``stop`` is a pause plus a flatten of the scope (``shared.services.ops.flatten``): the switch
  is engaged first, so no entry slips in behind the flatten.

So a pause needs no state beyond the switch: the gate already treats an engaged switch that
way. Every change is one Redis script (the key, the ``ops:changes`` list, the ``risk.alert``
event together), then a row in the events table; a change that did not happen (pausing what
is paused) is neither journaled nor published.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shared import redis_keys as keys
from shared.domain.errors import (
    BridgeError,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    InvalidRequest,
    NotFound,
)
from shared.ports import Clock
from shared.services.ops.ports import ChangeJournal, OpsStore, SwitchChange
from shared.services.ops.requests import (
    Actor,
    Scope,
    ScopeKind,
    parse_body,
    reason_of,
    scope_of,
    text_field,
)
from shared.strategies import StrategyBook

log = logging.getLogger(__name__)

CHANNEL = "risk.alert"
JOURNAL_KIND = "trading.control"
_RECENT = 10
_CONTROL_FIELDS = frozenset({"scope", "strategy", "account", "reason", "mode", "request_id"})


class Mode(StrEnum):
    """Say what a disabled scope does: deny entries only, or also flatten."""

    PAUSE = "pause"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class ControlRequest:
    """One disable or enable: the scope, why, who, and (disable) the mode."""

    scope: Scope
    reason: str | None
    actor: Actor
    mode: Mode = Mode.PAUSE
    request_id: str | None = None


def read_control(raw: bytes, actor: Actor, *, mode: Mode | None, enabling: bool) -> ControlRequest:
    """Read a disable/pause/stop/enable body; ``mode`` is fixed by the route unless None."""
    body = parse_body(raw, _CONTROL_FIELDS)
    chosen = text_field(body, "mode")
    if mode is not None and chosen not in (None, mode.value):
        raise InvalidRequest(
            f"this route always uses mode {mode.value}", code="invalid_field", field="mode"
        )
    if enabling and chosen is not None:
        raise InvalidRequest("enable takes no mode", code="invalid_field", field="mode")
    try:
        picked = mode or Mode(chosen or Mode.PAUSE.value)
    except ValueError:
        raise InvalidRequest("mode is pause or stop", code="invalid_field", field="mode") from None
    return ControlRequest(
        scope=scope_of(body),
        reason=reason_of(body),
        actor=actor,
        mode=picked,
        request_id=text_field(body, "request_id", limit=64),
    )


def switch_key(scope: Scope) -> str:
    """Return the Redis key of a scope's kill switch."""
    if scope.kind is ScopeKind.STRATEGY:
        return keys.kill_strategy(str(scope.name))
    if scope.kind is ScopeKind.ACCOUNT:
        return keys.kill_account(str(scope.name))
    return keys.KILL_GLOBAL


def describe_switch(raw: str | None) -> dict[str, Any]:
    """Render a switch's stored value: enabled, or paused/stopped with who, when and why.

    A value the ops API did not write (``redis-cli SET kill:global "halt"``) reads as a
    pause whose reason is that text.
    """
    if raw is None:
        return {"state": "enabled"}
    try:
        record = json.loads(raw)
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get("mode") not in (Mode.PAUSE, Mode.STOP):
        return {"state": "paused", "mode": "pause", "reason": raw[:500], "by": None, "at": None}
    mode = str(record["mode"])
    return {
        "state": "stopped" if mode == Mode.STOP else "paused",
        "mode": mode,
        "reason": record.get("reason"),
        "by": record.get("by"),
        "at": record.get("at"),
    }


class Flattener(Protocol):
    """Queue the flatten of a scope (``shared.services.ops.flatten.Flatten``)."""

    async def flatten(
        self, scope: Scope, reason: str, actor: Actor, request_id: str | None
    ) -> dict[str, Any]:
        """Queue flat signals for the scope's holdings; return what was queued."""
        ...


class TradingControl:
    """Read and change the kill switches of the strategies in one strategy book."""

    def __init__(
        self,
        strategies: StrategyBook,
        store: OpsStore,
        journal: ChangeJournal,
        flattener: Flattener,
        clock: Clock,
    ) -> None:
        self._strategies = strategies
        self._store = store
        self._journal = journal
        self._flattener = flattener
        self._clock = clock

    def _account_names(self) -> list[str]:
        return sorted({a.name for s in self._strategies.values() for a in s.accounts})

    def check_scope(self, scope: Scope) -> None:
        """Raise ``NotFound`` unless the strategy file knows the scope's strategy or account."""
        if scope.kind is ScopeKind.STRATEGY and scope.name not in self._strategies:
            raise NotFound(
                f"no strategy {scope.name!r} in the strategy file", code="unknown_strategy"
            )
        if scope.kind is ScopeKind.ACCOUNT and scope.name not in self._account_names():
            raise NotFound(
                f"no strategy trades an account named {scope.name!r}", code="unknown_account"
            )

    async def status(self) -> dict[str, Any]:
        """Return every switch (global, per strategy, per account) and the recent changes."""
        strategy_ids = sorted(self._strategies)
        accounts = self._account_names()
        wanted = [
            keys.KILL_GLOBAL,
            *(keys.kill_strategy(s) for s in strategy_ids),
            *(keys.kill_account(a) for a in accounts),
        ]
        reading = await self._store.read(wanted, lists={keys.OPS_CHANGES: _RECENT})
        values = dict(zip(wanted, reading.strings, strict=True))
        overall = describe_switch(values[keys.KILL_GLOBAL])
        strategies = [self._strategy_view(s, values) for s in strategy_ids]
        account_views = [self._account_view(a, values) for a in accounts]
        return {
            "trading": _summary(overall, strategies, account_views),
            "as_of": self._clock.now().isoformat(),
            "global": overall,
            "strategies": strategies,
            "accounts": account_views,
            "recent_changes": [_loads(e) for e in reading.lists.get(keys.OPS_CHANGES, ())],
        }

    def _strategy_view(self, strategy_id: str, values: Mapping[str, str | None]) -> dict[str, Any]:
        strategy = self._strategies[strategy_id]
        return {
            "id": strategy_id,
            **describe_switch(values[keys.kill_strategy(strategy_id)]),
            "config": {"enabled": strategy.enabled, "kill_switch": strategy.risk.kill_switch},
            "accounts": [a.name for a in strategy.accounts],
        }

    def _account_view(self, name: str, values: Mapping[str, str | None]) -> dict[str, Any]:
        holders = [s for s in self._strategies.values() if s.account(name) is not None]
        ids = {a.id for s in holders if (a := s.account(name)) is not None and a.id is not None}
        return {
            "name": name,
            "id": min(ids) if ids else None,
            **describe_switch(values[keys.kill_account(name)]),
            "strategies": sorted(s.id for s in holders),
        }

    async def disable(self, request: ControlRequest) -> dict[str, Any]:
        """Engage the scope's switch (pause), or engage it and flatten the scope (stop)."""
        self.check_scope(request.scope)
        at = self._clock.now()
        record = {
            "mode": request.mode.value,
            "reason": request.reason,
            "by": request.actor.to_dict(),
            "at": at.isoformat(),
            "scope": request.scope.label,
        }
        stop = request.mode is Mode.STOP
        action = "stopped" if stop else "paused"
        value = json.dumps(record, separators=(",", ":"))
        # A stop always (re)writes the switch and flattens again; a pause keeps an earlier one.
        change = self._change(request, action, at, value, replace=stop)
        result = await self._store.switch(change)
        journaled = await self._journal_change(change) if result.changed else False
        answer: dict[str, Any] = {
            "scope": request.scope.to_dict(),
            "changed": result.changed,
            "journaled": journaled,
            "switch": describe_switch(change.value if result.changed else result.previous),
            "previous": describe_switch(result.previous),
        }
        if stop:
            await self._flatten(request, answer)
        return answer

    async def _flatten(self, request: ControlRequest, answer: dict[str, Any]) -> None:
        # Flatten after a stop; a failure leaves the switch engaged and says so (503).
        try:
            answer["flatten"] = await self._flattener.flatten(
                request.scope, str(request.reason), request.actor, request.request_id
            )
        except BridgeError as exc:
            answer["flatten"] = {"error": exc.to_dict()}
            answer["code"] = "flatten_failed"
            answer["message"] = (
                f"the kill switch is engaged, but the flatten failed ({exc.message}); "
                "send POST /api/trading/flatten for the scope again"
            )

    async def enable(self, request: ControlRequest) -> dict[str, Any]:
        """Release the scope's switch; 409 when it is not engaged (403 when only the strategy
        file disables the strategy)."""
        self.check_scope(request.scope)
        at = self._clock.now()
        change = self._change(request, "enabled", at, None)
        result = await self._store.switch(change)
        configured = self._configured_off(request.scope)
        if not result.changed:
            if configured is not None:
                raise Forbidden(configured, code="disabled_in_config")
            raise Conflict(f"{request.scope.label} is not disabled", code="not_disabled")
        journaled = await self._journal_change(change)
        answer: dict[str, Any] = {
            "scope": request.scope.to_dict(),
            "changed": True,
            "journaled": journaled,
            "switch": describe_switch(None),
            "previous": describe_switch(result.previous),
        }
        if configured is not None:
            answer["warning"] = configured
        return answer

    def _configured_off(self, scope: Scope) -> str | None:
        if scope.kind is not ScopeKind.STRATEGY:
            return None
        strategy = self._strategies[str(scope.name)]
        if strategy.risk.kill_switch:
            return f"the strategy file sets risk.kill_switch for {scope.name}; edit it to trade"
        if not strategy.enabled:
            return f"the strategy file disables {scope.name} (enabled = false); edit it to trade"
        return None

    def _change(
        self,
        request: ControlRequest,
        action: str,
        at: datetime,
        value: str | None,
        *,
        replace: bool = False,
    ) -> SwitchChange:
        entry = {
            "kind": "kill_switch",
            "action": action,
            "scope": request.scope.label,
            "mode": request.mode.value if value is not None else None,
            "reason": request.reason,
            "by": request.actor.to_dict(),
            "at": at.isoformat(),
        }
        text = json.dumps(entry, separators=(",", ":"))
        entry["id"] = _change_id(at, text)
        text = json.dumps(entry, separators=(",", ":"))
        return SwitchChange(
            key=switch_key(request.scope),
            value=value,
            journal_entry=text,
            channel=CHANNEL,
            message=keys.event_message(CHANNEL, entry, source="ops"),
            replace=replace,
        )

    async def _journal_change(self, change: SwitchChange) -> bool:
        # Copy the change to the events table; the Redis list already holds it.
        entry = json.loads(change.journal_entry)
        try:
            await self._journal.record(JOURNAL_KIND, entry["id"], entry)
        except DependencyUnavailable as exc:
            log.warning(
                "trading-control change %s not copied to the events table (%s); "
                "ops:changes keeps it",
                entry["id"],
                exc.message,
            )
            return False
        return True


def _change_id(at: datetime, text: str) -> str:
    # Newest first in the table's RowKey order: the milliseconds left until the year 2286.
    left_ms = 10**13 - int(at.timestamp() * 1000)
    return f"{left_ms:013d}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"unreadable": text[:200]}


def _summary(
    overall: Mapping[str, Any],
    strategies: list[dict[str, Any]],
    accounts: list[dict[str, Any]],
) -> str:
    if overall["state"] != "enabled":
        return str(overall["state"])
    off = [v for v in (*strategies, *accounts) if v["state"] != "enabled"]
    off += [s for s in strategies if s["config"]["kill_switch"] or not s["config"]["enabled"]]
    return "partial" if off else "enabled"
