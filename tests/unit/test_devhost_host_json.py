"""host.json as the dev host reads it: the file, then the app settings that override it."""

from __future__ import annotations

import json
from pathlib import Path

from local.devhost.host import apply_host_overrides, read_host_json

HOST = {
    "version": "2.0",
    "extensions": {"serviceBus": {"maxConcurrentSessions": 32, "prefetchCount": 0}},
}


def test_override_replaces_a_nested_value_matching_keys_without_case() -> None:
    env = {"AzureFunctionsJobHost__Extensions__ServiceBus__MaxConcurrentSessions": "8"}
    result = apply_host_overrides(HOST, env)
    assert result["extensions"]["serviceBus"] == {"maxConcurrentSessions": "8", "prefetchCount": 0}
    assert HOST["extensions"]["serviceBus"]["maxConcurrentSessions"] == 32  # input untouched


def test_override_makes_missing_sections_and_replaces_a_value_that_is_no_section() -> None:
    env = {
        "AzureFunctionsJobHost__extensions__http__routePrefix": "hooks",
        "AzureFunctionsJobHost__version__detail": "x",
    }
    result = apply_host_overrides(HOST, env)
    assert result["extensions"]["http"] == {"routePrefix": "hooks"}
    assert result["version"] == {"detail": "x"}


def test_other_settings_and_an_empty_path_change_nothing() -> None:
    env = {
        "SERVICEBUS_MAX": "1",
        "AzureFunctionsJobHostX__extensions": "1",
        "AzureFunctionsJobHost__": "1",
        "extensions__serviceBus__maxConcurrentSessions": "1",
    }
    assert apply_host_overrides(HOST, env) == HOST


def test_read_host_json_applies_overrides_to_the_file_or_to_nothing(tmp_path: Path) -> None:
    env = {"AzureFunctionsJobHost__functionTimeout": "00:01:00"}
    assert read_host_json(tmp_path, env) == {"functionTimeout": "00:01:00"}
    (tmp_path / "host.json").write_text(json.dumps(HOST), encoding="utf-8")
    result = read_host_json(tmp_path, env)
    assert result == {**HOST, "functionTimeout": "00:01:00"}
