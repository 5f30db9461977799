"""Read every vendor-shaped alert of ``vendor_corpus`` in-process: its reading or its code.

The same cases go through the real webhook over the dev host in
``tests/integration/test_vendor_corpus_devhost.py``; here each one is parsed as the webhook
parses it and checked against the strategy file as the webhook checks it (``check_symbol``),
so a failure names the case quickly.
"""

from __future__ import annotations

from collections import Counter

import pytest

from shared.domain.alerts import parse_alert
from shared.domain.errors import InvalidSignal
from shared.services.ingest import check_sizing, check_symbol
from shared.strategies import parse_strategies
from tests.unit.alerts.vendor_corpus import (
    ACCEPTED,
    CASES,
    REFUSED,
    SECRET,
    Case,
    reading,
    strategies_toml,
)

BOOK = parse_strategies(strategies_toml(), "vendor-corpus")


def admit(case: Case) -> dict[str, object]:
    """Parse the case and check its symbol as the webhook does; return its reading."""
    parsed = parse_alert(case.body)
    assert parsed.secret == SECRET, case.name
    strategy = BOOK[case.strategy]
    check_symbol(strategy, parsed.signal)
    check_sizing(parsed.signal)
    return reading(parsed.signal)


@pytest.mark.parametrize("case", ACCEPTED, ids=[case.name for case in ACCEPTED])
def test_vendor_alert_with_documented_shape_reads_as_its_author_meant(case: Case) -> None:
    assert admit(case) == case.expect


@pytest.mark.parametrize("case", REFUSED, ids=[case.name for case in REFUSED])
def test_vendor_alert_that_cannot_trade_as_written_is_refused_with_its_code(case: Case) -> None:
    if case.door:
        parse_alert(case.body)  # the reader accepts it; the strategy file refuses it
    with pytest.raises(InvalidSignal) as info:
        admit(case)
    assert info.value.code == case.code, info.value.message
    assert info.value.message
    assert len(info.value.message) <= 400


def test_vendor_corpus_with_every_case_covers_the_vendors_and_is_large() -> None:
    assert len(CASES) >= 150
    assert len({case.name for case in CASES}) == len(CASES)
    formats = Counter(parse_alert(case.body).format for case in ACCEPTED)
    assert set(formats) == {
        "native", "native_text", "traderspost", "pickmytrade", "crosstrade", "simple_json",
        "webhook_type",
    }  # fmt: skip
    assert all(case.source for case in CASES)
    codes = {case.code for case in REFUSED}
    assert {"conflicting_position", "unknown_symbol", "unsupported_field"} <= codes
