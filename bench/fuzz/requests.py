"""What a fuzz request is, the valid alert it starts from, and the marker that traces it."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.services import REPO_ROOT

CORPUS = REPO_ROOT / "tests" / "fixtures" / "alerts" / "corpus.json"
MARKER_RE = re.compile(r"fz-\d+-[a-z_]+-\d+")
SENTINEL = "@@FZ@@"
ACCEPT = frozenset({202})
UNAUTHORIZED = frozenset({401})


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
