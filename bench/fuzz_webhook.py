"""Fuzz the webhook over HTTP through the dev host: ``python -m bench.fuzz_webhook``.

``--requests N [--seed S]`` starts the whole local stack in this process (fresh settings in a
temporary folder) or, with ``--stack '<JSON line>'``, uses a running one, then sends N hostile
requests spread evenly over the categories in :data:`CATEGORIES`, interleaved in a seeded order.
Request ``i`` of a category is built from ``Random("{seed}/{category}/{i}")`` alone, so any one
request can be rebuilt without the rest (``--show CATEGORY:I``), and every category cycles
through all of its shapes.

Invariants, counted per category:

* no 5xx (no dependency is stopped on purpose, so not even a 503);
* no request slower than 100 ms of the app's own time (``X-Process-Time-ms``); one that gets no
  answer within TradingView's 3 s counts as slow and as a timeout (wall time is recorded apart);
* no order at the simulator, no queue message and no ledger entry from a refused request:
  every one must belong to a signal id a 202 answered with;
* every 4xx has a JSON body with ``code`` and ``message``;
* no secret at rest (:mod:`bench.secrets_scan`: Redis, Tables, every process's log);
* shapes with a definite answer get it (the control alerts 202, bodies over the limit 413...).

A shape that timed out once is not sent again in the run (each costs the host seconds of CPU
that would be charged to the requests behind it), and the run waits until the host answers
again. It prints a table and each violated (shape, invariant) with its smallest request, and
exits 1 on any violation.

The module is longer than this codebase's ~500 lines: shapes, sending, the after-run checks and
the report sit together, separated by section comments, and are the seams to split along
(``bench/fuzz/{shapes,send,check,report}.py``) when it grows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from bench.common import percentile
from bench.secrets_scan import (
    Scanner,
    ScanReport,
    Secret,
    scan_logs_only,
    scan_stack,
    secrets_from_settings,
)
from local.services import REPO_ROOT
from shared.config import read_local_settings

SLOW_MS = 100.0
TIMEOUT_S = 3.0  # TradingView cancels a webhook that takes longer (tradingview.md §3)
HOST_MAX_BODY = 4 * 1024 * 1024  # the dev host's aiohttp client_max_size
CORPUS = REPO_ROOT / "tests" / "fixtures" / "alerts" / "corpus.json"
MARKER_RE = re.compile(r"fz-\d+-[a-z_]+-\d+")
TV_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
SENTINEL = "@@FZ@@"
WRONG_SECRET = "not-the-secret"  # noqa: S105 - wrong on purpose


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    """What the shapes need to know about the stack under test."""

    secret: str
    function_key: str
    master_key: str
    price: str
    max_body: int
    controls: tuple[tuple[str, str], ...]  # (corpus case name, body with the real secret)
    seed: int = 0


@dataclass(frozen=True)
class Shape:
    """One request as a shape builds it; ``key`` None sends no function key."""

    body: bytes
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, bytes], ...] = ()
    key: str | None = ""  # "" means the stack's function key
    key_in_header: bool = False
    strategy: str = "demo"
    expect: frozenset[int] | None = None


@dataclass(frozen=True)
class FuzzRequest:
    """One request, named by category, shape and index."""

    category: str
    shape: str
    index: int
    spec: Shape

    @property
    def name(self) -> str:
        """Return ``category/shape``."""
        return f"{self.category}/{self.shape}"


def marker(ctx: Ctx, category: str, index: int) -> str:
    """Return the id a request carries so a record at rest can be traced back to it."""
    return f"fz-{ctx.seed}-{category}-{index}"


def alert(ctx: Ctx, rng: random.Random, mark: str, **changes: Any) -> dict[str, Any]:
    """Return a valid native alert with the real secret, changed by ``changes``."""
    data: dict[str, Any] = {
        "secret": ctx.secret,
        "intent": rng.choice(["buy", "sell"]),
        "symbol": "NQ1!",
        "quantity": 1,
        "price": ctx.price,
        "alert_id": mark,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def jbody(data: Any, raw: str | None = None) -> bytes:
    """Serialise ``data``; a ``SENTINEL`` string value becomes ``raw`` JSON text verbatim."""
    text = json.dumps(data, ensure_ascii=False)
    if raw is not None:
        text = text.replace(json.dumps(SENTINEL), raw)
    return text.encode("utf-8", errors="surrogatepass")


def text_alert(ctx: Ctx, mark: str, sep: str = ";", **extra: str) -> str:
    """Return a valid native ``key=value`` alert with the real secret."""
    pairs = {"secret": ctx.secret, "intent": "buy", "symbol": "NQ1!", "quantity": "1"}
    pairs |= {"price": ctx.price, "alert_id": mark, **extra}
    return sep.join(f"{k}={v}" for k, v in pairs.items())


def tbody(text: str) -> bytes:
    """Encode a text body, keeping lone surrogates as the bytes a broken client would send."""
    return text.encode("utf-8", errors="surrogatepass")


ShapeFn = Callable[[Ctx, random.Random, str], Shape]
ACCEPT = frozenset({202})
UNAUTHORIZED = frozenset({401})


def _fields(rng: random.Random) -> str:
    return rng.choice(["secret", "intent", "symbol", "quantity", "price", "alert_id"])


# --- shapes: malformed, bytes, size -------------------------------------------------------


def _truncated(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    body = jbody(alert(ctx, rng, mark))
    return Shape(body[: rng.randrange(1, len(body))])


def _malformed_variant(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    good = jbody(alert(ctx, rng, mark)).decode()
    variants = [
        good[:-1] + ",}",
        good.replace('"', "'"),
        re.sub(r'"(\w+)":', r"\1:", good),
        "// comment\n" + good,
        good[:-1],
        good + good,
        good + ";intent=sell",
        '{"secret": "' + ctx.secret + '", "intent": "b\\xuy"}',
        '{"secret": "' + ctx.secret + '", "intent": "buy',
        "{" * rng.randint(1, 50),
    ]
    return Shape(variants[rng.randrange(len(variants))].encode())


def _empty_or_scalar(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    choice = ["", "   ", "\ufeff", "\n\r\t", "null", "1", '"s"', "[]", "true", "{}", "[{}]", "="]
    return Shape(rng.choice(choice).encode(), content_type=rng.choice([None, "text/plain"]))


def _text_not_pairs(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    text = f"secret={ctx.secret}\nintent buy\nsymbol NQ1!\nalert_id={mark}"
    return Shape(text.encode(), content_type="text/plain")


def _random_bytes(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    prefix = rng.choice([b"", b"{", b"[", b"secret=" + ctx.secret.encode() + b";", b"\xef\xbb\xbf"])
    return Shape(prefix + rng.randbytes(rng.randint(1, 4096)), content_type=None)


def _invalid_utf8(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    bad = rng.choice([b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xff", b"\xe2\x82"])
    body = jbody(alert(ctx, rng, mark, **{_fields(rng): SENTINEL}))
    return Shape(body.replace(SENTINEL.encode(), bad))


def _printable(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789=;\n{}[]":,. \\'
    return Shape("".join(rng.choices(alphabet, k=rng.randint(1, 2048))).encode(), "text/plain")


def _nul_bytes(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    return Shape(b"\x00" * rng.randint(1, 8192), content_type=None)


def _padded_json(ctx: Ctx, rng: random.Random, mark: str, size: int) -> bytes:
    body = jbody(alert(ctx, rng, mark))
    pad = size - len(body)
    return body[:1] + b" " * pad + body[1:]


def _at_limit_json(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    return Shape(_padded_json(ctx, rng, mark, ctx.max_body), expect=ACCEPT)


def _over_limit_json(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    size = ctx.max_body + rng.choice([1, 2, 1000, ctx.max_body, 7 * ctx.max_body])
    return Shape(_padded_json(ctx, rng, mark, size), expect=frozenset({413}))


def _at_limit_text(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    text = tbody(text_alert(ctx, mark, sep="\n") + "\n#")
    return Shape(text + b"x" * (ctx.max_body - len(text)), "text/plain", expect=ACCEPT)


def _over_limit_text(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    text = tbody(text_alert(ctx, mark, sep="\n") + "\n#")
    size = ctx.max_body + rng.choice([1, 500])
    return Shape(text + b"x" * (size - len(text)), "text/plain", expect=frozenset({413}))


def _over_host_limit(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    return Shape(_padded_json(ctx, rng, mark, HOST_MAX_BODY + 1), expect=frozenset({413}))


def _deep(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    budget = ctx.max_body // 2 - 16
    depth = rng.choice([9, 100, 1000, budget // 6, budget])
    kind = rng.choice(["arrays", "objects", "extras"])
    if kind == "arrays":
        return Shape(("[" * depth + "]" * depth).encode()[: ctx.max_body])
    if kind == "objects":
        depth = min(depth, budget // 6)
        return Shape(('{"a":' * depth + "1" + "}" * depth).encode())
    depth = min(depth, budget // 8)
    nested = '{"a":' * depth + "1" + "}" * depth
    return Shape(jbody(alert(ctx, rng, mark, extras=SENTINEL), raw=nested))


def _many_fields(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    count = rng.choice([101, 1000, 5000])
    if rng.random() < 0.5:
        data = alert(ctx, rng, mark) | {f"k{i}": i for i in range(count)}
        return Shape(jbody(data))
    pairs = "\n".join(f"k{i}={i}" for i in range(count))
    return Shape(tbody(text_alert(ctx, mark, sep="\n") + "\n" + pairs), "text/plain")


def _long_value(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    value = rng.choice("A9{;=\\é") * (ctx.max_body - 200)
    return Shape(jbody(alert(ctx, rng, mark, **{_fields(rng): value})))


# --- shapes: unicode, placeholders --------------------------------------------------------


def _surrogate_escape(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    escape = rng.choice([r'"\ud800"', r'"\udfff"', r'"\udc00\ud800"', r'"NQ1!\ud83d"'])
    name = _fields(rng)
    return Shape(jbody(alert(ctx, rng, mark, **{name: SENTINEL}), raw=escape))


def _surrogate_everywhere(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    data = {k: SENTINEL for k in alert(ctx, rng, mark)} | {"alert_id": mark}
    return Shape(jbody(data, raw=r'"\ud800x"'))


def _nul_in_values(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    name = _fields(rng)
    if rng.random() < 0.5:
        value = str(alert(ctx, rng, mark)[name])
        return Shape(jbody(alert(ctx, rng, mark, **{name: value + "\u0000"})))
    return Shape(tbody(text_alert(ctx, mark, **{name: "1\x00"})), "text/plain")


def _decorated(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    around = rng.choice(["\u202e{}\u202c", "\u200f{}", "{}\u200b", "\ufeff{}", "{}\u0301", "{}🚀"])
    name = _fields(rng)
    data = alert(ctx, rng, mark)
    data[name] = around.format(data[name])
    return Shape(jbody(data))


def _emoji_everywhere(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    data = alert(ctx, rng, mark)
    if rng.random() < 0.5:
        return Shape(jbody({k: f"{v}🚀" for k, v in data.items()} | {"alert_id": f"{mark}🚀"}))
    return Shape(jbody({f"{k}🚀": v for k, v in data.items()}))


def _fullwidth(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    changes = rng.choice(
        [
            {"quantity": "\uff11"},
            {"price": "\uff12\uff11\uff10\uff10\uff10"},
            {"symbol": "\uff2e\uff31\uff11!"},
            {"quantity": "\u0663"},
            {"intent": "\uff42\uff55\uff59"},
            {"quantity": "\u00b9"},
            {"symbol": "\u039dQ1!"},
        ]
    )
    return Shape(jbody(alert(ctx, rng, mark, **changes)))


def _unicode_text(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    sep = rng.choice(["\u2028", "\x85", "\uff1b", "\u2029", "\x0b", "\x0c"])
    body = text_alert(ctx, mark, sep=sep)
    if rng.random() < 0.5:
        body = text_alert(ctx, mark, intent="b\u0000uy", symbol="NQ1!\u202e")
    return Shape(tbody(body), "text/plain; charset=utf-8")


def _homoglyph_key(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    data = alert(ctx, rng, mark, secret=None)
    key = rng.choice(
        [
            "\u0455ecret",
            "secret\u200b",
            "\uff53\uff45\uff43\uff52\uff45\uff54",
            "SECRET",
            "se\u0301cret",
        ]
    )
    return Shape(jbody({key: ctx.secret, **data}))


def _flood_value(ctx: Ctx, rng: random.Random, unit: str) -> str:
    return unit * ((ctx.max_body - 400) // len(unit))


def _flood_json(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    unit = rng.choice(["{{", "{{x}}", "{{ticker}}", "{{{"])
    name = rng.choice(["symbol", "intent", "alert_id", "strategy", "extras"])
    value: Any = _flood_value(ctx, rng, unit)
    if name == "extras":
        value = {"note": value}
    return Shape(jbody(alert(ctx, rng, mark, **{name: value})))


def _flood_text(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    unit = rng.choice(["{{", "{{x}}", "{{close}}"])
    name = rng.choice(["symbol", "intent", "strategy", "comment"])
    body = text_alert(ctx, mark, **{name: _flood_value(ctx, rng, unit)})
    return Shape(tbody(body), "text/plain")


def _flood_unquoted(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    head = f'{{"secret": "{ctx.secret}", "alert_id": "{mark}", '
    kind = rng.choice(["value", "keys", "colons"])
    if kind == "value":
        return Shape((head + '"quantity": ' + _flood_value(ctx, rng, "{{")).encode())
    if kind == "keys":
        return Shape((head + _flood_value(ctx, rng, '"q": {{x}}, ')).encode())
    return Shape((head + _flood_value(ctx, rng, '"k" : ') + "{{").encode())


def _flood_keys(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    if rng.random() < 0.5:
        return Shape(jbody(alert(ctx, rng, mark) | {_flood_value(ctx, rng, "{{"): 1}))
    return Shape(tbody(_flood_value(ctx, rng, "{{") + "=1\n" + text_alert(ctx, mark)), None)


def _flood_closing(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    unit = rng.choice(["}}", "{{}", "{", "{{ {{ "])
    return Shape(jbody(alert(ctx, rng, mark, strategy=_flood_value(ctx, rng, unit))))


# --- shapes: types, duplicates, separators -------------------------------------------------

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


# --- shapes: content types, forwarded-for, auth --------------------------------------------


def _content_type_valid(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    kind = rng.choice(
        [
            None,
            "application/x-www-form-urlencoded",
            "text/plain",
            "text/xml",
            "application/json",
            "application/json; charset=bogus",
            "application/octet-stream",
            "multipart/form-data",
            "application/json; charset=utf-16",
            "*/*",
            "text/plain; charset=iso-8859-1",
        ]
    )
    if rng.random() < 0.5:
        return Shape(jbody(alert(ctx, rng, mark)), kind, expect=ACCEPT)
    return Shape(tbody(text_alert(ctx, mark)), kind, expect=ACCEPT)


def _content_type_encoded(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    data = {k: str(v) for k, v in alert(ctx, rng, mark).items()}
    kind = rng.choice(["form", "multipart", "xml", "utf16"])
    if kind == "form":
        return Shape(urlencode(data).encode(), "application/x-www-form-urlencoded")
    if kind == "multipart":
        boundary = "fzboundary"
        part = f'--{boundary}\r\nContent-Disposition: form-data; name="alert"\r\n\r\n'
        body = part + json.dumps(data) + f"\r\n--{boundary}--\r\n"
        return Shape(body.encode(), f"multipart/form-data; boundary={boundary}")
    if kind == "xml":
        xml = "".join(f"<{k}>{v}</{k}>" for k, v in data.items())
        return Shape(f'<?xml version="1.0"?><alert>{xml}</alert>'.encode(), "text/xml")
    return Shape(json.dumps(data).encode("utf-16"), "application/json; charset=utf-16")


def _xff(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    value = rng.choice(
        [
            "1.2.3.4, 5.6.7.8",
            "2001:db8::1",
            "[::1]:443",
            "52.89.214.238 ,  10.0.0.1",
            f"{TV_IPS[0]}, 10.0.0.1",
            f"10.0.0.1, {TV_IPS[1]}",
            f"{TV_IPS[2]}:443",
            "unknown",
            "_hidden",
            "999.999.1.1",
            ",,,,",
            ";",
            "",
            "a\tb",
            f"for={TV_IPS[0]}",
            f"{TV_IPS[3]},",
            "::ffff:52.89.214.238",
            ", ".join(f"10.0.{i // 256}.{i % 256}" for i in range(rng.choice([10, 400]))),
            "52.89.214.238\u00a0",
        ]
    )
    headers: tuple[tuple[str, bytes], ...] = (
        ("x-forwarded-for", value.encode()),
    )  # UTF-8 bytes where it is not ASCII
    if rng.random() < 0.3:
        headers += (
            ("x-forwarded-for", TV_IPS[0].encode()),
            ("forwarded", f"for={TV_IPS[1]}".encode()),
        )
    if rng.random() < 0.3:
        headers += (("x-real-ip", TV_IPS[2].encode()), ("true-client-ip", TV_IPS[3].encode()))
    return Shape(jbody(alert(ctx, rng, mark)), headers=headers, expect=ACCEPT)


def _xff_huge(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    size = rng.choice([4000, 8000, 9000, 60000])
    value = ", ".join([TV_IPS[0]] * (size // 15))
    return Shape(jbody(alert(ctx, rng, mark)), headers=(("x-forwarded-for", value.encode()),))


def _function_key(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    key, header, expect = rng.choice(
        [
            (None, False, UNAUTHORIZED),
            ("wrong-key", False, UNAUTHORIZED),
            (" ", False, UNAUTHORIZED),
            (ctx.function_key[:-1], False, UNAUTHORIZED),
            (ctx.function_key + "x", True, UNAUTHORIZED),
            ("", True, ACCEPT),
            (ctx.master_key, False, ACCEPT),
            (ctx.function_key.upper(), False, UNAUTHORIZED),
        ]
    )
    return Shape(jbody(alert(ctx, rng, mark)), key=key, key_in_header=header, expect=expect)


def _wrong_secret(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    value, expect = rng.choice(
        [
            ("wrong", UNAUTHORIZED),
            (None, UNAUTHORIZED),
            ("", UNAUTHORIZED),
            (ctx.secret.upper(), UNAUTHORIZED),
            (ctx.secret[:-1], UNAUTHORIZED),
            (ctx.secret + "x", UNAUTHORIZED),
            (123, None),
            ([ctx.secret], None),
            ({"v": ctx.secret}, None),
            (True, None),
            (f" {ctx.secret} ", None),
            ("x" * 60000, None),
        ]
    )
    field_name = rng.choice(["secret", "passphrase", "token", "key"])
    data = alert(ctx, rng, mark, secret=None)
    return Shape(jbody({field_name: value, **data} if value is not None else data), expect=expect)


def _strategy_path(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    strategy = rng.choice(["DEMO", "demo ", "nope", "..", "demo%00", "x" * 2000, "démo", "demo;x"])
    return Shape(jbody(alert(ctx, rng, mark)), strategy=strategy, expect=frozenset({401, 404}))


def _secret_echo(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    kind = rng.choice(["extras", "refused_comment", "escaped", "text_comment", "truncated"])
    if kind == "extras":
        return Shape(jbody(alert(ctx, rng, mark, extras={"note": ctx.secret})))
    if kind == "refused_comment":
        return Shape(jbody(alert(ctx, rng, mark, secret=WRONG_SECRET, comment=ctx.secret)))
    if kind == "escaped":
        escaped = '"' + "".join(f"\\u{ord(c):04x}" for c in ctx.secret) + '"'
        return Shape(jbody(alert(ctx, rng, mark, secret=SENTINEL), raw=escaped), expect=ACCEPT)
    if kind == "text_comment":
        return Shape(tbody(text_alert(ctx, mark) + f"\n# {ctx.secret}\nnot a pair"), "text/plain")
    body = jbody({"alert_id": mark, "secret": ctx.secret, "intent": "buy"})
    return Shape(body[: rng.randrange(len(body) - len(ctx.secret) - 5, len(body) - 10)])


def _control(ctx: Ctx, rng: random.Random, mark: str) -> Shape:
    _, body = ctx.controls[rng.randrange(len(ctx.controls))]
    kind = "application/json" if body.lstrip().startswith("{") else "text/plain"
    return Shape(tbody(body), kind, expect=ACCEPT)


CATEGORIES: dict[str, tuple[ShapeFn, ...]] = {
    "malformed": (_truncated, _malformed_variant, _empty_or_scalar, _text_not_pairs),
    "random_bytes": (_random_bytes, _invalid_utf8, _printable, _nul_bytes),
    "size": (
        _at_limit_json,
        _over_limit_json,
        _at_limit_text,
        _over_limit_text,
        _over_host_limit,
        _deep,
        _many_fields,
        _long_value,
    ),
    "unicode": (
        _surrogate_escape,
        _surrogate_everywhere,
        _nul_in_values,
        _decorated,
        _emoji_everywhere,
        _fullwidth,
        _unicode_text,
        _homoglyph_key,
    ),
    "placeholder": (_flood_json, _flood_text, _flood_unquoted, _flood_keys, _flood_closing),
    "types": (_extreme_json, _extreme_text, _arrays_for_scalars, _negative_sizes),
    "duplicates": (_duplicate_json, _duplicate_many, _duplicate_text),
    "separators": (_separator_text, _separator_crosstrade, _separator_in_json),
    "content_type": (_content_type_valid, _content_type_encoded),
    "forwarded_for": (_xff, _xff_huge),
    "auth": (_function_key, _wrong_secret, _strategy_path, _secret_echo),
    "control": (_control,),
}


def build(ctx: Ctx, category: str, index: int) -> FuzzRequest:
    """Build request ``index`` of ``category``: its shapes in turn, varied by its own seed."""
    shapes = CATEGORIES[category]
    shape = shapes[index % len(shapes)]
    rng = random.Random(f"{ctx.seed}/{category}/{index}")
    return FuzzRequest(
        category, shape.__name__.lstrip("_"), index, shape(ctx, rng, marker(ctx, category, index))
    )


def plan(ctx: Ctx, total: int, categories: list[str]) -> list[tuple[str, int]]:
    """Spread ``total`` requests evenly over the categories, in a seeded interleaved order."""
    order = [
        (c, i)
        for n, c in enumerate(categories)
        for i in range(total // len(categories) + (n < total % len(categories)))
    ]
    random.Random(ctx.seed).shuffle(order)
    return order


def control_alerts(secret: str) -> tuple[tuple[str, str], ...]:
    """Return the corpus's accepted alerts that suit the demo strategy, with the real secret.

    Cases that pick accounts by name are left out: they name accounts the demo strategy does
    not trade, which the webhook rightly refuses (400 ``unknown_account``).
    """
    controls = []
    for case in json.loads(CORPUS.read_text(encoding="utf-8"))["cases"]:
        if "signal" not in case or case["signal"].get("accounts"):
            continue
        raw, old = case["raw"], case.get("secret")
        if old:
            body = raw.replace(old, secret)
        elif raw.lstrip().startswith("{"):
            body = json.dumps(json.loads(raw) | {"secret": secret})
        else:
            separator = ";" if ";" in raw and "\n" not in raw.strip() else "\n"
            body = f"{raw.rstrip()}{separator}secret={secret}"
        controls.append((case["name"], body))
    return tuple(controls)


# --- sending and per-request invariants ----------------------------------------------------


@dataclass
class Result:
    """What one request got back, and which invariants it broke."""

    request: FuzzRequest
    status: int | None = None
    own_ms: float | None = None
    wall_ms: float = 0.0
    error: str | None = None
    answer: str = ""
    signal_id: str | None = None
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resent_ids: list[str] = field(default_factory=list)


def _has_code(text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and isinstance(body.get("message"), str)
    )


def judge(result: Result, answer: str) -> None:
    """Record the invariants one answer breaks (5xx, slow, 4xx without a code, wrong status)."""
    status, spec = result.status, result.request.spec
    if status is None:
        result.violations.append(result.error or "error")
        if result.error == "timeout":
            result.violations.append("slow")
        return
    if status >= 500:
        result.violations.append("5xx")
    if result.own_ms is not None and result.own_ms > SLOW_MS:
        result.violations.append("slow")
    if 400 <= status < 500 and not _has_code(answer):
        result.violations.append("4xx_without_code")
    if spec.expect is not None and status not in spec.expect:
        result.violations.append("unexpected_status")
    if status == 202:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            result.signal_id = str(json.loads(answer)["id"])


class Sender:
    """Send requests to the webhook and keep the per-shape breaker."""

    def __init__(self, functions_url: str, ctx: Ctx, client: httpx.AsyncClient) -> None:
        self._url = functions_url.rstrip("/")
        self._ctx = ctx
        self._client = client
        self.tripped: set[str] = set()

    def _request(self, spec: Shape) -> httpx.Request:
        key = self._ctx.function_key if spec.key == "" else spec.key
        headers = [(k.encode(), v) for k, v in spec.headers]
        if spec.content_type is not None:
            headers.append((b"content-type", spec.content_type.encode()))
        params = {}
        if key is not None and spec.key_in_header:
            headers.append((b"x-functions-key", key.encode()))
        elif key is not None:
            params["code"] = key
        url = f"{self._url}/api/webhook/{quote(spec.strategy, safe='%')}"
        return self._client.build_request(
            "POST", url, params=params, headers=headers, content=spec.body
        )

    async def send(self, request: FuzzRequest) -> Result:
        """Send one request and judge its answer."""
        result = Result(request)
        answer = ""
        started = time.perf_counter()
        try:
            response = await self._client.send(self._request(request.spec))
        except httpx.TimeoutException:
            result.error = "timeout"
        except httpx.HTTPError as exc:
            result.error = f"transport_error:{type(exc).__name__}"
        else:
            result.status = response.status_code
            answer = response.text
            result.answer = answer[:2000]
            own = response.headers.get("x-process-time-ms")
            result.own_ms = float(own) if own else None
        result.wall_ms = (time.perf_counter() - started) * 1000
        judge(result, answer)
        if result.error == "timeout":
            self.tripped.add(request.name)
            await self.wait_healthy()
        return result

    async def wait_healthy(self, timeout_s: float = 60.0) -> None:
        """Wait until the host answers its health check again (its loop is free)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (
                    await self._client.get(f"{self._url}/api/health", timeout=1.0)
                ).status_code == 200:
                    return
            await asyncio.sleep(0.25)


