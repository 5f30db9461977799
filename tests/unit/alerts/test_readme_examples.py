"""Every copy-paste alert in the README's alert section parses once TradingView fills it in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.domain.alerts import FORMAT_NAMES, parse_alert

README = (Path(__file__).parents[3] / "README.md").read_text("utf-8")
SECTION = README.split("<!-- section:alerts -->")[1].split("<!-- /section:alerts -->")[0]
BLOCKS = re.findall(r"```(?:json|text)\n(.*?)```", SECTION, re.DOTALL)
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


def test_readme_alert_section_with_examples_shows_every_format() -> None:
    assert {parse_alert(fill(block)).format for block in BLOCKS} == set(FORMAT_NAMES)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_alert_example_with_placeholders_filled_parses(block: str) -> None:
    parsed = parse_alert(fill(block))
    assert parsed.signal.symbol.root == "NQ"
    assert parsed.format != ""
