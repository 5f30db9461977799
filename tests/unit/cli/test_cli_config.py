"""tradebridge_cli.config: flags, environment, profile file and the local stack, in that order."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tradebridge_cli.config import normalise_url, resolve
from tradebridge_cli.errors import ConfigError


def write_profile(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def stack_state(tmp_path: Path, pid: int, keys: str = "k1,k2") -> Path:
    settings = tmp_path / "local.settings.json"
    values = {"DEVHOST_FUNCTION_KEYS": keys, "DEVHOST_MASTER_KEY": "m1"}
    settings.write_text(json.dumps({"Values": values}))
    state = tmp_path / "stack.json"
    urls = {"functions": "http://127.0.0.1:7071", "settings": str(settings)}
    state.write_text(json.dumps({"pid": pid, "urls": urls}))
    return state


def test_resolve_with_flags_and_environment_prefers_flags(tmp_path: Path) -> None:
    env = {
        "TRADEBRIDGE_URL": "https://env.example/api/",
        "TRADEBRIDGE_KEY": "env-key",
        "TRADEBRIDGE_MASTER_KEY": "env-master",
        "TRADEBRIDGE_PROFILE_FILE": str(tmp_path / "none.toml"),
    }
    config = resolve(url="https://flag.example", key="flag-key", env=env)
    assert (config.url, config.key, config.master_key) == (
        "https://flag.example", "flag-key", "env-master"
    )  # fmt: skip
    assert config.source == "flags"
    from_env = resolve(env=env)
    assert (from_env.url, from_env.source) == ("https://env.example", "environment")


def test_resolve_with_profile_file_reads_the_named_profile(tmp_path: Path) -> None:
    path = write_profile(
        tmp_path,
        '[profiles.default]\nurl = "https://a.example"\nkey = "a"\n'
        '[profiles.prod]\nurl = "https://p.example"\nkey = "p"\nmaster_key = "pm"\n',
    )
    env = {"TRADEBRIDGE_PROFILE_FILE": str(path)}
    assert resolve(env=env).url == "https://a.example"
    prod = resolve(profile="prod", env=env)
    assert (prod.url, prod.key, prod.master_key, prod.source) == (
        "https://p.example", "p", "pm", "profile prod"
    )  # fmt: skip


def test_resolve_with_profile_readable_by_others_refuses_it(tmp_path: Path) -> None:
    path = write_profile(tmp_path, '[profiles.default]\nurl = "https://a.example"\n', 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        resolve(env={"TRADEBRIDGE_PROFILE_FILE": str(path)})
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "profile", "match"),
    [
        ("not toml [", None, "not valid TOML"),
        ('[profiles.default]\nurl = "x"\npassword = "p"\n', None, "only url, key and master_key"),
        ('[profiles.default]\nurl = "https://a.example"\n', "prod", r"no \[profiles.prod\]"),
    ],
)
def test_resolve_with_bad_profile_says_what_to_fix(
    tmp_path: Path, text: str, profile: str | None, match: str
) -> None:
    path = write_profile(tmp_path, text)
    with pytest.raises(ConfigError, match=match):
        resolve(profile=profile, env={"TRADEBRIDGE_PROFILE_FILE": str(path)})


def test_resolve_with_nothing_configured_uses_the_running_local_stack(tmp_path: Path) -> None:
    env = {
        "TRADEBRIDGE_PROFILE_FILE": str(tmp_path / "none.toml"),
        "TRADEBRIDGE_STACK_STATE": str(stack_state(tmp_path, os.getpid())),
    }
    config = resolve(env=env)
    assert (config.url, config.key, config.master_key) == ("http://127.0.0.1:7071", "k1", "m1")
    assert config.source == "local stack"
    assert "k1" not in repr(config)
    assert "m1" not in repr(config)


@pytest.mark.parametrize("state", ["missing", "stale"])
def test_resolve_with_no_stack_running_says_how_to_start_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    path = tmp_path / "none.json" if state == "missing" else stack_state(tmp_path, 2**22 + 12345)
    monkeypatch.setenv("TRADEBRIDGE_STACK_STATE", str(path))
    monkeypatch.setenv("TRADEBRIDGE_PROFILE_FILE", str(tmp_path / "none.toml"))
    with pytest.raises(ConfigError, match=r"python -m local.stack"):
        resolve()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://app.azurewebsites.net/api/", "https://app.azurewebsites.net"),
        ("http://127.0.0.1:7071", "http://127.0.0.1:7071"),
        ("https://app.example/api?code=SECRET", "https://app.example"),
    ],
)
def test_normalise_url_with_api_suffix_or_query_drops_them(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_normalise_url_with_no_scheme_refuses_without_echoing_a_key() -> None:
    with pytest.raises(ConfigError, match="not an http") as caught:
        normalise_url("app.example/api?code=SECRET")
    assert "SECRET" not in str(caught.value)
