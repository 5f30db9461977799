"""Symbol forms traders write, Tradovate contract names, and the helpers a contract map needs."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.errors import InvalidSignal
from shared.domain.symbols import (
    MONTH_CODES,
    SymbolRef,
    contract_name_from_expiration_month,
    month_code,
    month_from_code,
    parse_symbol,
    resolve_year_digit,
    tradovate_contract_name,
)

# text, root, continuous, month, year, year_digit, exchange, tradovate name
FORMS = [
    ("NQ1!", "NQ", 1, None, None, None, None, None),
    ("NQ2!", "NQ", 2, None, None, None, None, None),
    ("CME_MINI:NQ1!", "NQ", 1, None, None, None, "CME_MINI", None),
    ("NQZ2024", "NQ", None, 12, 2024, 4, None, "NQZ4"),
    ("NQZ24", "NQ", None, 12, 2024, 4, None, "NQZ4"),
    ("NQZ4", "NQ", None, 12, None, 4, None, "NQZ4"),
    ("NQ", "NQ", None, None, None, None, None, None),
    ("MNQ 06-25", "MNQ", None, 6, 2025, 5, None, "MNQM5"),
    ("ES1!", "ES", 1, None, None, None, None, None),
    ("MES1!", "MES", 1, None, None, None, None, None),
    ("CL1!", "CL", 1, None, None, None, None, None),
    ("GC1!", "GC", 1, None, None, None, None, None),
    ("MGC1!", "MGC", 1, None, None, None, None, None),
    ("CME_MINI:ESH2025", "ES", None, 3, 2025, 5, "CME_MINI", "ESH5"),
    ("MNQU2025", "MNQ", None, 9, 2025, 5, None, "MNQU5"),
    ("GCJ2025", "GC", None, 4, 2025, 5, None, "GCJ5"),
    ("ESM6", "ES", None, 6, None, 6, None, "ESM6"),
    ("ZNZ4", "ZN", None, 12, None, 4, None, "ZNZ4"),
    ("M2K1!", "M2K", 1, None, None, None, None, None),
    ("M2KH5", "M2K", None, 3, None, 5, None, "M2KH5"),
    ("6EZ6", "6E", None, 12, None, 6, None, "6EZ6"),
    ("6E", "6E", None, None, None, None, None, None),
    (" nq1! ", "NQ", 1, None, None, None, None, None),
    ("NYMEX_DL:CL1!", "CL", 1, None, None, None, "NYMEX_DL", None),
    ("ES 12-25", "ES", None, 12, 2025, 5, None, "ESZ5"),
]


@pytest.mark.parametrize(
    ("text", "root", "continuous", "month", "year", "digit", "exchange", "name"),
    FORMS,
    ids=[form[0].strip() for form in FORMS],
)
def test_parse_symbol_with_trader_form_normalises_to_root_and_contract(
    text: str,
    root: str,
    continuous: int | None,
    month: int | None,
    year: int | None,
    digit: int | None,
    exchange: str | None,
    name: str | None,
) -> None:
    ref = parse_symbol(text)
    assert (ref.root, ref.continuous, ref.month, ref.year, ref.year_digit, ref.exchange) == (
        root, continuous, month, year, digit, exchange,
    )  # fmt: skip
    assert ref.tradovate_name == name
    assert ref.is_continuous is (continuous is not None)
    assert ref.is_explicit is (month is not None)
    assert parse_symbol(ref.canonical) == ref


@pytest.mark.parametrize(
    "text",
    ["", "   ", "NQ!!", "NQ0!", "NQ 13-25", "NQZ1999", "NQZ20245", "123", "12Z4", "A B:NQ1!",
     "CME:", "TOOLONGROOT", "NQ-1", "X" * 41],
)  # fmt: skip
def test_parse_symbol_with_unreadable_text_raises_invalid_symbol(text: str) -> None:
    with pytest.raises(InvalidSignal) as info:
        parse_symbol(text)
    assert info.value.code == "invalid_symbol"
    assert info.value.field == "symbol"


def test_parse_symbol_with_separate_exchange_uses_it_unless_prefixed() -> None:
    assert parse_symbol("NQ1!", exchange="cme_mini").exchange == "CME_MINI"
    assert parse_symbol("NQ1!", exchange="  ").exchange is None
    assert parse_symbol("COMEX:GC1!", exchange="CME").exchange == "COMEX"


def test_symbol_ref_with_root_keeps_the_contract_choice() -> None:
    assert parse_symbol("NQ1!").with_root("mnq").canonical == "MNQ1!"
    assert parse_symbol("NQZ2025").with_root("MNQ").tradovate_name == "MNQZ5"
    assert str(parse_symbol("CME_MINI:NQ")) == "CME_MINI:NQ"


@pytest.mark.parametrize(
    ("digit", "reference", "year"),
    [
        (4, date(2025, 6, 1), 2024),
        (9, date(2025, 6, 1), 2029),
        (0, date(2025, 6, 1), 2030),
        (1, date(2025, 6, 1), 2021),
        (0, date(2029, 12, 1), 2030),
        (9, date(2031, 1, 1), 2029),
        (6, date(2026, 1, 1), 2026),
    ],
)
def test_resolve_year_digit_with_reference_picks_nearest_decade(
    digit: int, reference: date, year: int
) -> None:
    assert resolve_year_digit(digit, reference) == year


def test_full_year_with_each_form_uses_reference_only_for_one_digit() -> None:
    reference = date(2025, 6, 1)
    assert parse_symbol("NQZ4").full_year(reference) == 2024
    assert parse_symbol("NQZ2034").full_year(reference) == 2034
    assert parse_symbol("NQ1!").full_year(reference) is None


def test_month_helpers_with_codes_round_trip_and_reject_others() -> None:
    assert [month_code(m) for m in range(1, 13)] == list("FGHJKMNQUVXZ")
    assert all(month_from_code(code.lower()) == month for code, month in MONTH_CODES.items())
    with pytest.raises(ValueError, match="1-12"):
        month_code(13)
    with pytest.raises(ValueError, match="month code"):
        month_from_code("A")
    with pytest.raises(ValueError, match="0-9"):
        resolve_year_digit(10, date(2025, 1, 1))


def test_tradovate_contract_name_with_full_year_uses_last_digit() -> None:
    assert tradovate_contract_name("NQ", 12, 2026) == "NQZ6"
    assert tradovate_contract_name("MES", 3, 2030) == "MESH0"
    assert contract_name_from_expiration_month("CL", 202601) == "CLF6"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"root": "nq"},
        {"root": "NQ", "exchange": "cme mini"},
        {"root": "NQ", "continuous": 0},
        {"root": "NQ", "continuous": 1, "month": 12, "year_digit": 4},
        {"root": "NQ", "month": 12},
        {"root": "NQ", "month": 13, "year_digit": 4},
        {"root": "NQ", "month": 12, "year_digit": 10},
        {"root": "NQ", "month": 12, "year_digit": 4, "year": 2025},
        {"root": "NQ", "year": 2024, "year_digit": None},
    ],
)
def test_symbol_ref_with_inconsistent_parts_raises_invalid_symbol(
    kwargs: dict[str, object],
) -> None:
    with pytest.raises(InvalidSignal) as info:
        SymbolRef(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == "invalid_symbol"


roots = st.from_regex(r"[A-Z][A-Z0-9]{0,4}", fullmatch=True)
exchanges = st.none() | st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True)
continuous_refs = st.builds(SymbolRef, roots, continuous=st.integers(1, 9), exchange=exchanges)
explicit_refs = st.builds(
    lambda root, month, year, exchange, full: SymbolRef(
        root, month=month, year=year if full else None, year_digit=year % 10, exchange=exchange
    ),
    roots,
    st.integers(1, 12),
    st.integers(2000, 2099),
    exchanges,
    st.booleans(),
)
# A root ending in a month letter and a year (AF0) reads as a contract, by design.
plain_roots = roots.filter(lambda r: not re.search(r"[FGHJKMNQUVXZ](\d{1,2}|\d{4})$", r))
root_refs = st.builds(SymbolRef, plain_roots, exchange=exchanges)


@given(continuous_refs | explicit_refs | root_refs)
def test_parse_symbol_with_canonical_text_round_trips(ref: SymbolRef) -> None:
    assert parse_symbol(ref.canonical) == ref
    assert parse_symbol(ref.canonical.lower()).canonical == ref.canonical


@given(explicit_refs, st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_tradovate_name_with_resolved_year_matches_helper(ref: SymbolRef, today: date) -> None:
    year = ref.full_year(today)
    assert year is not None
    assert ref.month is not None
    assert tradovate_contract_name(ref.root, ref.month, year) == ref.tradovate_name
    if ref.year is None:
        assert -4 <= year - today.year <= 5
    else:
        assert year == ref.year
