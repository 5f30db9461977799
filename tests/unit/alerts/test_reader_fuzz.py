"""Fuzz every reader through ``parse_alert``, the webhook's one entry point.

Whatever the body, the parser either returns a valid alert or refuses it with an
``InvalidSignal`` carrying a code, a message and a field that are safe to send back and to
journal; it never raises anything else and never takes long. A parsed signal holds only
Decimal numbers (finite, positive), whole contract quantities below the parser's ceiling,
plausible zone-aware times, and text that encodes to UTF-8 and survives the queue codec.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.domain.alerts import FORMAT_NAMES, MAX_BODY_CHARS, ParsedAlert, parse_alert
from shared.domain.alerts.codec import signal_from_json, signal_to_json
from shared.domain.alerts.registry import TEXT_FORMATS
from shared.domain.errors import InvalidSignal
from shared.domain.signal import PriceSpec, QuantityUnit, Signal

CORPUS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "alerts" / "corpus.json").read_text("utf-8")
)["cases"]
RAWS = [case["raw"] for case in CORPUS]
ACCEPTED = [case for case in CORPUS if "signal" in case]
TEXT_NAMES = frozenset(f.name for f in TEXT_FORMATS)
JSON_SEEDS: list[dict[str, Any]] = [
    json.loads(case["raw"]) for case in ACCEPTED if case["format"] not in TEXT_NAMES
]
TEXT_SEEDS = [case["raw"] for case in ACCEPTED if case["format"] in TEXT_NAMES]

BOUND_S = 0.5  # per body, generous for a busy CI machine
# to_decimal refuses numbers of 1e16 and more; no contract quantity can reach it.
QUANTITY_CEILING = Decimal(10) ** 16
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- the invariant -----------------------------------------------------------------------------


def check_body(text: str) -> None:
    """Parse ``text`` and check whatever comes out; any other exception fails the test."""
    started = time.perf_counter()
    try:
        parsed = parse_alert(text)
    except InvalidSignal as exc:
        error: InvalidSignal | None = exc
    else:
        error = None
    elapsed_s = time.perf_counter() - started
    if error is None:
        check_parsed(parsed)
    # A slow parse is timed again, so a busy machine's pause is not taken for slow code.
    assert min(elapsed_s, best_time_s(text) if elapsed_s >= BOUND_S else elapsed_s) < BOUND_S
    if error is not None:
        assert isinstance(error.code, str)
        assert error.code
        assert error.message
        # Both travel in the 400 body and the journal: they must encode.
        json.dumps(error.to_dict(), ensure_ascii=False).encode("utf-8")


def best_time_s(text: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        with contextlib.suppress(InvalidSignal):
            parse_alert(text)
        best = min(best, time.perf_counter() - started)
    return best


def check_parsed(parsed: ParsedAlert) -> None:
    signal = parsed.signal
    assert parsed.format in FORMAT_NAMES
    check_quantity(signal)
    for name in ("limit_price", "stop_price", "signal_price"):
        check_positive(getattr(signal, name))
    for spec in _specs(signal):
        check_positive(spec.value)
    for moment in (signal.tv_time, signal.bar_time):
        if moment is not None:
            assert moment.utcoffset() is not None
            assert EARLIEST <= moment < LATEST
    text = signal_to_json(signal)
    text.encode("utf-8")
    (parsed.secret or "").encode("utf-8")
    assert signal_from_json(text) == signal


def check_quantity(signal: Signal) -> None:
    if signal.quantity is None:
        return
    check_positive(signal.quantity)
    if signal.quantity_unit is QuantityUnit.CONTRACTS:
        assert signal.quantity == signal.quantity.to_integral_value()
        assert signal.quantity < QUANTITY_CEILING


def check_positive(value: Decimal | None) -> None:
    if value is None:
        return
    assert isinstance(value, Decimal)
    assert value.is_finite()
    assert value > 0


def _specs(signal: Signal) -> list[PriceSpec]:
    specs = [signal.trail] if signal.trail is not None else []
    for leg in signal.brackets:
        specs += [s for s in (leg.take_profit, leg.stop_loss, leg.stop_limit) if s is not None]
        if leg.trailing_stop is not None:
            trail = leg.trailing_stop
            specs += [s for s in (trail.distance, trail.trigger, trail.step) if s is not None]
        if leg.breakeven is not None:
            specs += [s for s in (leg.breakeven.trigger, leg.breakeven.offset) if s is not None]
    return specs


# --- strategies --------------------------------------------------------------------------------

# Every code point, lone surrogates and control characters included.
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char, max_size=40)
HOSTILE_WORDS = [
    "{{", "}}", "{{ticker}}", "{{{{", "\ud800", "\udfff", "\x00", "\x1b", "\x85", "\u212a",
    "\uff11", "\u0661", "\xb2", "\u3000", "\ufeff", ";", "=", "\n", "\r", "#", "//", "0", "-0",
    "1e3", "9999", "1e30", "NaN", "Infinity", "1,000", "1,5", "+5 ticks", "-5 ticks", "5%",
    "$20", "25 t", "buy", "sell", "flat", "long", "short", "exit", "NQ1!", "ESZ2025", "gtd",
    "2025-03-14T14:30:05Z", "1710000000", "1710000000000", "true", "false", " ", "",
]  # fmt: skip
KNOWN_KEYS = sorted(
    {key for seed in JSON_SEEDS for key in seed}
    | {"time", "date", "bar_time", "alert_id", "id", "qty", "price", "extras", "brackets"}
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from(HOSTILE_WORDS),
    any_text,
    st.lists(st.sampled_from(HOSTILE_WORDS), max_size=4).map("".join),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), any_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)


def dumps(value: Any, ensure_ascii: bool) -> str:
    # Decimal is not JSON-serialisable; written as its text it is a JSON number.
    return json.dumps(value, ensure_ascii=ensure_ascii, default=str)


# --- the tests ---------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=400))
def test_parse_alert_with_arbitrary_bytes_returns_or_refuses_with_a_code(data: bytes) -> None:
    check_body(data.decode("utf-8", errors="replace"))  # as the webhook decodes


@FUZZ
@given(st.text(any_char, max_size=300))
def test_parse_alert_with_arbitrary_text_returns_or_refuses_with_a_code(text: str) -> None:
    check_body(text)


@FUZZ
@given(
    st.dictionaries(keys, json_values, max_size=12),
    st.sampled_from(JSON_SEEDS),
    st.booleans(),
)
def test_parse_alert_with_arbitrary_json_over_a_real_alert_returns_or_refuses_with_a_code(
    extra: dict[str, Any], seed: dict[str, Any], ensure_ascii: bool
) -> None:
    check_body(dumps({**seed, **extra}, ensure_ascii))


@FUZZ
@given(json_values, st.booleans())
def test_parse_alert_with_arbitrary_json_value_returns_or_refuses_with_a_code(
    value: Any, ensure_ascii: bool
) -> None:
    check_body(dumps(value, ensure_ascii))


@FUZZ
@given(st.sampled_from(JSON_SEEDS), st.data())
def test_parse_alert_with_one_field_of_a_real_alert_replaced_returns_or_refuses_with_a_code(
    seed: dict[str, Any], data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(sorted(seed)))
    value = data.draw(json_values)
    check_body(dumps({**seed, key: value}, data.draw(st.booleans())))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """Apply a few byte-level edits to a real alert: insert, delete, repeat, truncate."""
    text: str = draw(st.sampled_from(RAWS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "repeat", "truncate", "replace"]))
        if edit == "insert":
            text = text[:at] + draw(st.sampled_from(HOSTILE_WORDS) | any_text) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif edit == "repeat":
            piece = text[at : at + draw(st.integers(1, 12))]
            text = text[:at] + piece * draw(st.integers(2, 50)) + text[at:]
        elif edit == "truncate":
            text = text[:at]
        else:
            text = text[:at] + draw(any_char) + text[at + 1 :]
    return text


@FUZZ
@given(mutated())
def test_parse_alert_with_mutated_real_alert_returns_or_refuses_with_a_code(text: str) -> None:
    check_body(text)


@FUZZ
@given(st.sampled_from(RAWS), st.data())
def test_parse_alert_with_truncated_real_alert_returns_or_refuses_with_a_code(
    raw: str, data: st.DataObject
) -> None:
    check_body(raw[: data.draw(st.integers(0, len(raw)))])


PIECES = ["{{", "{{a}}", "=", ";", '"a":', "[", '{"a":', "\\", '"', "\ud800", "\\ud800"]
SEPARATORS = [";", "=", "\n", "\r", "\r\n", ";;", "==", "#", "//", " ; ", "=;", "\x00", "\x85"]


@FUZZ
@given(st.sampled_from(TEXT_SEEDS), st.data())
def test_parse_alert_with_separators_injected_into_text_alert_returns_or_refuses_with_a_code(
    raw: str, data: st.DataObject
) -> None:
    # Inside a value, a key, or right at a boundary: wherever an edit lands.
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        raw = raw[:at] + data.draw(st.sampled_from(SEPARATORS)) + raw[at:]
    check_body(raw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["", "{", '{"a":"', "a=", "command=PLACE;instrument=", '{"intent":"buy","x":'])
    | st.sampled_from(RAWS),
    st.sampled_from(PIECES),
    st.sampled_from(["", '"}', "}", "]}", "\n"]),
)
@example("a=", "{{", "")  # each was 13-19 s at 64 KB before the scan was made linear
@example('{"a":"', "{{", '"}')
@example("{", '"a":', ",{{")
def test_parse_alert_with_a_piece_repeated_to_the_body_limit_finishes_fast(
    prefix: str, piece: str, suffix: str
) -> None:
    room = MAX_BODY_CHARS - len(prefix) - len(suffix)
    check_body(prefix + piece * (room // len(piece)) + suffix)
