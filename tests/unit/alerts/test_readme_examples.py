"""Every copy-paste alert of the alert-format pages (docs/alerts) parses once TradingView fills
it in."""

from __future__ import annotations

import pytest

from shared.domain.alerts import FORMAT_NAMES, parse_alert
from tests.docs.blocks import alert_examples

EXAMPLES = alert_examples()
BLOCKS = [block for _, block in EXAMPLES]
FILLED = {
    "{{strategy.order.action}}": "buy",
    "{{ticker}}": "NQ1!",
    "{{strategy.order.contracts}}": "1",
    "{{close}}": "18000.25",
    "{{strategy.market_position}}": "long",
    "{{strategy.position_size}}": "1",
    "{{strategy.prev_market_position}}": "flat",
    "{{timenow}}": "2025-03-14T14:30:05Z",
    "{{strategy.order.id}}": "Long",
}


def fill(block: str) -> str:
    for placeholder, value in FILLED.items():
        block = block.replace(placeholder, value)
    return block


def test_alert_pages_show_every_format() -> None:
    assert {parse_alert(fill(block)).format for block in BLOCKS} == set(FORMAT_NAMES)


@pytest.mark.parametrize(
    "block", BLOCKS, ids=[f"{page}-{i}" for i, (page, _) in enumerate(EXAMPLES)]
)
def test_alert_example_with_placeholders_filled_parses(block: str) -> None:
    parsed = parse_alert(fill(block))
    assert parsed.signal.symbol.root == "NQ"
    assert parsed.format != ""
