"""Hostile text against every reader: slow bodies, unsafe characters, hidden sizes, odd times.

The readers are taken from the registry and each is seeded with its first accepted alert from
tests/fixtures/alerts/corpus.json, so a new reader (with its corpus case) is covered here
without editing this file. Every refusal must be an ``InvalidSignal`` with a code.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.domain.alerts import FORMAT_NAMES, MAX_BODY_CHARS, ParsedAlert, parse_alert
from shared.domain.alerts.codec import signal_from_json, signal_to_json
from shared.domain.alerts.coerce import check_plausible_time, is_plausible_time, to_datetime
from shared.domain.alerts.fields import SECRET_FIELDS
from shared.domain.alerts.registry import TEXT_FORMATS
from shared.domain.errors import InvalidSignal

CORPUS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "alerts" / "corpus.json").read_text("utf-8")
)["cases"]
TEXT_NAMES = frozenset(f.name for f in TEXT_FORMATS)
DEFAULT_BODY_CHARS = 64 * 1024  # WEBHOOK_MAX_BODY_BYTES' default
# Generous for a busy CI machine; the bodies below take about a millisecond on a quiet one.
BOUND_S = 0.5


@dataclass(frozen=True)
class Seed:
    """One reader's accepted corpus alert, rewritten field by field."""

    format: str
    raw: str

    @property
    def is_text(self) -> bool:
        return self.format in TEXT_NAMES

    @property
    def separator(self) -> str:
        return ";" if ";" in self.raw else "\n"

    def fields(self) -> dict[str, Any]:
        if not self.is_text:
            loaded: dict[str, Any] = json.loads(self.raw)
            return loaded
        pairs = (part.partition("=") for part in re.split(r"[;\n]", self.raw))
        return {k.strip(): v.strip() for k, eq, v in pairs if eq and not k.startswith("#")}

    def key_named(self, *names: str) -> str | None:
        """Return the seed's own spelling of the first of ``names`` it has (any case)."""
        for key in self.fields():
            if key.lower() in names:
                return key
        return None

    def with_fields(self, **changes: Any) -> str:
        """Return the alert with fields set (``None`` removes one); JSON escapes as an attacker."""
        data = self.fields()
        for name, value in changes.items():
            for key in [k for k in data if k.lower() == name.lower()]:
                del data[key]
            if value is not None:
                data[name] = value
        if not self.is_text:
            return json.dumps(data)
        return self.separator.join(f"{k}={v}" for k, v in data.items())

    def with_raw_pair(self, key: str, value: str) -> str:
        """Append one more field without replacing anything (a duplicate, for example)."""
        if self.is_text:
            return f"{self.raw.rstrip(';')}{self.separator}{key}={value}"
        return f"{self.raw.rstrip()[:-1]}, {json.dumps(key)}: {json.dumps(value)}}}"


def _first_accepted(name: str) -> Seed | None:
    for case in CORPUS:
        if case.get("format") == name and "signal" in case:
            return Seed(name, case["raw"])
    return None


SEEDS = {name: seed for name in FORMAT_NAMES if (seed := _first_accepted(name)) is not None}
READERS = sorted(SEEDS)


def outcome(text: str) -> ParsedAlert | InvalidSignal:
    """Parse, returning the refusal instead of raising it; nothing else may escape."""
    result: ParsedAlert | InvalidSignal
    try:
        result = parse_alert(text)
    except InvalidSignal as exc:
        result = exc
    if isinstance(result, InvalidSignal):
        assert result.code
        assert result.message
    return result


def refusal(text: str) -> InvalidSignal:
    result = outcome(text)
    assert isinstance(result, InvalidSignal), f"accepted: {result}"
    return result


def accepted(text: str) -> ParsedAlert:
    result = outcome(text)
    assert isinstance(result, ParsedAlert), f"refused: {result.code} {result.message}"
    return result