async def fire(
    functions_url: str,
    ctx: Ctx,
    order: list[tuple[str, int]],
    concurrency: int,
    budget_s: float | None,
) -> tuple[list[Result], Counter[str]]:
    """Build and send every request in ``order`` (skipping tripped shapes and whatever is left
    past the budget); only the bodies of requests that broke something are kept."""
    results: list[Result] = []
    skipped: Counter[str] = Counter()
    queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    for item in order:
        queue.put_nowait(item)
    deadline = time.monotonic() + budget_s if budget_s else None
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits) as client:
        sender = Sender(functions_url, ctx, client)
        await sender.wait_healthy()

        async def worker() -> None:
            while not queue.empty():
                request = build(ctx, *queue.get_nowait())
                late = deadline is not None and time.monotonic() > deadline
                if late or request.name in sender.tripped:
                    skipped[request.category] += 1
                    continue
                result = await sender.send(request)
                if not result.violations:  # 4 MiB bodies add up over a large run
                    result.request = replace(request, spec=replace(request.spec, body=b""))
                results.append(result)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await recheck_slow(sender, results)
    return results, skipped


RECHECKS = 3


async def recheck_slow(sender: Sender, results: list[Result]) -> None:
    """Send every slow request again, alone; slow only once is contention, not the shape.

    ``X-Process-Time-ms`` is the function's elapsed time, so a process that the machine's
    scheduler left waiting (two cores shared by every part of the stack and whatever else
    runs) reports it too. A request that is fast in any of three re-sends is marked
    ``slow_once`` and not counted; one that is slow every time is.
    """
    for result in results:
        if "slow" not in result.violations or result.own_ms is None:
            continue
        for _ in range(RECHECKS):
            again = await sender.send(result.request)
            if again.signal_id:  # a re-sent alert without an explicit id may be a new signal
                result.resent_ids.append(again.signal_id)
            if again.own_ms is not None and again.own_ms <= SLOW_MS:
                result.violations.remove("slow")
                result.notes.append(f"slow_once (re-sent: {again.own_ms:.1f} ms)")
                break


