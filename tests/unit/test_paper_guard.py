"""PAPER=true refuses Tradovate's live environment at settings validation (docs/going-live.md)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import PAPER_LIVE_ENVIRONMENT, is_live_tradovate_url, load_settings
from shared.domain.errors import ConfigError
from tests.conftest import make_settings

LIVE = "https://live.tradovateapi.com/v1"
REQUIRED = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "TRADOVATE_USERNAME": "trader",
    "TRADOVATE_PASSWORD": "pw",
    "TRADOVATE_CID": "8",
    "TRADOVATE_SEC": "sec",
    "TRADOVATE_DEVICE_ID": "dev",
}


@pytest.mark.parametrize(
    ("url", "live"),
    [
        (LIVE, True),
        ("https://LIVE.tradovateapi.com/v1/", True),
        ("live.tradovateapi.com/v1", True),
        ("wss://live.tradovateapi.com/v1/websocket", True),
        ("https://live-d.tradovateapi.com/v1", True),
        ("https://live-api-d.tradovate.com/v1", True),  # 2017-2019 host (reference §1.2)
        ("https://live-api.staging.ninjatrader.dev/v1", True),
        ("https://demo.tradovateapi.com/v1", False),
        ("https://demo-api-d.tradovate.com/v1", False),
        ("wss://md.tradovateapi.com/v1/websocket", False),
        ("wss://replay.tradovateapi.com/v1/websocket", False),
        ("http://127.0.0.1:8181/v1", False),  # the local simulator
        ("http://tradovate-sim:8181/v1", False),
        ("https://live.example.com/v1", False),
        ("https://live.tradovateapi.com.example.com/v1", False),
        ("", False),
    ],
)
def test_is_live_tradovate_url_with_each_host_tells_live_from_the_rest(
    url: str, live: bool
) -> None:
    assert is_live_tradovate_url(url) is live


def test_load_settings_with_paper_and_live_url_refuses_with_its_code_and_a_sentence() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(
            redis_url="redis://x", tradovate_username="u", tradovate_password="p",
            tradovate_cid="1", tradovate_sec="s", tradovate_device_id="d",
            tradovate_base_url=LIVE, paper=True,
        )  # fmt: skip
    assert refused.value.code == PAPER_LIVE_ENVIRONMENT == "paper_live_environment"
    message = refused.value.message
    assert message.startswith("PAPER=true refuses to start")
    assert LIVE in message
    assert "docs/going-live.md" in message


def test_settings_with_paper_and_live_url_raise_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="PAPER=true refuses to start"):
        make_settings(tradovate_base_url=LIVE)


def test_load_settings_with_live_url_in_environment_and_paper_unset_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**REQUIRED, "TRADOVATE_BASE_URL": LIVE}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()  # PAPER defaults to true
    assert refused.value.code == PAPER_LIVE_ENVIRONMENT


@pytest.mark.parametrize(
    "url", ["https://demo.tradovateapi.com/v1", "http://127.0.0.1:8181/v1", "http://sim:80/v1"]
)
def test_settings_with_paper_and_demo_or_simulator_url_start(url: str) -> None:
    settings = make_settings(tradovate_base_url=url, paper="true")
    assert (settings.paper, settings.tradovate_base_url) == (True, url)


def test_load_settings_with_paper_false_and_live_url_trade_where_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**REQUIRED, "TRADOVATE_BASE_URL": LIVE, "PAPER": "false"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.paper, settings.tradovate_ws_url) == (
        False,
        "wss://live.tradovateapi.com/v1/websocket",
    )
