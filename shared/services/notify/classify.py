"""Decide which events become notifications, and of what kind (pure: no I/O).

One classifier per channel (``CLASSIFIERS``); each takes the event as published (the JSON
object, ``type`` = channel) and returns a ``Notification`` or None:

====================  ==================  ====================================================
channel               kind                when
====================  ==================  ====================================================
order.rejected        order_rejected      always (subject: signal and leg)
queue.dead_lettered   dead_letter         always (subject: the message id)
risk.alert            kill_switch         ``kind`` ``kill_switch`` or ``kill_switch_*``
risk.alert            daily_loss          ``kind`` ``daily_loss`` or ``daily_loss_limit``
risk.alert            unprotected_entry   ``kind`` ``unprotected_entry`` (exits refused)
risk.denied           daily_loss          ``code`` ``daily_loss_limit`` (one per strategy,
                                          account and day)
system.health         worker_down         ``check`` ``worker``: ``down`` / ``recovered``
system.health         socket_down         ``check`` ``socket``: ``down`` / ``recovered``
system.health         token_renewal       ``check`` ``token_renewal``: ``failing``
position.drift        drift               always (subject: the drift's event id)
contract.rolled       contract_rolled     only with a position left in the old contract
====================  ==================  ====================================================

Other events on these channels (a flatten's ``risk.alert``, other denials) are not notified.
Values are read defensively: an event missing a field still yields a readable message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from shared.domain.risk import DenialCode
from shared.services.notify.model import Kind, Notification

Classifier = Callable[[Mapping[str, Any], str], Notification | None]

DAILY_LOSS_CODE = DenialCode.DAILY_LOSS_LIMIT.value


def _text(event: Mapping[str, Any], key: str, default: str = "?") -> str:
    value = event.get(key)
    return default if value is None or value == "" else str(value)


def _at(event: Mapping[str, Any], received_at: str, *keys: str) -> str:
    for key in (*keys, "at"):
        if isinstance(event.get(key), str) and event[key]:
            return str(event[key])
    return received_at


def order_rejected(event: Mapping[str, Any], received_at: str) -> Notification:
    """Tell of an order Tradovate refused."""
    signal_id, leg = _text(event, "signal_id"), _text(event, "leg")
    return Notification(
        kind=Kind.ORDER_REJECTED,
        title=f"Order rejected for {_text(event, 'account')}",
        subject=f"{signal_id}:{leg}",
        at=_at(event, received_at),
        lines=(
            f"{_text(event, 'code', 'rejected')}: {_text(event, 'message', 'no reason given')}",
            f"leg {leg} of signal {signal_id}",
        ),
        event=event,
    )


def dead_lettered(event: Mapping[str, Any], received_at: str) -> Notification:
    """Tell of a signal the queue gave up on."""
    message_id = _text(event, "message_id", _text(event, "signal_id"))
    reason, description = _text(event, "reason", "dead-lettered"), event.get("description")
    lines = [f"{reason}: {description}" if description else reason]
    for key, label in (
        ("strategy", "strategy"),
        ("account", "account"),
        ("signal_id", "signal"),
        ("delivery_count", "deliveries"),
    ):
        if event.get(key) not in (None, ""):
            lines.append(f"{label}: {event[key]}")
    lines.append(f"message {message_id}")
    return Notification(
        kind=Kind.DEAD_LETTER,
        title=f"Signal dead-lettered on queue {_text(event, 'queue', 'signals')}",
        subject=message_id,
        at=_at(event, received_at, "dead_lettered_at", "enqueued_at"),
        lines=tuple(lines),
        event=event,
    )


def _kill_switch(event: Mapping[str, Any], received_at: str) -> Notification:
    action = _text(event, "action", str(event.get("kind", "changed")).removeprefix("kill_switch_"))
    scope = _text(event, "scope", "global")
    by = event.get("by")
    who = by.get("actor") or by.get("key") if isinstance(by, Mapping) else None
    lines = [f"reason: {_text(event, 'reason', 'none given')}"]
    if event.get("mode"):
        lines.append(f"mode: {event['mode']}")
    if who:
        lines.append(f"by: {who}")
    at = _at(event, received_at)
    return Notification(
        kind=Kind.KILL_SWITCH,
        title=f"Trading {action}: {scope}",
        subject=_text(event, "id", f"{scope}:{action}:{at}"),
        at=at,
        lines=tuple(lines),
        event=event,
    )


def _daily_loss(event: Mapping[str, Any], received_at: str) -> Notification:
    at = _at(event, received_at)
    strategy, account = _text(event, "strategy"), _text(event, "account")
    return Notification(
        kind=Kind.DAILY_LOSS,
        title=f"Daily loss limit reached: {strategy} on {account}",
        subject=f"{strategy}:{account}:{at[:10]}",
        at=at,
        lines=(_text(event, "message", "new entries are denied for the rest of the day"),),
        event=event,
    )


def _unprotected(event: Mapping[str, Any], received_at: str) -> Notification:
    signal_id, leg = _text(event, "signal_id"), _text(event, "leg")
    return Notification(
        kind=Kind.UNPROTECTED_ENTRY,
        title=f"Exits refused after a fill on {_text(event, 'account')}",
        subject=f"{signal_id}:{leg}",
        at=_at(event, received_at),
        lines=(
            f"reason: {_text(event, 'reason')}",
            f"position {_text(event, 'action')}; leg {leg} of signal {signal_id}",
        ),
        event=event,
    )


def risk_alert(event: Mapping[str, Any], received_at: str) -> Notification | None:
    """Tell of a kill-switch change, a daily-loss stop or an entry left without exits."""
    kind = str(event.get("kind", ""))
    if kind == "kill_switch" or kind.startswith("kill_switch_"):
        return _kill_switch(event, received_at)
    if kind in ("daily_loss", DAILY_LOSS_CODE):
        return _daily_loss(event, received_at)
    if kind == "unprotected_entry":
        return _unprotected(event, received_at)
    return None


def risk_denied(event: Mapping[str, Any], received_at: str) -> Notification | None:
    """Tell of the daily loss limit (other denials are the risk rules doing their job)."""
    if event.get("code") != DAILY_LOSS_CODE:
        return None
    return _daily_loss(event, received_at)


_HEALTH_KINDS = {"worker": Kind.WORKER_DOWN, "socket": Kind.SOCKET_DOWN}


def system_health(event: Mapping[str, Any], received_at: str) -> Notification | None:
    """Tell of the worker or its socket going down or coming back, or token renewal failing."""
    check, status = str(event.get("check", "")), str(event.get("status", ""))
    at = _at(event, received_at)
    if check == "token_renewal" and status == "failing":
        code = _text(event, "code", _text(event, "state"))
        return Notification(
            kind=Kind.TOKEN_RENEWAL,
            title="Tradovate token renewal is failing",
            subject=f"token_renewal:{code}",
            at=at,
            lines=(f"{_text(event, 'state', 'refused')}: {code}", _text(event, "detail", "")),
            event=event,
        )
    kind = _HEALTH_KINDS.get(check)
    if kind is None or status not in ("down", "recovered"):
        return None
    what = "Worker heartbeat" if kind is Kind.WORKER_DOWN else "Trading socket"
    title = f"{what} {'lost' if status == 'down' else 'back'}"
    return Notification(
        kind=kind,
        title=title,
        subject=f"{check}:{status}:{_text(event, 'since', at)}",
        at=at,
        lines=(_text(event, "detail", ""),),
        event=event,
    )


def position_drift(event: Mapping[str, Any], received_at: str) -> Notification:
    """Tell of a broker position that differs from what the strategy intends."""
    heal = event.get("heal")
    lines = [
        f"intended {_text(event, 'intended')}, broker {_text(event, 'actual')} "
        f"(difference {_text(event, 'difference')})"
    ]
    if heal:
        lines.append(f"heal: {heal}")
    return Notification(
        kind=Kind.DRIFT,
        title=(
            f"Position drift: {_text(event, 'strategy')} on {_text(event, 'account')} "
            f"{_text(event, 'root')}"
        ),
        subject=_text(event, "event_id", f"{_text(event, 'account')}:{_text(event, 'root')}"),
        at=_at(event, received_at, "detected_at"),
        lines=tuple(lines),
        event=event,
    )


def contract_rolled(event: Mapping[str, Any], received_at: str) -> Notification | None:
    """Tell of a roll that left a position in the old contract (Tradebridge never rolls it)."""
    if not event.get("position_in_old_contract"):
        return None
    old, new = _text(event, "from_contract"), _text(event, "to_contract")
    held = event.get("held")
    lines = [
        f"account {h.get('account_id', '?')}: {h.get('net_pos', '?')} in {old}"
        for h in (held if isinstance(held, list) else [])
        if isinstance(h, Mapping)
    ]
    lines.append(f"new signals trade {new}; close or roll the old position yourself")
    return Notification(
        kind=Kind.CONTRACT_ROLLED,
        title=f"{_text(event, 'root')} rolled from {old} to {new} with a position open",
        subject=_text(event, "event_id", f"{old}->{new}"),
        at=_at(event, received_at, "rolled_at"),
        lines=tuple(lines),
        event=event,
    )


CLASSIFIERS: Mapping[str, Classifier] = {
    "order.rejected": order_rejected,
    "queue.dead_lettered": dead_lettered,
    "risk.alert": risk_alert,
    "risk.denied": risk_denied,
    "system.health": system_health,
    "position.drift": position_drift,
    "contract.rolled": contract_rolled,
}


def classify(event: Mapping[str, Any], received_at: datetime) -> Notification | None:
    """Return the notification an event calls for, or None; ``received_at`` stands in for an
    event that carries no time of its own."""
    classifier = CLASSIFIERS.get(str(event.get("type", "")))
    if classifier is None:
        return None
    return classifier(event, received_at.isoformat())
