"""Shapes that attack how a body is read: syntax, bytes, size, Unicode and placeholders."""

from __future__ import annotations

import random
import re
from typing import Any

from bench.fuzz.requests import (
    ACCEPT,
    SENTINEL,
    Ctx,
    Shape,
    ShapeFn,
    alert,
    jbody,
    tbody,
    text_alert,
)

HOST_MAX_BODY = 4 * 1024 * 1024  # the dev host's aiohttp client_max_size


def _fields(rng: random.Random) -> str:
    return rng.choice(["secret", "intent", "symbol", "quantity", "price", "alert_id"])


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
}