def best_time_s(text: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        outcome(text)
        best = min(best, time.perf_counter() - started)
    return best


def first_text_field(seed: Seed) -> str:
    """Name the seed's first string field that is not its secret."""
    return next(
        key
        for key, value in seed.fields().items()
        if isinstance(value, str) and key.lower() not in SECRET_FIELDS
    )


def test_seeds_with_registry_cover_every_reader() -> None:
    assert set(SEEDS) == set(FORMAT_NAMES)
    for seed in SEEDS.values():
        assert accepted(seed.raw).format == seed.format


# --- 1. time: no body costs more than linear time, before the secret is checked -----------


def _flood(seed: Seed, unit: str, chars: int = DEFAULT_BODY_CHARS) -> str:
    written = len(unit) if seed.is_text else len(json.dumps(unit)) - 2  # JSON escapes some
    room = chars - len(seed.raw) - 16
    return seed.with_fields(note=unit * (room // written))


FLOOD_UNITS = ["{{", "{{a}}", "{{{{}}}}", "}}{{", "=", ";", "\n", "=;", "{", '"', "\\", "\ud800"]


@pytest.mark.parametrize("unit", FLOOD_UNITS, ids=repr)
@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_flooded_value_in_each_reader_finishes_fast(
    reader: str, unit: str
) -> None:
    body = _flood(SEEDS[reader], unit)
    assert len(body) <= DEFAULT_BODY_CHARS
    assert best_time_s(body) < BOUND_S


@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_flooded_symbol_in_each_reader_finishes_fast(reader: str) -> None:
    seed = SEEDS[reader]
    body = seed.with_fields(**{first_text_field(seed): "{{" * (DEFAULT_BODY_CHARS // 2 - 512)})
    assert best_time_s(body) < BOUND_S


def _pad(prefix: str, unit: str, suffix: str, chars: int) -> str:
    return prefix + unit * ((chars - len(prefix) - len(suffix)) // len(unit)) + suffix


NATIVE = '{"intent":"buy","symbol":"NQ1!",'
# Whole bodies built to be slow. Each was quadratic or worse before (13-19 s at 64 KB for the
# "{{" floods, 1.3 s for the broken-JSON key search) or recursed once per bracket.
BODY_SHAPES: dict[str, Callable[[int], str]] = {
    "json_string_of_open_braces": lambda n: _pad('{"a":"', "{{", '"}', n),
    "text_value_of_open_braces": lambda n: _pad("key=", "{{", "", n),
    "crosstrade_value_of_open_braces": lambda n: _pad("command=PLACE;instrument=", "{{", "", n),
    "unquoted_placeholder_after_many_keys": lambda n: _pad("{", '"a":', ",{{", n),
    "unquoted_placeholder_after_many_colons": lambda n: _pad('{"a"', ":", "{{", n),
    "unquoted_placeholder_after_many_strings": lambda n: _pad('{"a":1,', '"",', "{{", n),
    "nested_placeholder_braces": lambda n: "{{" * (n // 4) + "}}" * (n // 4),
    "many_placeholders_in_json": lambda n: _pad('{"a":"', "{{a}}", '"}', n),
    "many_placeholders_in_text": lambda n: _pad("a=", "{{a}}", "", n),
    "line_of_equals": lambda n: _pad("a", "=", "", n),
    "line_of_semicolons": lambda n: _pad("a=b", ";", "", n),
    "pairs_of_nothing": lambda n: _pad("", "=;", "", n),
    "deep_lists": lambda n: "[" * (n // 2) + "]" * (n // 2),
    "deep_objects": lambda n: _pad("", '{"a":', "", n),
    "deep_objects_closed": lambda n: '{"a":' * (n // 6) + "1" + "}" * (n // 6),
    "unterminated_escaped_quotes": lambda n: _pad('{"a":"', '\\"', "", n),
    "long_key_over_long_list":
        lambda n: '{"' + "k" * (n // 2) + '":[' + "1," * (n // 4 - 4) + "1]}",
    "wide_object": lambda n: _pad("{", '"k":1,', '"z":1}', n),
    "grouped_number": lambda n: _pad(NATIVE + '"quantity":"1', ",000", '"}', n),
    "spaces_around_a_level": lambda n: _pad(NATIVE + '"take_profit":"', " ", '1"}', n),
    "long_number": lambda n: _pad(NATIVE + '"quantity":', "1", "}", n),
    "spaces_around_a_time": lambda n: _pad(NATIVE + '"time":"', " ", '0"}', n),
    "positions_of_slashes": lambda n: _pad("command=PLACE;require_market_position=", "/", "", n),
    "lone_surrogate_escapes":
        lambda n: _pad('{"secret":"', "\\ud800", '","intent":"buy","symbol":"NQ1!"}', n),
    "nul_escapes": lambda n: _pad(NATIVE + '"strategy":"', "\\u0000", '"}', n),
}  # fmt: skip


@pytest.mark.parametrize("chars", [DEFAULT_BODY_CHARS, MAX_BODY_CHARS], ids=["64k", "max"])
@pytest.mark.parametrize("shape", sorted(BODY_SHAPES))
def test_parse_alert_with_body_built_to_be_slow_finishes_fast(shape: str, chars: int) -> None:
    body = BODY_SHAPES[shape](chars)
    assert len(body) <= chars
    assert best_time_s(body) < BOUND_S


# The shapes whose cost grew with the square of the body: each "{{" rescanned the rest of the
# text, each key of a broken body restarted the search for the field's name.
WERE_QUADRATIC = [
    "json_string_of_open_braces",
    "text_value_of_open_braces",
    "crosstrade_value_of_open_braces",
    "many_placeholders_in_json",
    "many_placeholders_in_text",
    "nested_placeholder_braces",
    "unquoted_placeholder_after_many_keys",
    "unquoted_placeholder_after_many_colons",
    "unquoted_placeholder_after_many_strings",
    "line_of_equals",
    "pairs_of_nothing",
]


@pytest.mark.parametrize("shape", WERE_QUADRATIC)
def test_parse_alert_with_four_times_the_body_takes_less_than_eight_times_longer(
    shape: str,
) -> None:
    # Linear work grows 4x from 16 KB to 64 KB, quadratic 16x. The 1 ms floor absorbs timer
    # noise on bodies that take well under a millisecond. (Shapes that build many objects,
    # such as long lists, grow a little faster than 4x from cache effects alone, so they are
    # held to the absolute bound above instead.)
    small = best_time_s(BODY_SHAPES[shape](16 * 1024), repeat=5)
    large = best_time_s(BODY_SHAPES[shape](64 * 1024), repeat=5)
    assert large < 8 * max(small, 0.001)


@pytest.mark.parametrize("depth", [MAX_BODY_CHARS // 7, 1_000, 9])
@pytest.mark.parametrize("reader", sorted(set(READERS) - TEXT_NAMES))
def test_parse_alert_with_deep_json_in_each_reader_raises_too_deep(reader: str, depth: int) -> None:
    seed = SEEDS[reader]
    nested = '{"a":' * depth + "1" + "}" * depth
    body = seed.raw.rstrip()[:-1] + ', "note": ' + nested + "}"
    assert refusal(body).code == "too_deep"


def test_parse_alert_with_brackets_inside_strings_does_not_count_them_as_depth() -> None:
    parsed = accepted(SEEDS["simple_json"].with_fields(comment="[[[[[[[[[[{{{{{{{{{{"))
    assert parsed.extras["comment"] == "[[[[[[[[[[{{{{{{{{{{"


# --- 2. unsafe text: surrogates, control characters ------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_lone_surrogate_secret_in_each_reader_yields_a_secret_that_never_matches(
    reader: str,
) -> None:
    seed = SEEDS[reader]
    name = seed.key_named(*SECRET_FIELDS) or "secret"
    parsed = accepted(seed.with_fields(**{name: "\ud800"}))
    assert parsed.secret == "\ufffd"
    assert parsed.secret is not None
    assert not hmac.compare_digest(parsed.secret.encode("utf-8"), b"test-secret-1")


@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_lone_surrogate_in_any_value_of_each_reader_never_fails_to_encode(
    reader: str,
) -> None:
    seed = SEEDS[reader]
    for key, value in seed.fields().items():
        if not isinstance(value, str):
            continue
        for surrogate in ("\ud800", "\udfff", "\udbff\ud800"):
            result = outcome(seed.with_fields(**{key: value + surrogate}))
            if isinstance(result, ParsedAlert):
                signal_to_json(result.signal).encode("utf-8")
                assert signal_from_json(signal_to_json(result.signal)) == result.signal
                (result.secret or "").encode("utf-8")
            else:
                result.message.encode("utf-8")
                (result.field or "").encode("utf-8")


@pytest.mark.parametrize(("reader", "key"), [("native", "alert_id"), ("native_text", "alert_id")])
def test_parse_alert_with_lone_surrogate_alert_id_yields_an_encodable_id(
    reader: str, key: str
) -> None:
    parsed = accepted(SEEDS[reader].with_fields(**{key: "nq\ud80042"}))
    assert parsed.signal.alert_id == "nq\ufffd42"
    assert parsed.signal.alert_id.encode("utf-8")


def test_parse_alert_with_lone_surrogate_rate_group_id_yields_an_encodable_name() -> None:
    parsed = accepted(SEEDS["crosstrade"].with_fields(id="nq\ud80042", rate_limit="1/30"))
    assert parsed.rate_group is not None
    assert parsed.rate_group.name == "nq\ufffd42"
    assert parsed.rate_group.name.encode("utf-8")


@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_keys_equal_after_surrogate_repair_raises_duplicate_field(
    reader: str,
) -> None:
    body = Seed(reader, SEEDS[reader].with_raw_pair("note\ud800", "1"))
    error = refusal(body.with_raw_pair("note\udc00", "2"))
    assert (error.code, error.field) == ("duplicate_field", "note\ufffd")


CONTROLS = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"]


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_control_character_in_a_value_of_each_reader_raises_control_character(
    reader: str, char: str, where: str
) -> None:
    seed = SEEDS[reader]
    key = first_text_field(seed)
    value = str(seed.fields()[key])
    placed = {"start": char + value, "middle": value[:1] + char + value[1:], "end": value + char}
    error = refusal(seed.with_fields(**{key: placed[where]}))
    shown = key.lower() if seed.is_text else key
    assert (error.code, error.field) == ("control_character", shown)


@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_control_character_in_a_key_of_each_reader_raises_control_character(
    reader: str,
) -> None:
    error = refusal(SEEDS[reader].with_raw_pair("no\x00te", "1"))
    assert (error.code, error.field) == ("control_character", "no\\u0000te")


@pytest.mark.parametrize("reader", sorted(set(READERS) - TEXT_NAMES))
def test_parse_alert_with_tab_and_newline_escapes_in_json_values_keeps_them(reader: str) -> None:
    parsed = outcome(SEEDS[reader].with_fields(note="line one\n\tline two"))
    assert not (isinstance(parsed, InvalidSignal) and parsed.code == "control_character")


def test_parse_alert_with_raw_nul_at_the_end_of_a_text_body_raises_control_character() -> None:
    error = refusal("intent=buy\nsymbol=NQ1!\x00")
    assert (error.code, error.field) == ("control_character", "symbol")


def test_parse_alert_with_unicode_spaces_around_text_values_strips_them() -> None:
    parsed = accepted("intent=buy\u3000\nsymbol=\xa0NQ1!\nquantity=1\u2003")
    assert (parsed.signal.symbol.root, parsed.signal.quantity) == ("NQ", Decimal(1))


def test_parse_alert_with_control_character_field_name_echoes_it_escaped() -> None:
    error = refusal(json.dumps({"intent": "buy", "symbol": "NQ1!", "x" * 200 + "\x1b[2J": 1}))
    assert error.field is not None
    assert "\x1b" not in error.field
    assert len(error.field) <= 80


# --- 3. Unicode digits: numbers are ASCII ----------------------------------------------------


def _digits(zero: int) -> dict[int, int]:
    return str.maketrans("0123456789", "".join(chr(zero + d) for d in range(10)))


def fullwidth(text: str) -> str:
    """Write ASCII text in fullwidth forms (U+FF01-FF5E), as an East Asian keyboard may."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


FOREIGN_DIGITS: dict[str, dict[int, int]] = {
    "fullwidth": _digits(0xFF10),
    "arabic_indic": _digits(0x0660),
    "devanagari": _digits(0x0966),
    "superscript": str.maketrans(
        "0123456789", "\u2070\xb9\xb2\xb3\u2074\u2075\u2076\u2077\u2078\u2079"
    ),
}
_NUMBER = re.compile(r"[+-]?[0-9][0-9.]*")


def _numeric_fields(seed: Seed) -> list[str]:
    """Name the seed's top-level fields the reader takes as numbers (not extras, not text)."""
    extras = accepted(seed.raw).extras
    return [
        key
        for key, value in seed.fields().items()
        if not isinstance(value, bool)
        and isinstance(value, int | float | str)
        and _NUMBER.fullmatch(str(value))
        and key not in extras
        and key.lower() not in ("id", "alert_id", "account", "account_id", "strategy")
    ]


NUMERIC_CASES = [(reader, key) for reader in READERS for key in _numeric_fields(SEEDS[reader])]


def test_numeric_cases_with_every_reader_cover_each_reader_with_numbers() -> None:
    assert {reader for reader, _ in NUMERIC_CASES} == set(READERS)


@pytest.mark.parametrize("digits", sorted(FOREIGN_DIGITS))
@pytest.mark.parametrize(("reader", "key"), NUMERIC_CASES)
def test_parse_alert_with_non_ascii_digits_in_a_number_of_each_reader_raises_a_number_code(
    reader: str, key: str, digits: str
) -> None:
    seed = SEEDS[reader]
    written = str(seed.fields()[key]).translate(FOREIGN_DIGITS[digits])
    error = refusal(seed.with_fields(**{key: written}))
    # PickMyTrade's "trail": "0" is a flag, read as a boolean.
    assert error.code in ("invalid_number", "invalid_boolean")
    assert error.field in (key, key.lower(), "quantity")


@pytest.mark.parametrize("digits", sorted(FOREIGN_DIGITS))
@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_non_ascii_digits_in_the_symbol_of_each_reader_raises_invalid_symbol(
    reader: str, digits: str
) -> None:
    seed = SEEDS[reader]
    key = seed.key_named("symbol", "ticker", "instrument")
    assert key is not None
    written = "NQZ2025".translate(FOREIGN_DIGITS[digits])
    error = refusal(seed.with_fields(**{key: written}))
    assert error.code == "invalid_symbol"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (fullwidth("1"), "invalid_boolean"),
        (fullwidth("true"), "invalid_boolean"),
        (fullwidth("buy"), "invalid_choice"),
    ],
)
def test_parse_alert_with_fullwidth_words_raises_their_code(value: str, code: str) -> None:
    field = "flatten_first" if code == "invalid_boolean" else "intent"
    assert refusal(SEEDS["native"].with_fields(**{field: value})).code == code


def test_parse_alert_with_kelvin_sign_in_a_unit_word_raises_invalid_level() -> None:
    error = refusal(SEEDS["crosstrade"].with_fields(take_profit="25 tic\u212as"))
    assert (error.code, error.field) == ("invalid_level", "take_profit")


# --- 4. keys: a repeated or aliased field never silently picks one ---------------------------


@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_every_key_given_twice_in_each_reader_raises_duplicate_field(
    reader: str,
) -> None:
    seed = SEEDS[reader]
    for key in seed.fields():
        again = key.upper() if seed.is_text else key
        error = refusal(seed.with_raw_pair(again, "100"))
        shown = key.lower() if seed.is_text else key
        assert (error.code, error.field) == ("duplicate_field", shown), key


ALIAS_CONFLICTS = [
    ("simple_json", {"quantity": 1, "qty": 100}, "qty"),
    ("native", {"signal_price": "19000", "price": "19500"}, "price"),
    ("traderspost", {"signalPrice": 19000, "price": 19500}, "price"),
    ("crosstrade", {"qty": "1", "quantity": "100"}, "quantity"),
    ("crosstrade", {"stop_loss": "-10 ticks", "stop_loss_stop": "-90 ticks"}, "stop_loss_stop"),
    ("native_text", {"qty": "1", "quantity": "100"}, "quantity"),
]


@pytest.mark.parametrize(("reader", "fields", "field"), ALIAS_CONFLICTS)
def test_parse_alert_with_aliases_of_different_values_raises_duplicate_field(
    reader: str, fields: dict[str, Any], field: str
) -> None:
    seed = SEEDS[reader]
    cleared = Seed(reader, seed.with_fields(**{name: None for name in fields}))
    error = refusal(cleared.with_fields(**fields))
    assert (error.code, error.field) == ("duplicate_field", field)


def test_parse_alert_with_aliases_of_equal_values_reads_the_value() -> None:
    parsed = accepted(json.dumps({"symbol": "ES1!", "side": "buy", "quantity": 2, "qty": 2}))
    assert parsed.signal.quantity == Decimal(2)


def test_parse_alert_with_json_key_hidden_by_an_escape_raises_duplicate_field() -> None:
    raw = '{"symbol": "ES1!", "side": "buy", "quantity": 1, "quantit\\u0079": 100}'
    assert refusal(raw).code == "duplicate_field"


# --- 5. time: one plausibility rule at the webhook and in the executor -----------------------


def _time_fields(seed: Seed) -> list[str]:
    """Find the fields this reader reads as the alert's time, by trying the usual names."""
    found = []
    for name in ("time", "date", "bar_time", "timestamp", "timenow"):
        result = outcome(seed.with_fields(**{name: "2025-03-14T14:30:05Z"}))
        signal = result.signal if isinstance(result, ParsedAlert) else None
        if signal is not None and datetime(2025, 3, 14, 14, 30, 5, tzinfo=UTC) in (
            signal.tv_time,
            signal.bar_time,
        ):
            found.append(name)
    return found


TIME_CASES = [(reader, key) for reader in READERS for key in _time_fields(SEEDS[reader])]
T = datetime(2024, 3, 9, 16, 0, tzinfo=UTC)  # 1710000000 s
PI_DAY = datetime(2025, 3, 14, 14, 30, 5, tzinfo=UTC)

TIMES: list[tuple[str, Any, datetime | str]] = [
    # epoch numbers: seconds below 1e11, milliseconds from 1e11
    ("zero", 0, "implausible_time"),
    ("zero_text", "0", "implausible_time"),
    ("negative_zero", Decimal("-0"), "implausible_time"),
    ("negative_zero_text", "-0", "implausible_time"),
    ("minus_one", -1, "implausible_time"),
    ("small_seconds", "9999", "implausible_time"),
    ("exponent_seconds_1970", "1e3", "implausible_time"),
    ("seconds", 1710000000, T),
    ("seconds_text_with_spaces", "  1710000000  ", T),
    ("seconds_with_fraction", "1710000000.5", T.replace(microsecond=500000)),
    ("seconds_in_exponent", "1.71e9", T),
    ("milliseconds", 1710000000000, T),
    ("milliseconds_text", "1710000000000", T),
    ("milliseconds_in_exponent", "1.71E12", T),
    ("negative_milliseconds", "-1710000000000", "implausible_time"),
    ("seconds_past_2100", "4102444800", "implausible_time"),
    ("seconds_year_5138", "99999999999", "implausible_time"),
    ("milliseconds_1973", "100000000000", "implausible_time"),
    ("milliseconds_far_future", "1e15", "implausible_time"),
    ("number_beyond_range", "1e30", "number_out_of_range"),
    ("fullwidth_seconds", fullwidth("1710000000"), "invalid_time"),
    ("arabic_indic_seconds", "1710000000".translate(FOREIGN_DIGITS["arabic_indic"]),
     "invalid_time"),
    # ISO-8601
    ("iso_utc", "2025-03-14T14:30:05Z", PI_DAY),
    ("iso_without_offset_is_utc", "2025-03-14T14:30:05", PI_DAY),
    ("iso_with_offset", "2025-03-14T16:30:05+02:00", PI_DAY),
    ("iso_with_spaces", " 2025-03-14T14:30:05Z ", PI_DAY),
    ("iso_with_nanoseconds", "2025-03-14T14:30:05.000000001Z", PI_DAY),
    ("iso_date_only", "2025-03-14", datetime(2025, 3, 14, tzinfo=UTC)),
    ("iso_first_plausible", "2000-01-01T00:00:00Z", datetime(2000, 1, 1, tzinfo=UTC)),
    ("iso_last_plausible", "2099-12-31T23:59:59Z", datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("iso_offset_moves_into_2000", "1999-12-31T23:00:00-01:00", datetime(2000, 1, 1, tzinfo=UTC)),
    ("iso_offset_moves_out_of_2000", "2000-01-01T00:30:00+01:00", "implausible_time"),
    ("iso_1999", "1999-12-31T23:59:59Z", "implausible_time"),
    ("iso_epoch", "1970-01-01T00:00:00Z", "implausible_time"),
    ("iso_2100", "2100-01-01T00:00:00Z", "implausible_time"),
    ("iso_year_one_with_offset", "0001-01-01T00:00:00+05:00", "implausible_time"),
    ("iso_year_9999_with_offset", "9999-12-31T23:59:59-05:00", "implausible_time"),
    ("iso_fullwidth_year", fullwidth("2025") + "-03-14T14:30:05Z", "invalid_time"),
    ("iso_month_13", "2025-13-01T00:00:00Z", "invalid_time"),
    ("words", "yesterday", "invalid_time"),
    ("too_long", "2025-03-14T14:30:05Z" + " x" * 40, "invalid_time"),
]  # fmt: skip


def test_time_cases_with_registry_find_every_reader_that_reads_a_time() -> None:
    assert {reader for reader, _ in TIME_CASES} == {
        "native",
        "native_text",
        "pickmytrade",
        "simple_json",
        "traderspost",
        "webhook_type",
    }


@pytest.mark.parametrize(
    ("value", "expected"), [case[1:] for case in TIMES], ids=[case[0] for case in TIMES]
)
@pytest.mark.parametrize(("reader", "key"), TIME_CASES)
def test_parse_alert_with_time_in_each_reader_applies_the_plausibility_rule(
    reader: str, key: str, value: Any, expected: datetime | str
) -> None:
    seed = SEEDS[reader]
    if seed.is_text:
        body = seed.with_fields(**{key: str(value)})
    elif isinstance(value, Decimal):  # a JSON number json.dumps cannot write, like -0
        body = seed.with_fields(**{key: "<number>"}).replace('"<number>"', str(value))
    else:
        body = seed.with_fields(**{key: value})
    result = outcome(body)
    if isinstance(expected, str):
        assert isinstance(result, InvalidSignal), f"accepted {value!r}"
        assert (result.code, result.field) == (expected, key)
        return
    assert isinstance(result, ParsedAlert), f"{result.code}: {result.message}"
    moment = result.signal.tv_time if key != "bar_time" else result.signal.bar_time
    assert moment == expected
    assert moment is not None
    assert moment.utcoffset() is not None
    # The executor reads the queued signal back through the same rule: it must agree.
    assert signal_from_json(signal_to_json(result.signal)) == result.signal


def test_parse_alert_with_json_negative_zero_time_raises_implausible_time() -> None:
    error = refusal('{"intent": "buy", "symbol": "NQ1!", "time": -0}')
    assert (error.code, error.field) == ("implausible_time", "time")


@pytest.mark.parametrize("value", ["", "   "])
def test_parse_alert_with_blank_time_treats_it_as_not_given(value: str) -> None:
    assert accepted(SEEDS["native"].with_fields(time=value)).signal.tv_time is None


def test_signal_from_json_with_implausible_queued_time_raises_the_webhook_code() -> None:
    parsed = accepted(SEEDS["native"].raw)
    message = json.loads(signal_to_json(parsed.signal))
    message["signal"]["tv_time"] = "1970-01-01T00:00:00+00:00"
    with pytest.raises(InvalidSignal) as info:
        signal_from_json(json.dumps(message))
    assert (info.value.code, info.value.field) == ("implausible_time", "signal.tv_time")


@pytest.mark.parametrize(
    ("moment", "plausible"),
    [
        (datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), False),
        (datetime(2000, 1, 1, tzinfo=UTC), True),
        (datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), True),
        (datetime(2100, 1, 1, tzinfo=UTC), False),
    ],
)
def test_is_plausible_time_with_bounds_accepts_2000_up_to_2100(
    moment: datetime, plausible: bool
) -> None:
    assert is_plausible_time(moment) is plausible
    if plausible:
        assert check_plausible_time(moment, "time") == moment
        assert to_datetime(moment.isoformat(), "time") == moment
    else:
        with pytest.raises(InvalidSignal) as info:
            check_plausible_time(moment, "time")
        assert info.value.code == "implausible_time"
        assert "2000" in info.value.message


@pytest.mark.parametrize("reader", READERS)
def test_parse_alert_with_huge_unknown_key_in_each_reader_echoes_a_bounded_field(
    reader: str,
) -> None:
    seed = SEEDS[reader]
    key = "k" * 100_000 + ("" if seed.is_text else ".x")
    result = outcome(seed.with_raw_pair(key, "{{x}}"))
    assert isinstance(result, InvalidSignal)
    assert len(result.field or "") <= 80
    assert len(result.message) <= 400
