"""The contract library: expiry rules, names, front month, suggest and roll, at any date."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local.tradovate_sim.clock import central_to_utc, trade_date, utc_to_central
from local.tradovate_sim.contracts import PRODUCTS, ContractLibrary
from local.tradovate_sim.expiry import crude_last_trade, expiration, last_trade, third_friday
from local.tradovate_sim.risk import check_contract
from local.tradovate_sim.validation import Rejection

NAME = re.compile(r"^(?P<root>[A-Z0-9]+?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d)$")
# hypothesis takes naive bounds and attaches the time zone itself.
MOMENTS = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2035, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def test_third_friday_with_known_months_matches_calendar() -> None:
    assert third_friday(2024, 12) == date(2024, 12, 20)
    assert third_friday(2025, 3) == date(2025, 3, 21)
    assert third_friday(2026, 5) == date(2026, 5, 15)


def test_equity_expiration_with_dst_and_standard_time_is_tradovates_1629_central() -> None:
    # Tradovate's own maturities: NQZ7 2017-12-15T22:29Z, NQH8 2018-03-16T21:29Z (DOCS24).
    assert expiration("equity_index", 2017, 12) == datetime(2017, 12, 15, 22, 29, tzinfo=UTC)
    assert expiration("equity_index", 2018, 3) == datetime(2018, 3, 16, 21, 29, tzinfo=UTC)
    assert expiration("equity_index", 2025, 6) == datetime(2025, 6, 20, 21, 29, tzinfo=UTC)
    assert expiration("equity_index", 2025, 12) == datetime(2025, 12, 19, 22, 29, tzinfo=UTC)


def test_equity_last_trade_with_dst_and_standard_time_is_cmes_0830_central() -> None:
    # CME: trading terminates at 9:30 a.m. ET (08:30 CT) on the 3rd Friday.
    assert last_trade("equity_index", 2025, 6) == datetime(2025, 6, 20, 13, 30, tzinfo=UTC)
    assert last_trade("equity_index", 2025, 12) == datetime(2025, 12, 19, 14, 30, tzinfo=UTC)
    assert last_trade("crude", 2025, 12) == expiration("crude", 2025, 12)  # no Tradovate stamp


def test_equity_contract_between_last_trade_and_expiry_is_front_but_refuses_orders() -> None:
    now = datetime(2025, 12, 19, 18, 0, tzinfo=UTC)  # noon CT on ESZ5's last trading day
    library = ContractLibrary(now)
    esz5 = library.contract("ESZ5")
    assert esz5 is not None
    wire = library.maturity_wire(esz5.maturity, now)
    assert (wire["expirationDate"], wire["isFront"], wire["archived"]) == (
        "2025-12-19T22:29Z",
        True,
        False,
    )
    with pytest.raises(Rejection) as refused:
        check_contract(library, "ESZ5", now)
    assert refused.value.reason == "InvalidContract"
    later = datetime(2025, 12, 19, 22, 29, tzinfo=UTC)
    assert library.front(library.product("ES") or PRODUCTS[0], later).name == "ESH6"


def test_crude_last_trade_with_business_day_25th_is_three_days_before() -> None:
    # CLZ5: the 25th of November 2025 is a Tuesday -> three business days before is Thu 20th.
    assert crude_last_trade(2025, 12) == date(2025, 11, 20)


def test_crude_last_trade_with_weekend_25th_is_four_days_before() -> None:
    # CLX5: the 25th of October 2025 is a Saturday -> four business days before is Tue 21st.
    assert crude_last_trade(2025, 11) == date(2025, 10, 21)


def test_central_time_with_round_trip_returns_same_wall_clock() -> None:
    moment = central_to_utc(date(2025, 3, 9), time(12))
    assert utc_to_central(moment) == datetime.combine(date(2025, 3, 9), time(12))


def test_trade_date_with_evening_session_belongs_to_next_business_day() -> None:
    friday_evening = datetime(2025, 6, 20, 23, 0, tzinfo=UTC)  # 18:00 CT Friday
    assert trade_date(friday_evening) == {"year": 2025, "month": 6, "day": 23}


def test_library_with_every_required_root_has_reference_ticks_and_values() -> None:
    expected = {
        "ES": ("0.25", "50"),
        "MES": ("0.25", "5"),
        "NQ": ("0.25", "20"),
        "MNQ": ("0.25", "2"),
        "RTY": ("0.10", "50"),
        "M2K": ("0.10", "5"),
        "YM": ("1", "5"),
        "MYM": ("1", "0.50"),
        "CL": ("0.01", "1000"),
        "MCL": ("0.01", "100"),
        "GC": ("0.10", "100"),
        "MGC": ("0.10", "10"),
    }
    actual = {p.name: (str(p.tick_size), str(p.value_per_point)) for p in PRODUCTS}
    assert actual == expected


@settings(max_examples=60, deadline=None)
@given(now=MOMENTS)
def test_library_with_any_date_lists_future_maturities_in_cycle(now: datetime) -> None:
    library = ContractLibrary(now)
    for product in PRODUCTS:
        chain = library.product_contracts(product)
        live = [c for c in chain if not library.is_expired(c, now)]
        assert len(live) == product.listed
        assert [c.maturity.expires for c in chain] == sorted(c.maturity.expires for c in chain)
        for contract in chain:
            parts = NAME.match(contract.name)
            assert parts is not None
            assert parts["root"] == product.name
            assert parts["month"] in product.months
            assert int(parts["year"]) == contract.maturity.year % 10
        front = library.front(product, now)
        assert front is live[0]
        assert front.maturity.expires - now < timedelta(days=100)


@settings(max_examples=40, deadline=None)
@given(now=MOMENTS)
def test_equity_front_with_any_date_expires_on_a_friday_in_its_month(now: datetime) -> None:
    library = ContractLibrary(now)
    es = library.front(library.product("ES") or PRODUCTS[0], now)
    assert es is not None
    local = utc_to_central(es.maturity.expires)
    assert local.weekday() == 4
    assert 15 <= local.day <= 21
    assert (local.hour, local.minute) == (16, 29)
    stop = utc_to_central(es.maturity.last_trade)
    assert (stop.date(), stop.hour, stop.minute) == (local.date(), 8, 30)


def test_suggest_with_es_text_also_matches_micro_after_exact_root() -> None:
    now = datetime(2025, 7, 1, tzinfo=UTC)
    names = [c.name for c in ContractLibrary(now).suggest("ES", 20, now)]
    assert names[:5] == ["ESU5", "ESZ5", "ESH6", "ESM6", "ESU6"]
    assert "MESU5" in names


def test_roll_with_if_expired_and_live_contract_returns_same_contract() -> None:
    now = datetime(2025, 7, 1, tzinfo=UTC)
    library = ContractLibrary(now)
    live = library.contract("NQU5")
    assert live is not None
    assert library.roll(live, forward=True, if_expired=True, now=now) is live
    assert library.roll(live, forward=True, if_expired=False, now=now).name == "NQZ5"


def test_roll_with_expired_contract_moves_to_front() -> None:
    now = datetime(2025, 7, 1, tzinfo=UTC)
    library = ContractLibrary(now)
    expired = library.contract("NQM5")
    assert expired is not None
    assert library.is_expired(expired, now)
    assert library.roll(expired, forward=True, if_expired=True, now=now).name == "NQU5"


def test_ids_with_two_dates_stay_the_same_for_the_same_contract() -> None:
    first = ContractLibrary(datetime(2025, 7, 1, tzinfo=UTC)).contract("ESZ5")
    second = ContractLibrary(datetime(2025, 9, 30, tzinfo=UTC)).contract("ESZ5")
    assert first is not None
    assert second is not None
    assert (first.id, first.maturity.id) == (second.id, second.maturity.id)
