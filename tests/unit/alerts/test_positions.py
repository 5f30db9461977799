"""Each rule of ``positions``: what an action means once the position after it is stated.

Table-driven over the native format (the rule is the same in every reader; the vendor corpus
shows it per format), plus the odd corners of the simple shapes and CrossTrade options.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.domain.alerts import RateGroup, parse_alert
from shared.domain.errors import InvalidSignal
from tests.unit.alerts.vendor_corpus import reading


def native(**fields: Any) -> str:
    return json.dumps({"symbol": "NQ1!", **fields})


def ct(*pairs: str) -> str:
    base = ["command=PLACE", "account=Sim101", "instrument=NQ1!", "action=BUY", "qty=1"]
    return ";".join([*base, *pairs]) + ";"


READINGS = [
    ("add_without_side_takes_the_target_side",
     native(intent="add", market_position="long", position_size=3, quantity=1),
     {"intent": "add", "side": "buy", "quantity": "1",
      "target": {"market_position": "long", "size": "3"}}),
    ("reverse_takes_the_target_side",
     native(intent="reverse", market_position="short", position_size=-2,
            prev_market_position="long"),
     {"intent": "reverse", "side": "sell",
      "target": {"market_position": "short", "size": "2", "prev_market_position": "long"}}),
    ("exit_to_a_smaller_long",
     native(intent="exit", market_position="long", position_size=1,
            prev_market_position="long", prev_position_size=3),
     {"intent": "exit", "side": "sell",
      "target": {"market_position": "long", "size": "1", "prev_market_position": "long",
                 "prev_size": "3"}}),
    ("exit_by_quantity_when_the_size_after_is_unknown",
     native(intent="exit", market_position="short", quantity=1),
     {"intent": "exit", "side": "buy", "quantity": "1"}),
    ("exit_to_flat_keeps_the_closing_side",
     native(intent="exit", side="buy", market_position="flat", prev_market_position="short"),
     {"intent": "exit", "side": "buy",
      "target": {"market_position": "flat", "size": "0", "prev_market_position": "short"}}),
    ("signed_previous_size_names_a_short",
     native(intent="buy", market_position="flat", prev_position_size=-2),
     {"intent": "exit", "side": "buy",
      "target": {"market_position": "flat", "size": "0", "prev_market_position": "short",
                 "prev_size": "2"}}),
    ("size_alone_zero_is_flat",
     native(intent="sell", market_position_size=0),
     {"intent": "exit", "side": "sell", "target": {"market_position": "flat", "size": "0"}}),
    ("cancel_ignores_positions",
     native(intent="cancel", market_position="long", position_size=1),
     {"intent": "cancel"}),
    ("buy_from_flat_to_flat_is_a_harmless_exit",
     native(intent="buy", market_position="flat", prev_market_position="flat"),
     {"intent": "exit", "side": "buy",
      "target": {"market_position": "flat", "size": "0", "prev_market_position": "flat"}}),
    ("empty_previous_position_is_not_given",
     native(intent="buy", market_position="long", prev_market_position=""),
     {"intent": "buy", "target": {"market_position": "long"}}),
    ("simple_stop_price_infers_a_stop",
     json.dumps({"symbol": "NQ1!", "action": "sell", "stop_price": 17950}),
     {"intent": "sell", "order_type": "stop", "stop_price": "17950"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in READINGS], ids=[c[0] for c in READINGS]
)
def test_position_fields_with_action_read_as_documented(body: str, expected: dict) -> None:
    assert reading(parse_alert(body).signal) == {"symbol": "NQ1!", **expected}


REFUSALS = [
    ("negative_unsigned_size", native(intent="buy", market_position="long",
                                      market_position_size=-1), "invalid_target_position"),
    ("negative_previous_size_of_a_long", native(intent="buy", market_position="long",
                                                prev_market_position="long",
                                                prev_position_size=-1),
     "invalid_target_position"),
    ("flat_previous_with_a_size", native(intent="buy", market_position="long",
                                         prev_market_position="flat", prev_position_size=2),
     "invalid_target_position"),
    ("add_without_side_to_flat", native(intent="add", market_position="flat"),
     "conflicting_position"),
    ("add_leaving_the_other_side", native(intent="add", side="buy", market_position="short"),
     "conflicting_position"),
    ("add_turning_a_short_long", native(intent="add", side="buy", market_position="long",
                                        prev_market_position="short"),
     "conflicting_position"),
    ("reverse_against_its_side", native(intent="reverse", side="buy", market_position="short"),
     "conflicting_position"),
    ("reverse_to_the_same_side", native(intent="reverse", market_position="long",
                                        prev_market_position="long"),
     "conflicting_position"),
    ("exit_leaving_the_wrong_position", native(intent="exit", side="buy",
                                               market_position="flat",
                                               prev_market_position="long"),
     "conflicting_position"),
    ("exit_that_grows", native(intent="exit", market_position="long", position_size=3,
                               prev_market_position="long", prev_position_size=2),
     "conflicting_position"),
    ("exit_from_the_other_side", native(intent="exit", market_position="long", position_size=1,
                                        prev_market_position="short"),
     "conflicting_position"),
    ("exit_without_size_or_quantity", native(intent="exit", market_position="long"),
     "missing_field"),
    ("flat_keeping_a_position", native(intent="flat", market_position="short",
                                       position_size=-1), "conflicting_position"),
    ("simple_exit_long_leaving_a_short", json.dumps({"symbol": "NQ1!", "action": "exit_long",
                                                     "side": "short"}), "conflicting_side"),
    ("ct_cancel_after_zero", ct("order_type=LIMIT", "limit_price=18000", "cancel_after=0"),
     "invalid_number"),
    ("ct_cancel_after_with_ioc", ct("order_type=LIMIT", "limit_price=18000", "tif=IOC",
                                    "cancel_after=5"), "conflicting_fields"),
    ("ct_rate_limit_zero", ct("rate_limit=0", "id=g"), "invalid_number"),
    ("ct_rate_limit_window_too_long", ct("rate_limit=1/100000", "id=g"), "invalid_number"),
    ("ct_rate_limit_words", ct("rate_limit=once", "id=g"), "invalid_number"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "code"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_position_fields_contradicting_the_action_are_refused(body: str, code: str) -> None:
    with pytest.raises(InvalidSignal) as info:
        parse_alert(body)
    assert info.value.code == code
    assert info.value.message


def test_rate_group_with_bad_window_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="window"):
        RateGroup("g", 0)
    assert RateGroup("g", 60).window_s == 60


def test_crosstrade_rate_group_is_kept_for_the_journal() -> None:
    parsed = parse_alert(ct("rate_limit=1/30", "id=nq-long"))
    assert parsed.rate_group == RateGroup("nq-long", 30)
    assert parsed.signal.alert_id is None
    assert dict(parsed.signal.extras) == {"rate_limit": "1/30", "id": "nq-long"}
