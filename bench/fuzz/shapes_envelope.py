"""Shapes that attack the envelope: content types, forwarded-for, keys, secrets, controls."""

from __future__ import annotations

import json
import random
from urllib.parse import urlencode

from bench.fuzz.requests import (
    ACCEPT,
    SENTINEL,
    UNAUTHORIZED,
    Ctx,
    Shape,
    ShapeFn,
    alert,
    jbody,
    tbody,
    text_alert,
)

TV_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
WRONG_SECRET = "not-the-secret"  # noqa: S105 - wrong on purpose


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
    "content_type": (_content_type_valid, _content_type_encoded),
    "forwarded_for": (_xff, _xff_huge),
    "auth": (_function_key, _wrong_secret, _strategy_path, _secret_echo),
    "control": (_control,),
}