# --- after the run: orders, queue, ledger --------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """What existed before the run, so a running stack's history is not blamed on it."""

    order_ids: frozenset[int]
    signal_ids: frozenset[str]


def _redis_signal_ids(redis_url: str, values: dict[str, str]) -> dict[str, set[str]]:
    """Return signal id -> the clOrdIds its ledger holds, for every queued or ledgered signal."""
    from shared.adapters.redis_connect import RedisOptions, build_sync_redis

    client = build_sync_redis(RedisOptions.from_environment({**values, "REDIS_URL": redis_url}))
    found: dict[str, set[str]] = defaultdict(set)
    try:
        for key in client.scan_iter(match="lq:*:d:*", count=1000):
            found[_str(key).split(":d:", 1)[1].rsplit(":", 1)[0]]
        for key in client.scan_iter(match="{ledger}:sig:*", count=1000):
            fields = client.hkeys(key)
            found[_str(key).split(":sig:", 1)[1]] |= {_str(f) for f in fields}
    finally:
        client.close()
    return found


def _str(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _sim_orders(admin_url: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = httpx.get(f"{admin_url}/state", timeout=30).json()["orders"]
    return sorted(orders, key=lambda o: int(o["id"]))  # a parent before its brackets


def baseline(urls: dict[str, Any], values: dict[str, str]) -> Baseline:
    """Record the orders and signals a (running) stack already has."""
    orders = _sim_orders(str(urls["tradovate_admin"])) if "tradovate_admin" in urls else []
    signals = _redis_signal_ids(str(urls["redis"]), values)
    return Baseline(frozenset(o["id"] for o in orders), frozenset(signals))


def wait_for_queue(urls: dict[str, Any], master_key: str, timeout_s: float) -> bool:
    """Wait until the signals queue holds nothing active or scheduled; say whether it did."""
    url = f"{urls['functions_background']}/admin/queues/signals"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            counts = httpx.get(url, headers={"x-functions-key": master_key}, timeout=5).json()[
                "counts"
            ]
            if counts["active"] == 0 and counts["scheduled"] == 0:
                return True
        time.sleep(0.5)
    return False


def wrongful(
    urls: dict[str, Any],
    values: dict[str, str],
    accepted: set[str],
    before: Baseline,
    accounts: list[str],
) -> list[str]:
    """Return every queued/ledgered signal and simulator order not owed to an accepted request."""
    from shared.domain.planning.model import is_leg_of

    signals = _redis_signal_ids(str(urls["redis"]), values)
    problems = [
        f"signal {sid} queued or in the ledger, but no request was answered 202 with it"
        for sid in signals
        if sid not in accepted and sid not in before.signal_ids
    ]
    owner = {cl: sid for sid, cls in signals.items() for cl in cls}
    known = accepted | before.signal_ids
    for order in _sim_orders(str(urls["tradovate_admin"])) if "tradovate_admin" in urls else []:
        if order["id"] in before.order_ids:
            continue
        cl = order.get("clOrdId") or ""
        # A bracket's legs are placed with their entry and are not in the ledger: they belong
        # to their parent's signal, and their clOrdId must still be derived from it.
        sid = owner.get(cl) or owner.get(f"#{order.get('parentId')}")
        if sid:
            owner[f"#{order['id']}"] = sid
        if sid not in known or not any(is_leg_of(cl, sid, a) for a in accounts):
            whose = f", signal {sid}" if sid else ""
            problems.append(f"order {order['id']} (clOrdId {cl!r}{whose}) has no 202 behind it")
    return problems


_CORRELATION_RE = re.compile(r'"correlation_id":\s*"(?:s:)?([0-9a-f]{16,64})"')
_SIGNAL_RE = re.compile(r"signal ([0-9a-f]{16,64})\b")


def signal_id_of(strategy_id: str, alert_id: str) -> str:
    """Return the signal id the webhook gives an alert with an explicit id.

    The derivation of ``shared/services/ingest.py`` (``_dedupe_key``), repeated here so that a
    signal with no 202 behind it can be traced to its request; should it change, attribution
    falls back to the journal.
    """
    text = "\n".join((strategy_id, "id", alert_id))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def attribute_signal(
    urls: dict[str, Any], values: dict[str, str], problem: str, sent: dict[str, str]
) -> tuple[str, str]:
    """Find the request behind a wrongful signal: by its alert id (``sent``: signal id ->
    marker), else by its correlation id (ledger or queue) in the journal, whose raw text
    carries the request's marker."""
    from azure.data.tables import TableServiceClient

    from bench.secrets_scan import tables_connection_string

    found = _SIGNAL_RE.search(problem)
    if found is None:
        return "(unattributed)", problem
    if found.group(1) in sent:
        mark = sent[found.group(1)]
        return mark.split("-")[2], f"{problem} ({mark})"
    if "tables" not in urls:
        return "(unattributed)", problem
    correlations = _signal_correlations(str(urls["redis"]), values, found.group(1))
    service = TableServiceClient.from_connection_string(tables_connection_string(urls["tables"]))
    with service:
        for table in service.list_tables():
            if not table.name.endswith("Alerts"):
                continue
            client = service.get_table_client(table.name)
            queries = [("RowKey eq @v", found.group(1))]
            queries += [("correlation_id eq @v", cid) for cid in correlations]
            for query, value in queries:
                for row in client.query_entities(query, parameters={"v": value}):
                    hit = MARKER_RE.search(str(row.get("raw_redacted", "")))
                    answer = f"journaled {row.get('status')} {row.get('reason_code') or ''}"
                    if hit:
                        return hit.group(0).split("-")[2], f"{problem} ({hit.group(0)}, {answer})"
    return "(unattributed)", problem


def _signal_correlations(redis_url: str, values: dict[str, str], signal_id: str) -> set[str]:
    from shared.adapters.redis_connect import RedisOptions, build_sync_redis

    client = build_sync_redis(RedisOptions.from_environment({**values, "REDIS_URL": redis_url}))
    texts: list[bytes | str] = []
    try:
        texts += client.hvals(f"{{ledger}}:sig:{signal_id}")
        for key in client.scan_iter(match="lq:*:s:*", count=1000):
            if client.type(key) == b"list":
                texts += [m for m in client.lrange(key, 0, -1) if signal_id in _str(m)]
    finally:
        client.close()
    return {m for t in texts for m in _CORRELATION_RE.findall(_str(t))}


# --- the report ----------------------------------------------------------------------------


@dataclass
class Run:
    """Everything a fuzz run found, ready to print."""

    planned: Counter[str]
    results: list[Result]
    skipped: Counter[str]
    wrongful: dict[str, list[str]] = field(default_factory=dict)  # category -> problems
    secrets: dict[str, list[str]] = field(default_factory=dict)  # category -> hit lines
    scan: list[str] = field(default_factory=list)
    drained: bool = True
    duration_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    mask: list[Secret] = field(default_factory=list)

    def by_category(self) -> dict[str, list[Result]]:
        """Group the results by category (in the order of :data:`CATEGORIES`)."""
        grouped: dict[str, list[Result]] = {c: [] for c in self.planned}
        for result in self.results:
            grouped[result.request.category].append(result)
        return grouped

    def violations(self) -> int:
        """Count every broken invariant (a timeout and its slowness count once each)."""
        counted = sum(len(r.violations) for r in self.results)
        return (
            counted + sum(map(len, self.wrongful.values())) + sum(map(len, self.secrets.values()))
        )

    def failed(self) -> bool:
        """Say whether the run found anything, or could not check everything."""
        return self.violations() > 0 or sum(self.skipped.values()) > 0


def _row(
    name: str, planned: int, results: list[Result], skipped: int, wrong: int, secrets: int
) -> list[str]:
    statuses = Counter((r.status or 0) // 100 for r in results)
    count = Counter(v for r in results for v in r.violations)
    own = [r.own_ms for r in results if r.own_ms is not None]
    wall = [r.wall_ms for r in results]

    def fmt(samples: list[float], p: float) -> str:
        return f"{percentile(samples, p):.2f}" if samples else "-"

    errors = sum(1 for r in results if r.status is None)
    return [
        name,
        str(planned),
        str(skipped),
        str(statuses[2]),
        str(statuses[4]),
        str(statuses[5]),
        str(errors),
        str(count["slow"]),
        str(sum(1 for r in results if r.notes)),
        str(count["4xx_without_code"]),
        str(count["unexpected_status"]),
        str(wrong),
        str(secrets),
        fmt(own, 50),
        fmt(own, 99),
        fmt(wall, 99),
    ]


HEADER = [
    "category",
    "requests",
    "skipped",
    "2xx",
    "4xx",
    "5xx",
    "no answer",
    "slow",
    "slow once",
    "4xx no code",
    "unexpected",
    "wrongful orders",
    "secrets",
    "own p50 ms",
    "own p99 ms",
    "wall p99 ms",
]


def table(run: Run) -> str:
    """Render the per-category table with a total row."""
    rows = []
    grouped = run.by_category()
    for category, results in grouped.items():
        wrong, secrets = len(run.wrongful.get(category, [])), len(run.secrets.get(category, []))
        rows.append(
            _row(category, run.planned[category], results, run.skipped[category], wrong, secrets)
        )
    extra = {k for k in (*run.wrongful, *run.secrets) if k not in grouped}
    for name in sorted(extra):
        rows.append(
            _row(name, 0, [], 0, len(run.wrongful.get(name, [])), len(run.secrets.get(name, [])))
        )
    total = _row(
        "total",
        sum(run.planned.values()),
        run.results,
        sum(run.skipped.values()),
        sum(map(len, run.wrongful.values())),
        sum(map(len, run.secrets.values())),
    )
    widths = [max(len(r[i]) for r in [HEADER, *rows, total]) for i in range(len(HEADER))]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *map(line, rows), rule, line(total)])


def describe(result: Result, scanner: Scanner) -> str:
    """Show a request compactly (secrets masked) and what it got, as a reproduction."""
    request, spec = result.request, result.request.spec
    body = scanner.mask(spec.body.decode("utf-8", errors="backslashreplace"))
    shown = body if len(body) <= 240 else f"{body[:160]} …[{len(body) - 220} chars]… {body[-60:]}"
    key = (
        "none"
        if spec.key is None
        else ("the function key" if spec.key == "" else repr(scanner.mask(spec.key)[:40]))
    )
    headers = ", ".join(
        f"{k}: {scanner.mask(v.decode(errors='replace'))[:80]!r}" for k, v in spec.headers
    )
    answer = (
        f"{result.status} own {result.own_ms} ms wall {result.wall_ms:.0f} ms"
        if result.status
        else result.error
    )
    return (
        f"--show {request.category}:{request.index} | POST /api/webhook/{spec.strategy[:40]}"
        f" key={key}"
        f"{' (header)' if spec.key_in_header else ''} content-type={spec.content_type!r}"
        f"{' ' + headers if headers else ''} body {len(spec.body)} B: {shown!r} -> {answer}"
        f" {scanner.mask(result.answer[:160])!r}"
    )


def failures(run: Run, scanner: Scanner) -> list[str]:
    """List each violated (shape, invariant) once, with its smallest failing request."""
    smallest: dict[tuple[str, str], Result] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for result in run.results:
        for violation in result.violations:
            key = (result.request.name, violation)
            counts[key] += 1
            best = smallest.get(key)
            if best is None or len(result.request.spec.body) < len(best.request.spec.body):
                smallest[key] = result
    lines = [
        f"{shape} {violation} x{counts[(shape, violation)]}\n    {describe(r, scanner)}"
        for (shape, violation), r in sorted(smallest.items())
    ]
    for category, problems in sorted(run.wrongful.items()):
        lines += [f"{category} wrongful: {p}" for p in problems[:10]]
    for category, hits in sorted(run.secrets.items()):
        lines += [f"{category} secret_at_rest: {h}" for h in hits[:10]]
    if run.skipped:
        lines.append(f"skipped (shape timed out before, or past the budget): {dict(run.skipped)}")
    if not run.drained:
        # Not a violation: every queued message was checked against the accepted ids.
        lines.append(
            "note: the signals queue had not drained; orders not yet placed went unchecked"
        )
    return lines


def attribute_hits(run: Run, report: ScanReport) -> None:
    """File each secret found at rest under the category of the request it came from."""
    for hit in report.hits:
        categories = {m.split("-")[2] for m in hit.markers} or {"(unattributed)"}
        for category in categories:
            line = f"{hit.secret} ({hit.form}) in {hit.where}: ...{hit.snippet}..."
            run.secrets.setdefault(category, []).append(line)


# --- the stack and the command line --------------------------------------------------------

# The fuzzer sends thousands of authenticated alerts a minute; at the local strategy's 600 a
# minute the controls would be answered 429. The limiter has its own tests (tests/unit).
FUZZ_RATE_LIMIT_PER_MIN = 6000  # the most the strategy file allows


def fuzz_settings(folder: Path) -> Path:
    """Write fresh local settings whose strategy file is the local one with no rate limit."""
    from local.stack import LOCAL_STRATEGIES, ensure_local_settings

    settings = folder / "local.settings.json"
    ensure_local_settings(settings)
    strategies, n = re.subn(
        r"rate_limit_per_min = \d+",
        f"rate_limit_per_min = {FUZZ_RATE_LIMIT_PER_MIN}",
        LOCAL_STRATEGIES.read_text(encoding="utf-8"),
    )
    if n == 0:
        raise RuntimeError(f"{LOCAL_STRATEGIES} no longer sets rate_limit_per_min")
    strategies_file = folder / "strategies.fuzz.toml"
    strategies_file.write_text(strategies, encoding="utf-8")
    document = json.loads(settings.read_text(encoding="utf-8"))
    document["Values"]["STRATEGIES_FILE"] = str(strategies_file)
    settings.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return settings


@contextlib.contextmanager
def local_stack(folder: Path) -> Iterator[tuple[dict[str, Any], Callable[[], dict[str, str]]]]:
    """Run the local stack in this process; yield its URLs and a reader of every part's log."""
    from local.stack import Stack

    args = argparse.Namespace(
        host="127.0.0.1",
        functions_port=0,
        redis_port=0,
        azurite_port=0,
        tradovate_port=0,
        worker_port=0,
        settings=fuzz_settings(folder),
        no_simulator=False,
        azure_like=False,
    )
    stack = Stack(args)
    data_files: dict[str, str] = {}

    def logs() -> dict[str, str]:
        # The stack has no public list of its parts' log files (see the report): the dev
        # hosts', simulator's and worker's are ReadyLineProcess.log_text, Redis's and
        # Azurite's the services' private log files.
        found = {name: proc.log_text for name, proc in stack.processes.items()}
        for service in getattr(stack, "_services", []):
            path = Path(service._log.name)
            found[service.name] = path.read_text(errors="replace") if path.exists() else ""
        return found | data_files

    try:
        yield stack.start(), logs
    finally:
        # Redis's append-only file keeps every write, deleted keys' values too; it is removed
        # with the stack, so it is read now.
        data_files.update(_data_files(stack))
        stack.stop()


def _data_files(stack: Any) -> dict[str, str]:
    found = {}
    for service in getattr(stack, "_services", []):
        folder = getattr(service, "data_dir", None)
        for path in sorted(Path(folder).rglob("*")) if folder else []:
            if path.is_file():
                found[f"{service.name} {path.name}"] = path.read_bytes().decode(errors="replace")
    return found


def context(urls: dict[str, Any], values: dict[str, str], seed: int) -> Ctx:
    """Read keys, the secret, the body limit and a fair price from the stack and its settings."""
    price = "21000"
    with contextlib.suppress(httpx.HTTPError, StopIteration, KeyError, ValueError):
        prices = httpx.get(f"{urls['tradovate_admin']}/price", params={"symbol": "MNQ"}, timeout=10)
        price = str(next(iter(prices.json().values()))["price"])
    return Ctx(
        secret=values["WEBHOOK_DEMO"],
        function_key=values["DEVHOST_FUNCTION_KEYS"].split(",")[0],
        master_key=values.get("DEVHOST_MASTER_KEY", ""),
        price=price,
        max_body=int(values.get("WEBHOOK_MAX_BODY_BYTES") or 65536),
        controls=control_alerts(values["WEBHOOK_DEMO"]),
        seed=seed,
    )


def _accounts(values: dict[str, str]) -> list[str]:
    from shared.strategies import load_strategies

    book = load_strategies(values["STRATEGIES_FILE"])
    return sorted({a.name for s in book.values() for a in s.accounts})


def fuzz(urls: dict[str, Any], values: dict[str, str], options: argparse.Namespace) -> Run:
    """Run the fuzz against a running stack and check every invariant but the logs."""
    started = time.monotonic()
    ctx = context(urls, values, options.seed)
    mask = secrets_from_settings(values)  # now, while the strategy file exists
    categories = options.categories or list(CATEGORIES)
    order = plan(ctx, options.requests, categories)
    before = baseline(urls, values)
    results, skipped = asyncio.run(
        fire(str(urls["functions"]), ctx, order, options.concurrency, options.budget_s)
    )
    run = Run(Counter({c: 0 for c in categories}), results, skipped, mask=mask)
    run.planned.update(c for c, _ in order)
    run.timings["send"] = time.monotonic() - started
    if "functions_background" in urls:
        run.drained = wait_for_queue(urls, ctx.master_key, options.drain_s)
    time.sleep(1.0)  # the webhook's journal writes run in the background
    run.timings["settle"] = time.monotonic() - started - run.timings["send"]
    accepted = {r.signal_id for r in results if r.signal_id}
    accepted.update(sid for r in results for sid in r.resent_ids)
    sent = {signal_id_of("demo", marker(ctx, c, i)): marker(ctx, c, i) for c, i in order}
    for problem in wrongful(urls, values, accepted, before, _accounts(values)):
        category, line = attribute_signal(urls, values, problem, sent)
        run.wrongful.setdefault(category, []).append(line)
    report = scan_stack(urls, values, marker_re=MARKER_RE)
    attribute_hits(run, report)
    run.scan = report.lines()[:1]
    run.duration_s = time.monotonic() - started
    run.timings["check"] = run.duration_s - run.timings["send"] - run.timings["settle"]
    return run


def scan_logs_into(run: Run, values: dict[str, str], logs: dict[str, str]) -> None:
    """Add the secrets found in the stack's logs (read after it stopped) to the run."""
    report = scan_logs_only(values, logs, MARKER_RE)
    attribute_hits(run, report)
    run.scan.append(report.lines()[0])


def print_run(run: Run, values: dict[str, str], total_s: float) -> None:
    """Print the table, the failures with reproductions and the timings."""
    scanner = Scanner(run.mask or secrets_from_settings(values))
    print(table(run))
    print(*run.scan, sep="\n")
    lines = failures(run, scanner)
    print(f"\n{len(lines)} violated (shape, invariant) pairs" + (":" if lines else "."))
    for line in lines:
        print(line)
    sent = len(run.results)
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
    print(f"\n{sent} requests sent; fuzz + checks {run.duration_s:.1f} s ({steps})")
    print(f"whole run {total_s:.1f} s")


def show(spec: str, settings: Path | None, seed: int, body_out: Path | None) -> int:
    """Print one request as the fuzzer would build it (placeholders without a settings file)."""
    category, _, index = spec.partition(":")
    values = read_local_settings(settings) if settings else {}
    secret = values.get("WEBHOOK_DEMO", "S" * 32)
    key = values.get("DEVHOST_FUNCTION_KEYS", "K" * 32).split(",")[0]
    master = values.get("DEVHOST_MASTER_KEY", "M" * 32)
    ctx = Ctx(secret, key, master, "21000", 65536, control_alerts(secret), seed)
    request = build(ctx, category, int(index))
    spec_ = request.spec
    described = {
        "shape": request.name,
        "strategy": spec_.strategy,
        "key": "none" if spec_.key is None else spec_.key or "the function key",
        "key_in_header": spec_.key_in_header,
        "content_type": spec_.content_type,
        "headers": [(k, v.decode(errors="replace")[:200]) for k, v in spec_.headers],
        "expect": sorted(spec_.expect or []),
        "body_bytes": len(spec_.body),
        "body_preview": spec_.body[:300].decode(errors="backslashreplace"),
    }
    print(json.dumps(described, indent=2, ensure_ascii=False))
    if body_out is not None:
        body_out.write_bytes(spec_.body)
    return 0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fuzz_webhook",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=1500, help="how many requests in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stack", help="the JSON line of a running python -m local.stack")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument(
        "--budget-s", type=float, help="stop sending after this long (rest skipped)"
    )
    parser.add_argument("--drain-s", type=float, default=15.0, help="wait this long for the queue")
    parser.add_argument("--category", dest="categories", action="append", choices=list(CATEGORIES))
    parser.add_argument("--show", metavar="CATEGORY:INDEX", help="print one request and exit")
    parser.add_argument("--settings", type=Path, help="with --show: the settings to build it with")
    parser.add_argument("--body-out", type=Path, help="with --show: write the body to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Fuzz a stack (started here unless --stack names one); exit 1 on any violation."""
    options = _parse(sys.argv[1:] if argv is None else argv)
    if options.show:
        return show(options.show, options.settings, options.seed, options.body_out)
    started = time.monotonic()
    if options.stack:
        urls = json.loads(options.stack)
        values = read_local_settings(Path(urls["settings"]))
        run = fuzz(urls, values, options)
        run.scan.append("logs not scanned: a running stack does not say where its parts log")
    else:
        with tempfile.TemporaryDirectory(prefix="tradebridge-fuzz-") as folder:
            with local_stack(Path(folder)) as (urls, logs):
                values = read_local_settings(Path(urls["settings"]))
                run = fuzz(urls, values, options)
            scan_logs_into(run, values, logs())
    print_run(run, values, time.monotonic() - started)
    return 1 if run.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
