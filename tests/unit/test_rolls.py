"""The roll policy: continuous chains, roll boundaries per family, overrides, symbol forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.errors import InvalidSignal
from shared.domain.rolls import (
    Listing,
    RollPolicy,
    chain,
    continuous_names,
    default_policy,
    parse_roll_overrides,
    policy_for,
    resolve_listing,
)
from shared.domain.symbols import parse_symbol

SECOND = timedelta(seconds=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Expirations as Tradovate and the simulator date them: equity index 16:29 CT on the third
# Friday (Tradovate's expirationDate, e.g. NQZ7 2017-12-15T22:29Z; CME stops trading at 08:30
# CT that morning), CL 13:30 CT three business days before the 25th of the month before.
ES = (
    Listing("ESZ6", 202612, at("2026-12-18T22:29")),  # CST = UTC-6
    Listing("ESH7", 202703, at("2027-03-19T21:29")),  # CDT = UTC-5
    Listing("ESM7", 202706, at("2027-06-18T21:29")),
)
CL = (
    Listing("CLZ6", 202612, at("2026-11-20T19:30")),
    Listing("CLF7", 202701, at("2026-12-22T19:30")),
    Listing("CLG7", 202702, at("2027-01-20T19:30")),
)
GC = (
    Listing("GCQ7", 202708, at("2027-08-27T17:30"), at("2027-07-29T22:00")),
    Listing("GCV7", 202710, at("2027-10-27T17:30"), at("2027-09-29T22:00")),
    Listing("GCZ7", 202712, at("2027-12-29T18:30"), at("2027-11-29T23:00")),
)
NQ_2024 = (
    Listing("NQZ4", 202412, at("2024-12-20T22:29")),
    Listing("NQH5", 202503, at("2025-03-21T21:29")),
)


def front(listings: tuple[Listing, ...], root: str, now: datetime) -> str:
    return chain(listings, default_policy(root), now)[0].name


def test_equity_index_front_with_roll_thursday_moves_to_next_quarter_at_the_boundary() -> None:
    roll = at("2026-12-10T22:29")  # Thursday, 8 days before the 3rd-Friday expiry
    assert roll.weekday() == 3
    assert front(ES, "ES", roll - SECOND) == "ESZ6"
    assert front(ES, "ES", roll) == "ESH7"
    assert front(ES, "MES", roll - SECOND) == "ESZ6"  # micros share the family rule


def test_energy_front_with_four_days_to_expiry_moves_to_next_month() -> None:
    roll = at("2026-11-16T19:30")
    assert front(CL, "CL", roll - SECOND) == "CLZ6"
    assert front(CL, "CL", roll) == "CLF7"
    assert front(CL, "CL", at("2026-12-18T19:30")) == "CLG7"


def test_metals_front_with_first_intent_rolls_before_notice_and_skips_thin_months() -> None:
    roll = at("2027-07-27T22:00")  # 2 days before first intent of GCQ7
    assert front(GC, "GC", roll - SECOND) == "GCQ7"
    assert front(GC, "GC", roll) == "GCZ7"  # October is listed but not in GJMQZ
    assert front(GC, "ZZZ", roll) == "GCV7"  # an unknown root keeps every month


def test_metals_policy_without_first_intent_rolls_32_days_before_expiration() -> None:
    bare = Listing("GCQ7", 202708, at("2027-08-27T17:30"))
    assert default_policy("GC").roll_at(bare) == at("2027-07-26T17:30")


def test_default_policy_with_a_first_intent_date_anchors_on_it_else_on_expiration() -> None:
    policy = default_policy("XYZ")
    listing = Listing("XYZH7", 202703, at("2027-03-10T00:00"), at("2027-02-20T00:00"))
    assert policy.roll_at(listing) == at("2027-02-18T00:00")
    cash_settled = Listing("XYZH7", 202703, at("2027-03-10T00:00"))
    assert policy.roll_at(cash_settled) == at("2027-03-05T00:00")


def test_continuous_names_with_index_two_name_the_second_in_the_chain() -> None:
    names = continuous_names(ES, default_policy("ES"), at("2026-11-21T00:00"))
    assert names == {1: "ESZ6", 2: "ESH7", 3: "ESM7"}
    ref = parse_symbol("ES2!")
    assert resolve_listing(ref, ES, default_policy("ES"), at("2026-11-21T00:00")).name == "ESH7"


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("NQ1!", "NQZ4"),
        ("NQ2!", "NQH5"),
        ("CME_MINI:NQ1!", "NQZ4"),
        ("NQZ2024", "NQZ4"),
        ("NQZ24", "NQZ4"),
        ("NQZ4", "NQZ4"),
        ("NQH2025", "NQH5"),
        ("NQ", "NQZ4"),
        ("nq 12-24", "NQZ4"),
    ],
)
def test_resolve_listing_with_each_symbol_form_names_the_contract(
    symbol: str, expected: str
) -> None:
    now = at("2024-11-04T15:00")
    listing = resolve_listing(parse_symbol(symbol), NQ_2024, default_policy("NQ"), now)
    assert listing.name == expected


def test_resolve_listing_with_a_year_from_another_decade_is_unknown() -> None:
    with pytest.raises(InvalidSignal) as caught:
        resolve_listing(
            parse_symbol("NQZ2034"), NQ_2024, default_policy("NQ"), at("2024-11-04T15:00")
        )
    assert caught.value.code == "unknown_contract"


def test_resolve_listing_with_an_unlisted_month_is_unknown() -> None:
    with pytest.raises(InvalidSignal) as caught:
        resolve_listing(parse_symbol("NQU5"), NQ_2024, default_policy("NQ"), at("2024-11-04"))
    assert caught.value.code == "unknown_contract"
    assert caught.value.field == "symbol"


def test_resolve_listing_with_an_expired_explicit_contract_says_expired() -> None:
    with pytest.raises(InvalidSignal) as caught:
        resolve_listing(parse_symbol("NQZ4"), NQ_2024, default_policy("NQ"), at("2024-12-21"))
    assert caught.value.code == "expired_contract"


def test_resolve_listing_with_an_index_past_the_chain_is_unknown() -> None:
    with pytest.raises(InvalidSignal, match="only 2 contract"):
        resolve_listing(parse_symbol("NQ3!"), NQ_2024, default_policy("NQ"), at("2024-11-04"))


def test_explicit_contract_after_its_roll_still_resolves_until_expiry() -> None:
    after_roll = at("2024-12-15T00:00")
    assert front(NQ_2024, "NQ", after_roll) == "NQH5"
    ref = parse_symbol("NQZ4")
    assert resolve_listing(ref, NQ_2024, default_policy("NQ"), after_roll).name == "NQZ4"


@pytest.mark.parametrize(
    ("root", "family", "days", "notice", "months"),
    [
        ("ES", "equity_index", 8, None, None),
        ("MNQ", "equity_index", 8, None, None),
        ("CL", "energy", 4, None, None),
        ("MGC", "metals", 32, 2, "GJMQZ"),
        ("SI", "metals", 32, 2, "HKNUZ"),
        ("ZN", "rates", 32, 2, None),
        ("ZC", "grains", 19, 2, None),
        ("6E", "currencies", 7, None, None),
        ("LE", "default", 5, 2, None),
    ],
)
def test_default_policy_with_each_family_has_the_documented_rule(
    root: str, family: str, days: int, notice: int | None, months: str | None
) -> None:
    assert default_policy(root) == RollPolicy(days, notice, months, family)


def test_parse_roll_overrides_with_partial_keys_keeps_the_root_defaults() -> None:
    found = parse_roll_overrides(" nq:expiration=6 ; GC:first_intent=3, months=all;CL:expiration=5")
    assert found["NQ"] == RollPolicy(6, None, None, "equity_index+override")
    assert found["GC"] == RollPolicy(32, 3, None, "metals+override")
    assert found["CL"].days_before_expiration == 5
    assert policy_for("NQ", found).days_before_expiration == 6
    assert policy_for("ES", found) == default_policy("ES")


def test_parse_roll_overrides_with_first_intent_none_drops_the_notice_anchor() -> None:
    found = parse_roll_overrides("GC:first_intent=none,expiration=3,months=gjmqz")
    assert found["GC"] == RollPolicy(3, None, "GJMQZ", "metals+override")
    assert parse_roll_overrides("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NQ=6", "not ROOT:key=value"),
        ("NQ:expiration", "not key=value"),
        ("NQ:days=6", "unknown key"),
        ("NQ:expiration=six", "invalid literal"),
        ("NQ:expiration=500", "roll days must be"),
        ("GC:months=ABC", "month codes"),
        ("GC:months=GG", "month codes"),
        ("NQ:expiration=6;NQ:expiration=7", "given twice"),
    ],
)
def test_parse_roll_overrides_with_bad_text_raises_naming_the_fault(
    text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_roll_overrides(text)


def test_describe_with_each_anchor_reads_as_a_sentence() -> None:
    assert default_policy("ES").describe() == "8 days before expiration"
    assert default_policy("GC").describe() == (
        "2 days before first intent, else 32 days before expiration; months GJMQZ"
    )
    assert default_policy("GC").to_dict()["months"] == "GJMQZ"


def test_listing_with_naive_time_or_bad_month_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Listing("ESZ6", 202612, datetime(2026, 12, 18))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="YYYYMM"):
        Listing("ESZ6", 202613, at("2026-12-18T22:29"))
    assert ES[0].month == 12
    assert ES[0].year == 2026
