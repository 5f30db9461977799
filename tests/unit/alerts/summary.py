"""Render a Signal as a small JSON-friendly dict, omitting defaults, for corpus comparisons."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from shared.domain.signal import BracketLeg, PriceSpec, QuantityUnit, Signal


def level(spec: PriceSpec | None) -> str | None:
    return None if spec is None else f"{spec.value} {spec.unit.value}"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def _leg(leg: BracketLeg) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if leg.quantity is not None:
        out["quantity"] = str(leg.quantity)
    for name in ("take_profit", "stop_loss", "stop_limit"):
        if getattr(leg, name) is not None:
            out[name] = level(getattr(leg, name))
    if leg.trailing_stop is not None:
        trail = leg.trailing_stop
        out["trailing_stop"] = {
            k: level(v)
            for k, v in (
                ("distance", trail.distance),
                ("trigger", trail.trigger),
                ("step", trail.step),
            )
            if v is not None
        }
    if leg.breakeven is not None:
        out["breakeven"] = {
            k: level(v)
            for k, v in (("trigger", leg.breakeven.trigger), ("offset", leg.breakeven.offset))
            if v is not None
        }
    return out


def _target(signal: Signal) -> dict[str, Any]:
    target = signal.target
    if target is None:
        return {}
    out: dict[str, Any] = {"market_position": target.market_position.value}
    if target.size is not None:
        out["size"] = str(target.size)
    if target.prev_market_position is not None:
        out["prev_market_position"] = target.prev_market_position.value
    if target.prev_size is not None:
        out["prev_size"] = str(target.prev_size)
    if target.from_sentiment:
        out["from_sentiment"] = True
    return {"target": out}


def _order(signal: Signal) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("side", "order_type", "time_in_force"):
        value = getattr(signal, name)
        if value is not None:
            out[name] = value.value
    for name in ("quantity", "limit_price", "stop_price", "signal_price"):
        value = getattr(signal, name)
        if value is not None:
            out[name] = str(value)
    if signal.quantity_unit is not QuantityUnit.CONTRACTS:
        out["quantity_unit"] = signal.quantity_unit.value
    if signal.trail is not None:
        out["trail"] = level(signal.trail)
    if signal.expires_after_s is not None:
        out["expires_after_s"] = signal.expires_after_s
    return out


def _rules(signal: Signal) -> dict[str, Any]:
    rules = signal.position_rules
    if rules is None:
        return {}
    names = ("reverse_close", "pyramid", "ignore_same_direction")
    return {
        "position_rules": {
            name: value for name in names if (value := getattr(rules, name)) is not None
        }
    }


def _context(signal: Signal) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if signal.required_positions:
        out["required_positions"] = [p.value for p in signal.required_positions]
    for flag in ("flatten_first", "bypass_windows"):
        if getattr(signal, flag):
            out[flag] = True
    if signal.cancel_first is not None:
        out["cancel_first"] = signal.cancel_first
    out.update(_rules(signal))
    if signal.accounts:
        out["accounts"] = [
            a.account if a.quantity_multiplier is None else f"{a.account} x{a.quantity_multiplier}"
            for a in signal.accounts
        ]
    for name in ("tv_time", "bar_time", "alert_id", "strategy"):
        value = getattr(signal, name)
        if value is not None:
            out[name] = value.isoformat() if name.endswith("time") else value
    if signal.extras:
        out["extras"] = _plain(signal.extras)
    return out


def summarise(signal: Signal) -> dict[str, Any]:
    """Return the signal's non-default fields in plain JSON types."""
    out: dict[str, Any] = {"intent": signal.intent.value, "symbol": signal.symbol.canonical}
    out.update(_order(signal))
    if signal.brackets:
        out["brackets"] = [_leg(leg) for leg in signal.brackets]
    out.update(_target(signal))
    out.update(_context(signal))
    return out
