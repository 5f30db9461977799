from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import AliasChoices

from shared.config import Settings, load_settings, read_local_settings
from shared.domain.errors import ConfigError
from tests.conftest import make_settings


def test_load_settings_with_empty_environment_names_every_missing_setting() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.message
    for name in ("REDIS_URL", "TRADOVATE_USERNAME", "TRADOVATE_PASSWORD", "TRADOVATE_SEC"):
        assert name in message
    assert "sim-password" not in message


def test_load_settings_with_environment_reads_app_setting_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6380/0")
    monkeypatch.setenv("TRADOVATE_USERNAME", "trader")
    monkeypatch.setenv("TRADOVATE_PASSWORD", "pw")
    monkeypatch.setenv("TRADOVATE_CID", "8")
    monkeypatch.setenv("TRADOVATE_SEC", "sec")
    monkeypatch.setenv("TRADOVATE_DEVICE_ID", "dev")
    monkeypatch.setenv("ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net")
    monkeypatch.setenv("QUEUE_MAX_DELIVERY_COUNT", "3")
    settings = load_settings()
    assert settings.servicebus_namespace == "ns.servicebus.windows.net"
    assert settings.queue_max_delivery_count == 3
    assert settings.redis_url.get_secret_value() == "redis://127.0.0.1:6380/0"


def test_settings_with_secret_values_never_show_them_in_repr() -> None:
    settings = make_settings(tradovate_password="hunter2-not-shown")
    assert "hunter2-not-shown" not in repr(settings)
    assert "hunter2-not-shown" not in str(settings.model_dump())


def test_settings_are_frozen() -> None:
    settings = make_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.paper = False  # type: ignore[misc]


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("FALSE", False), (True, True)])
def test_paper_flag_with_true_or_false_parses(raw: object, expected: bool) -> None:
    assert make_settings(paper=raw).paper is expected


@pytest.mark.parametrize("raw", ["yes", "1", "on", 1])
def test_load_settings_with_ambiguous_boolean_is_a_config_error(raw: object) -> None:
    with pytest.raises(ConfigError, match="PAPER"):
        load_settings(
            redis_url="redis://x", tradovate_username="u", tradovate_password="p",
            tradovate_cid="1", tradovate_sec="s", tradovate_device_id="d", paper=raw,
        )  # fmt: skip


def test_load_settings_with_out_of_range_delivery_count_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="QUEUE_MAX_DELIVERY_COUNT"):
        load_settings(
            redis_url="redis://x", tradovate_username="u", tradovate_password="p",
            tradovate_cid="1", tradovate_sec="s", tradovate_device_id="d",
            queue_max_delivery_count=0,
        )  # fmt: skip


def test_tradovate_ws_url_is_derived_from_rest_base() -> None:
    assert make_settings().tradovate_ws_url == "wss://demo.tradovateapi.com/v1/websocket"
    local = make_settings(tradovate_base_url="http://127.0.0.1:9000/v1/")
    assert local.tradovate_ws_url == "ws://127.0.0.1:9000/v1/websocket"


def test_require_servicebus_without_namespace_or_connection_raises() -> None:
    with pytest.raises(ConfigError, match="ServiceBusConnection__fullyQualifiedNamespace"):
        make_settings().require_servicebus()
    make_settings(servicebus_namespace="ns.servicebus.windows.net").require_servicebus()


def test_read_local_settings_returns_values_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"A": "1", "B": 2}}))
    assert read_local_settings(path) == {"A": "1", "B": "2"}


def test_read_local_settings_with_bad_json_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_local_settings(path)


def test_settings_model_has_an_env_name_for_every_field() -> None:
    for name, info in Settings.model_fields.items():
        assert info.validation_alias is not None, name


def test_read_local_settings_with_comments_ignores_them(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(
        '// heading\n{ /* block */ "Values": {\n'
        '  // a comment\n  "URL": "https://x.example/v1", // trailing\n'
        '  "QUOTE": "say \\"//not a comment\\"" }}'
    )
    assert read_local_settings(path) == {
        "URL": "https://x.example/v1",
        "QUOTE": 'say "//not a comment"',
    }


def test_settings_example_documents_every_setting() -> None:
    example = Path(__file__).resolve().parents[2] / "local.settings.json.example"
    values = read_local_settings(example)
    text = example.read_text()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        env_name = alias.choices[0] if isinstance(alias, AliasChoices) else name
        assert env_name in values, f"{env_name} is missing from local.settings.json.example"
        lines = text.splitlines()
        at = next(i for i, ln in enumerate(lines) if f'"{env_name}"' in ln)
        group = []  # the setting's line and the lines above it, up to a blank line
        while at >= 0 and lines[at].strip():
            group.append(lines[at])
            at -= 1
        assert any("//" in ln for ln in group), f"{env_name} has no comment in its group"
