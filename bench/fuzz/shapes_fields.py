"""Shapes that attack what the fields say: types, duplicates and separators."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from bench.fuzz.requests import SENTINEL, Ctx, Shape, ShapeFn, alert, jbody, tbody, text_alert

_EXTREME = (
    "1e308",
    "-1e308",
    "1e309",
    "-0",
    "-0.0",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e-400",
    "1" + "0" * 100,
    "1e999999999",
    "-1e999999999",
    "9" * 5000,
    "-1",
    "-100",
    "0",
    "1.5",
    "0.0000000000000000000001",
    '"1"',
    '"abc"',
    '""',
    '"1e5"',
    '" 1 "',
    '"0x10"',
    '"1_000"',
    '"NaN"',
    '"-0"',
    "[1]",
    '{"a": 1}',
    "null",
    "true",
    "[]",
    "{}",
    '"1e999999999"',
)


def _extreme_json(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    name = rng.choice(
        ["quantity", "price", "take_profit", "stop_loss", "secret", "alert_id", "time"]
    )
    if name in {"take_profit", "stop_loss"}:
        return Shape(
            jbody(alert(ctx, rng, mark, **{name: {"ticks": SENTINEL}}), rng.choice(_EXTREME))
        )
    return Shape(jbody(alert(ctx, rng, mark, **{name: SENTINEL}), raw=rng.choice(_EXTREME)))


def _extreme_text(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    name = rng.choice(["quantity", "price", "take_profit.ticks", "time"])
    value = rng.choice(_EXTREME).strip('"')
    return Shape(tbody(text_alert(ctx, mark, **{name: value})), "text/plain")


def _arrays_for_scalars(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    data = alert(ctx, rng, mark)
    wraps: list[Callable[[Any], Any]] = [
        lambda v: [v],
        lambda v: {"value": v},
        lambda v: [[v]],
        lambda v: None,
    ]
    wrap = rng.choice(wraps)
    return Shape(jbody({k: wrap(v) if k != "alert_id" else v for k, v in data.items()}))


def _negative_sizes(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    changes: dict[str, Any] = rng.choice(
        [
            {"quantity": -1},
            {"quantity": -(10**30)},
            {"take_profit": {"ticks": -40}},
            {"stop_loss": {"ticks": 0}},
            {"price": -21000},
            {"price": 0},
            {"quantity": 0},
        ]
    )
    return Shape(jbody(alert(ctx, rng, mark, **changes)))


def _duplicate_json(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    good = jbody(alert(ctx, rng, mark)).decode()[:-1]
    extra = rng.choice(
        [
            '"intent": "sell"',
            '"secret": "wrong-secret"',
            f'"Secret": "{ctx.secret}"',
            '"action": "sell"',
            '"ticker": "ES1!"',
            '"qty": 5',
            f'"\\u0073ecret": "{ctx.secret}"',
            '"alert_id": "other"',
            '"quantity": 1',
        ]
    )
    return Shape(f"{good}, {extra}}}".encode())


def _duplicate_many(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    good = jbody(alert(ctx, rng, mark)).decode()[:-1]
    return Shape((good + ', "intent": "buy"' * rng.choice([2, 100, 3000]) + "}").encode())


def _duplicate_text(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    extra = rng.choice(
        [
            "intent=sell",
            "SECRET=wrong",
            f"Secret={ctx.secret}",
            "action=sell",
            "ticker=ES1!",
            "INTENT=buy",
            "take_profit.ticks=1\ntake_profit.ticks=2",
            "quantity=1",
        ]
    )
    return Shape(tbody(text_alert(ctx, mark) + ";" + extra), "text/plain")


def _separator_text(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    body = rng.choice(
        [
            text_alert(ctx, mark, alert_id=f"{mark};intent=sell"),
            text_alert(ctx, mark, alert_id=f"{mark}=a=b=c"),
            text_alert(ctx, mark, alert_id=f"{mark}\nintent=sell"),
            text_alert(ctx, mark, sep="\r"),
            text_alert(ctx, mark, sep="&"),
            text_alert(ctx, mark, secret=f"{ctx.secret};intent=sell"),
            text_alert(ctx, mark, secret=f"{ctx.secret}&x=1"),
            text_alert(ctx, mark, sep=";;;\n\n"),
            text_alert(ctx, mark, sep="\n# ;intent=sell\n"),
            "  intent  =  buy  ;  " + text_alert(ctx, mark),
            "=buy;" + text_alert(ctx, mark),
            text_alert(ctx, mark) + ";take_profit.ticks.x.y=1",
            text_alert(ctx, mark).replace(";", ";\r\n"),
        ]
    )
    return Shape(tbody(body), "text/plain")


def _separator_crosstrade(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    head = f"key={ctx.secret};command=PLACE;account=DEMO10001;instrument=NQ1!;action=BUY;qty=1"
    tail = rng.choice(
        [
            ";order_type=MARKET;tif=DAY;id=" + mark + ";command=FLATTENEVERYTHING",
            ";order_type=MARKET\ntif=DAY;account=DEMO10002,DEMO10001",
            ";order_type=MARKET;tif=DAY;id=" + mark + "&command=FLATTEN",
            ";order_type=MARKET;tif=DAY;take_profit=25 ticks;;stop_loss=;=;",
        ]
    )
    return Shape(tbody(head + tail), "text/plain")


def _separator_in_json(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    value = rng.choice([";intent=sell", "\nintent=sell\n", "&intent=sell", "=", ";secret=x"])
    name = rng.choice(["alert_id", "symbol", "intent", "secret"])
    data = alert(ctx, rng, mark)
    data[name] = f"{data[name]}{value}"
    return Shape(jbody(data))


CATEGORIES: dict[str, tuple[ShapeFn, ...]] = {
    "types": (_extreme_json, _extreme_text, _arrays_for_scalars, _negative_sizes),
    "duplicates": (_duplicate_json, _duplicate_many, _duplicate_text),
    "separators": (_separator_text, _separator_crosstrade, _separator_in_json),
}
