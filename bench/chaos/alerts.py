"""Generate the chaos run's alerts from a seed: what each asks, its body, how often it is sent.

One stream per strategy, posted concurrently (so several sessions are busy at once); within
a stream the alerts go out in order, in bursts a few milliseconds apart with pauses between
bursts, so the whole run spans about ``post_s`` seconds. The mix follows the position the
oracle expects on the strategy's first account: mostly entries when flat; exits (partial and
full), closes, flats, reversals, adds, opposite entries and target positions when not. The
quantities are chosen to reach ``max_position`` now and then (refusals and clamped reversals).

Bodies are the native format (with an ``alert_id``: the webhook de-duplicates re-sends by it
for 24 h), TradersPost's (no id: the webhook de-duplicates an identical body within the
strategy's ``dedupe_window_s``, so each carries a unique ``extras`` value) or, for a plain buy
or sell, PickMyTrade's with its position rules drawn at random (each carries a unique
``strategy_name``). Every alert is
re-sent 0-4 times with the identical body: sometimes at the same moment (a double fire),
otherwise later (TradingView's retry); each re-send must be answered "duplicate".
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from typing import Any, Literal

from bench.chaos.oracle import AlertSpec, Intent, Position, Rules, step
from bench.chaos.strategies import ALERT_SYMBOLS, SECRET, lanes
from shared.strategies import StrategyBook

Format = Literal["native", "traderspost", "pickmytrade"]
_LEAVE: tuple[Intent, ...] = ("exit", "flat", "close")
_RESENDS = (0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4)  # mean about 0.9


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of one stream: what it asks, its exact body, and how it is sent."""

    key: str
    strategy: str
    spec: AlertSpec
    fmt: Format
    body: bytes
    resends: int  # identical copies beyond the first
    double_fire: bool  # one of the copies goes out together with the first
    pause_s: float  # wait before posting it (after the previous one was accepted)
    resend_after_s: tuple[float, ...]  # when the other copies go, after acceptance


Side = Literal["buy", "sell"]


def _side(rng: random.Random) -> Side:
    return "buy" if rng.random() < 0.5 else "sell"


def _target(rng: random.Random, sized: bool) -> AlertSpec:
    """A target position long or short: sized (TradingView's market_position + position_size)
    or a direction only (TradersPost's sentiment, with or without a quantity)."""
    intent = _side(rng)
    position: Position = "long" if intent == "buy" else "short"
    if sized:
        return AlertSpec(intent, position=position, size=rng.randint(1, 4))
    return AlertSpec(intent, qty=rng.choice((None, 1, 2)), position=position)


def spec_when_flat(rng: random.Random) -> AlertSpec:
    roll = rng.random()
    if roll < 0.55:
        return AlertSpec(_side(rng), qty=rng.choice((None, 1, 1, 2, 3)))
    if roll < 0.8:
        return _target(rng, sized=roll < 0.7)
    if roll < 0.87:
        return AlertSpec("add", qty=rng.randint(1, 2), side=rng.choice((None, _side(rng))))
    if roll < 0.93:
        return AlertSpec(rng.choice(_LEAVE))
    return AlertSpec("reverse", side=rng.choice((None, _side(rng))))


def spec_when_held(rng: random.Random, p: int) -> AlertSpec:
    same: Side = "buy" if p > 0 else "sell"
    other: Side = "sell" if p > 0 else "buy"
    roll = rng.random()
    if roll < 0.26:
        return AlertSpec("exit", qty=rng.randint(1, 3) if roll < 0.16 else None)
    if roll < 0.41:
        return AlertSpec("close" if roll < 0.31 else "flat")
    if roll < 0.46:
        return AlertSpec(_side(rng), position="flat", size=0)
    if roll < 0.56:
        return AlertSpec("reverse", qty=rng.choice((None, 1, 2)))
    if roll < 0.66:
        return AlertSpec(other, qty=rng.choice((None, 1, 2, 3)))
    if roll < 0.76:
        return AlertSpec(same, qty=rng.choice((None, 1, 2)))
    if roll < 0.81:
        return AlertSpec("add", qty=1, side=rng.choice((None, same)))
    return _target(rng, sized=roll < 0.93)


def traderspost_can_say(spec: AlertSpec) -> bool:
    """Tell whether TradersPost's format can carry the spec (no close, flat, reverse, sized
    target, or side for an add; a sentiment goes only with buy or sell)."""
    if spec.intent in ("close", "flat", "reverse"):
        return False
    if spec.intent == "add":
        return spec.side is None and spec.position is None
    if spec.position is not None:
        flat_target = spec.position == "flat" and spec.size == 0
        return spec.intent in ("buy", "sell") and (spec.size is None or flat_target)
    return True


