"""A strategy's TradingView alert, per format and action, read back by the webhook's parser."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.alerts import parse_alert
from shared.domain.errors import ConfigError, Conflict, InvalidRequest, NotFound
from shared.domain.signal import Intent, MarketPosition
from shared.services.ops.alert_template import (
    ACTIONS,
    FORMATS,
    MASK,
    AlertTemplates,
    read_request,
    template,
)
from tests.fakes import FakeSecrets
from tests.unit.services.ops.fakes import book

SECRET = "tv-secret-value"
# A sell that takes a long strategy flat: what TradingView fills in on a closing order.
CLOSING = {
    "{{ticker}}": "NQ1!",
    "{{strategy.order.action}}": "sell",
    "{{strategy.order.contracts}}": "2",
    "{{close}}": "21000.25",
    "{{timenow}}": "2026-11-20T15:00:00Z",
    "{{strategy.order.id}}": "Exit",
    "{{strategy.market_position}}": "flat",
    "{{strategy.position_size}}": "0",
    "{{strategy.prev_market_position}}": "long",
}


def filled(message: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        message = message.replace(placeholder, value)
    assert "{{" not in message
    return message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_template_is_read_in_its_format_with_the_secret(fmt: str, action: str) -> None:
    request = read_request("trend", {"format": fmt, "action": action}, True)
    answer = template(book()["trend"], request, "https://bridge.example", SECRET)
    assert answer["url"] == "https://bridge.example/api/webhook/trend"
    assert answer["secret_included"] is True
    opening = {**CLOSING, "{{strategy.order.action}}": "buy",
               "{{strategy.market_position}}": "long", "{{strategy.position_size}}": "2",
               "{{strategy.prev_market_position}}": "flat"}  # fmt: skip
    parsed = parse_alert(filled(answer["message"], opening))
    assert (parsed.format, parsed.secret) == (fmt, SECRET)
    assert parsed.signal.symbol.root == "NQ"
    if action == "exit":
        assert parsed.signal.intent in (Intent.EXIT, Intent.CLOSE)
        assert parsed.signal.quantity is None
        return
    assert (parsed.signal.intent, parsed.signal.quantity) == (Intent.BUY, Decimal(2))
    if action == "entry":
        assert parsed.signal.target is None
    else:
        target = parsed.signal.target
        assert target is not None
        assert (target.market_position, target.size) == (MarketPosition.LONG, Decimal(2))
        assert set(answer["placeholders"]) >= {"{{strategy.position_size}}", "{{ticker}}"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_target_template_on_a_closing_fill_reads_as_an_exit_to_flat(fmt: str) -> None:
    request = read_request("trend", {"format": fmt, "action": "target"}, False)
    answer = template(book()["trend"], request, "", None)
    parsed = parse_alert(filled(answer["message"], CLOSING))
    assert parsed.signal.intent is Intent.EXIT
    assert parsed.signal.target is not None
    assert parsed.signal.target.market_position is MarketPosition.FLAT


@pytest.mark.parametrize("fmt", FORMATS)
def test_template_without_the_secret_masks_it(fmt: str) -> None:
    answer = template(book()["trend"], read_request("trend", {"format": fmt}, False), "", None)
    assert answer["secret_included"] is False
    assert parse_alert(filled(answer["message"], CLOSING)).secret == MASK
    assert SECRET not in str(answer)


def test_notes_name_accounts_mapping_defaults_and_a_disabled_strategy() -> None:
    notes = template(book()["trend"], read_request("trend", {}, False), "", None)["notes"]
    assert notes[0] == "trades every enabled account of trend: DEMO1 x1, DEMO2 x2"
    assert "NQ -> MNQ" in notes[1]
    assert "MNQ, ES" in notes[2]
    assert "quantity 1" in notes[3]
    assert "--action target" in notes[4]
    off = template(book()["off"], read_request("off", {"action": "exit"}, False), "", None)
    assert off["notes"][-1].startswith("the strategy file disables this strategy")
    assert any("whole position" in note for note in off["notes"])


def test_read_request_defaults_and_refusals() -> None:
    assert read_request("trend", {}, False).format == "native"
    assert read_request("trend", {}, False).action == "entry"
    for params, field in (({"format": "ninja"}, "format"), ({"action": "scale"}, "action")):
        with pytest.raises(InvalidRequest) as info:
            read_request("trend", params, False)
        assert (info.value.code, info.value.field) == ("bad_filter", field)


async def test_render_reads_the_secret_only_when_revealed() -> None:
    secrets = FakeSecrets({"WEBHOOK_TREND": SECRET})
    templates = AlertTemplates(book(), secrets)
    shown = await templates.render(read_request("trend", {}, True), "https://b")
    assert SECRET in shown["message"]
    secrets.values.clear()
    hidden = await templates.render(read_request("trend", {}, False), "https://b")
    assert MASK in hidden["message"]
    with pytest.raises(ConfigError):
        await templates.render(read_request("trend", {}, True), "https://b")
    with pytest.raises(NotFound) as info:
        await templates.render(read_request("zz", {}, False), "https://b")
    assert info.value.code == "unknown_strategy"


@pytest.mark.parametrize("secret", ["a;b", "line\nbreak", " padded"])
def test_crosstrade_refuses_a_secret_its_text_cannot_carry(secret: str) -> None:
    request = read_request("trend", {"format": "crosstrade"}, True)
    with pytest.raises(Conflict) as info:
        template(book()["trend"], request, "", secret)
    assert info.value.code == "secret_unfit_for_format"
    native = template(book()["trend"], read_request("trend", {}, True), "", secret)
    assert parse_alert(filled(native["message"], CLOSING)).secret == secret.strip()
