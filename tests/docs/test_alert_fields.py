"""Every field an alert reader consults is named on its format's page (docs/alerts).

The readers take fields through ``shared.domain.alerts.fields.Fields``; recording every name
they ask for while they read the vendor corpus (real alerts of every format, accepted and
refused) gives the fields each format reads, aliases included. Each must appear on the
format's page or on the formats' shared page (index.md), so a field added to a reader cannot
ship undocumented.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from shared.domain.alerts import FORMAT_NAMES, parse_alert
from shared.domain.alerts import fields as alert_fields
from shared.domain.errors import InvalidSignal
from tests.docs.blocks import ROOT
from tests.unit.alerts.vendor_corpus import CASES

PAGES = {
    "native": ("native-json",),
    "native_text": ("native-lines", "native-json"),
    "traderspost": ("traderspost",),
    "pickmytrade": ("pickmytrade",),
    "crosstrade": ("crosstrade",),
    "simple_json": ("simple",),
    "webhook_type": ("simple",),
}


@contextmanager
def recording() -> Iterator[set[str]]:
    """Record every field name a reader asks ``Fields`` for while the block runs."""
    asked: set[str] = set()
    original = alert_fields.Fields.get_named

    def get_named(self: alert_fields.Fields, *names: str) -> tuple[object | None, str]:
        asked.update(names)
        return original(self, *names)

    alert_fields.Fields.get_named = get_named  # type: ignore[method-assign]
    try:
        yield asked
    finally:
        alert_fields.Fields.get_named = original  # type: ignore[method-assign]


def fields_read() -> dict[str, set[str]]:
    """Return, per format, every field name its reader consulted over the corpus."""
    found: dict[str, set[str]] = defaultdict(set)
    for case in CASES:
        with recording() as asked:
            try:
                fmt = parse_alert(case.body).format
            except InvalidSignal:
                continue
        found[fmt] |= asked
    return found


READ = fields_read()


def page_text(fmt: str) -> str:
    names = (*PAGES[fmt], "index")
    return "\n".join((ROOT / "docs" / "alerts" / f"{n}.md").read_text("utf-8") for n in names)


def test_every_format_has_a_page_and_corpus_alerts() -> None:
    assert set(PAGES) == set(FORMAT_NAMES)
    assert set(READ) == set(FORMAT_NAMES), "the corpus reads every format"
    assert all(len(names) >= 5 for names in READ.values())


@pytest.mark.parametrize("fmt", sorted(PAGES))
def test_every_field_the_reader_consults_is_on_its_page(fmt: str) -> None:
    text = page_text(fmt)
    missing = sorted(
        name
        for name in READ[fmt]
        if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text)
    )
    assert not missing, f"{fmt} reads {missing}, which docs/alerts/{PAGES[fmt][0]}.md never names"