def native_body(spec: AlertSpec, symbol: str, alert_id: str) -> dict[str, Any]:
    """Render a spec in the native format; a target's size is signed, as TradingView's
    ``{{strategy.position_size}}`` is (short is negative)."""
    body: dict[str, Any] = {"secret": SECRET, "intent": spec.intent, "symbol": symbol}
    signed = None
    if spec.size is not None:
        signed = -spec.size if spec.position == "short" else spec.size
    optional = {
        "quantity": spec.qty,
        "side": spec.side,
        "market_position": spec.position,
        "position_size": signed,
        "alert_id": alert_id,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    return body


def traderspost_body(spec: AlertSpec, symbol: str, tag: str) -> dict[str, Any]:
    """Render a spec in TradersPost's format; ``tag`` keeps distinct alerts distinct."""
    body: dict[str, Any] = {"secret": SECRET, "ticker": symbol, "action": spec.intent}
    if spec.qty is not None:
        body["quantity"] = spec.qty
    if spec.position is not None:
        body["sentiment"] = spec.position
    body["extras"] = {"chaos": tag}
    return body


def pickmytrade_can_say(spec: AlertSpec) -> bool:
    """Tell whether PickMyTrade's format can carry the spec here: a plain buy or sell."""
    return spec.intent in ("buy", "sell") and spec.position is None and spec.side is None


def draw_rules(rng: random.Random) -> tuple[bool | None, bool | None, bool | None]:
    """Draw PickMyTrade's reverse_order_close, pyramid and same_direction_ignore (None: left
    out), weighted toward what its generator writes (all three, ignore mostly false)."""
    choice = (True, False, None)
    return (rng.choice(choice), rng.choice(choice), rng.choice((False, False, True, None)))


def pickmytrade_body(spec: AlertSpec, symbol: str, tag: str) -> dict[str, Any]:
    """Render a plain buy or sell in PickMyTrade's format with ``spec.rules``, as its
    generator writes them (text, sometimes booleans)."""
    body: dict[str, Any] = {"token": SECRET, "data": spec.intent, "symbol": symbol}
    if spec.qty is not None:
        body["quantity"] = str(spec.qty)
    names = ("reverse_order_close", "pyramid", "same_direction_ignore")
    for name, value in zip(names, spec.rules or (None, None, None), strict=True):
        if value is not None:
            body[name] = "true" if value else "false"
    body["strategy_name"] = tag
    return body


def _render(
    rng: random.Random, spec: AlertSpec, strategy: str, key: str
) -> tuple[Format, bytes, AlertSpec]:
    symbol = rng.choice(ALERT_SYMBOLS[strategy])
    roll = rng.random()
    plain = pickmytrade_can_say(spec)
    if plain and roll < 0.25:
        spec = replace(spec, rules=draw_rules(rng))
        body = pickmytrade_body(spec, symbol, key)
        return "pickmytrade", json.dumps(body, separators=(",", ":")).encode(), spec
    if traderspost_can_say(spec) and roll < (0.5 if plain else 0.35):
        body = traderspost_body(spec, symbol, key)
        spec = replace(spec, traderspost=True)
        return "traderspost", json.dumps(body, separators=(",", ":")).encode(), spec
    body = native_body(spec, symbol, key)
    return "native", json.dumps(body, separators=(",", ":")).encode(), spec


def _bursts(rng: random.Random, count: int) -> list[int]:
    sizes: list[int] = []
    while sum(sizes) < count:
        sizes.append(min(rng.choice((1, 1, 2, 2, 3, 4)), count - sum(sizes)))
    return sizes


def _pauses(rng: random.Random, count: int, post_s: float) -> list[float]:
    """Return each alert's pause: a few ms inside a burst, longer between bursts."""
    bursts = _bursts(rng, count)
    mean_s = post_s / max(1, len(bursts))
    pauses = []
    for size in bursts:
        pauses.append(rng.uniform(0.3, 1.7) * mean_s)
        pauses.extend(rng.uniform(0.002, 0.008) for _ in range(size - 1))
    pauses[0] = rng.uniform(0.0, 0.05)
    return pauses


def _copies(rng: random.Random) -> tuple[int, bool, tuple[float, ...]]:
    resends = rng.choice(_RESENDS)
    double = resends > 0 and rng.random() < 0.4
    later = tuple(sorted(rng.uniform(0.005, 2.0) for _ in range(resends - int(double))))
    return resends, double, later


def _stream(
    rng: random.Random, strategy: str, rules: Rules, count: int, post_s: float, seed: int
) -> list[Alert]:
    alerts = []
    position = 0
    for n, pause in enumerate(_pauses(rng, count, post_s)):
        spec = spec_when_held(rng, position) if position else spec_when_flat(rng)
        key = f"chaos-{seed}-{strategy}-{n}"
        fmt, body, spec = _render(rng, spec, strategy, key)
        position = step(position, spec, rules).position
        resends, double, later = _copies(rng)
        alerts.append(Alert(key, strategy, spec, fmt, body, resends, double, pause, later))
    return alerts


def generate(book: StrategyBook, seed: int, count: int, post_s: float) -> list[list[Alert]]:
    """Return ``count`` alerts in one ordered stream per strategy, the same for a seed."""
    rng = random.Random(seed)
    first_rules: dict[str, Rules] = {}
    for lane in lanes(book):
        first_rules.setdefault(lane.strategy, lane.rules)
    strategies = list(first_rules)
    share, extra = divmod(count, len(strategies))
    return [
        _stream(rng, strategy, first_rules[strategy], share + (i < extra), post_s, seed)
        for i, strategy in enumerate(strategies)
    ]
