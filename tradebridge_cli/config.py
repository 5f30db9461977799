"""Where the command line finds the deployment: its URL and keys.

Each value comes from the first source that has it: a flag (``--url``, ``--key``,
``--master-key``), the environment (``TRADEBRIDGE_URL``, ``TRADEBRIDGE_KEY``,
``TRADEBRIDGE_MASTER_KEY``), then a profile in the profile file (``[profiles.NAME]``, name from
``--profile`` / ``TRADEBRIDGE_PROFILE``, default ``default``; the file is
``$TRADEBRIDGE_PROFILE_FILE`` or ``$XDG_CONFIG_HOME/tradebridge/profile.toml`` and is refused
unless only its owner can read it). When none of them names a URL, the running local stack
answers: ``python -m local.stack`` records its URLs in ``.tools/run/stack.json`` (or
``$TRADEBRIDGE_STACK_STATE``) and its keys are in the settings file it names.

Every failure is a :class:`ConfigError` whose message is one sentence: what is wrong and what
to do. No message ever holds a key.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tradebridge_cli.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STACK_STATE = REPO_ROOT / ".tools" / "run" / "stack.json"
START_STACK = "start it with `python -m local.stack`, or pass --url and --key"


@dataclass(frozen=True)
class Config:
    """Where to send requests and with which keys (``repr`` never shows a key)."""

    url: str
    key: str | None
    master_key: str | None
    source: str  # "flags", "environment", "profile NAME", "local stack"
    settings: Path | None = None  # the local stack's settings file, when it answered

    def __repr__(self) -> str:
        return f"Config(url={self.url!r}, source={self.source!r})"


def profile_path(env: Mapping[str, str]) -> Path:
    """Return the profile file's path for this environment."""
    if env.get("TRADEBRIDGE_PROFILE_FILE"):
        return Path(env["TRADEBRIDGE_PROFILE_FILE"])
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else None
    if base is None:
        base = Path(env.get("HOME") or Path.home()) / ".config"
    return base / "tradebridge" / "profile.toml"


def read_profile(path: Path, name: str, *, required: bool) -> dict[str, str]:
    """Return one profile's ``url``/``key``/``master_key``, refusing a file others can read."""
    if not path.exists():
        if required:
            raise ConfigError(f"profile file {path} does not exist: create it or drop --profile")
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"profile file {path} is readable by others (mode {mode:04o}) and holds keys: "
            f"run `chmod 600 {path}`"
        )
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"profile file {path} is not valid TOML ({exc}): fix it") from None
    profiles = document.get("profiles", {})
    profile = profiles.get(name) if isinstance(profiles, dict) else None
    if profile is None:
        if required:
            raise ConfigError(f"profile file {path} has no [profiles.{name}]: add it")
        return {}
    unknown = sorted(set(profile) - {"url", "key", "master_key"})
    if unknown or not all(isinstance(v, str) for v in profile.values()):
        raise ConfigError(
            f"[profiles.{name}] in {path} may hold only url, key and master_key as strings"
        )
    return dict(profile)


def _stack_state(env: Mapping[str, str]) -> dict[str, Any]:
    path = Path(env.get("TRADEBRIDGE_STACK_STATE") or DEFAULT_STACK_STATE)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no deployment is configured and no local stack runs: {START_STACK}"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the local stack's state file {path} ({exc})") from None
    pid = state.get("pid") if isinstance(state, dict) else None
    if not isinstance(pid, int) or not _alive(pid):
        raise ConfigError(f"the local stack is not running (stale {path}): {START_STACK}")
    return dict(state)


def running_stack(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """Return the running local stack's state (pid, URLs, log folder), or None if none runs."""
    try:
        return _stack_state(os.environ if env is None else env)
    except ConfigError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _local_stack(env: Mapping[str, str]) -> tuple[str, dict[str, str], Path]:
    state = _stack_state(env)
    urls = state.get("urls") or {}
    url, settings = urls.get("functions"), urls.get("settings")
    if not isinstance(url, str) or not isinstance(settings, str):
        raise ConfigError("the local stack's state names no functions URL or settings: restart it")
    try:
        values = json.loads(Path(settings).read_text(encoding="utf-8")).get("Values", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"cannot read the local stack's settings {settings} ({exc})") from None
    keys = [k.strip() for k in str(values.get("DEVHOST_FUNCTION_KEYS", "")).split(",")]
    return (
        url,
        {
            "key": next((k for k in keys if k), ""),
            "master_key": values.get("DEVHOST_MASTER_KEY", ""),
        },
        Path(settings),
    )


def resolve(
    *,
    url: str | None = None,
    key: str | None = None,
    master_key: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Merge flags, environment, profile and the local stack into one :class:`Config`."""
    env = os.environ if env is None else env
    name = profile or env.get("TRADEBRIDGE_PROFILE") or "default"
    required = bool(profile or env.get("TRADEBRIDGE_PROFILE"))
    from_profile = read_profile(profile_path(env), name, required=required)
    layers: list[tuple[str, Mapping[str, str | None]]] = [
        ("flags", {"url": url, "key": key, "master_key": master_key}),
        (
            "environment",
            {
                "url": env.get("TRADEBRIDGE_URL"),
                "key": env.get("TRADEBRIDGE_KEY"),
                "master_key": env.get("TRADEBRIDGE_MASTER_KEY"),
            },
        ),
        (f"profile {name}", from_profile),
    ]
    found: dict[str, str] = {}
    source = ""
    for label, layer in layers:
        for field in ("url", "key", "master_key"):
            value = layer.get(field)
            if value and field not in found:
                found[field] = value
                if field == "url":
                    source = label
    settings = None
    if "url" not in found:
        stack_url, stack_keys, settings = _local_stack(env)
        found["url"], source = stack_url, "local stack"
        for field, value in stack_keys.items():
            if value:
                found.setdefault(field, value)
    return Config(
        url=normalise_url(found["url"]),
        key=found.get("key"),
        master_key=found.get("master_key"),
        source=source,
        settings=settings,
    )


def normalise_url(url: str) -> str:
    """Return the base URL without ``/api``, a trailing slash or a query (``?code=`` is a key)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{safe_url(url)!r} is not an http(s) URL: pass the deployment's base URL, "
            "e.g. https://<app>.azurewebsites.net"
        )
    path = parts.path.rstrip("/")
    path = path.removesuffix("/api")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def safe_url(url: str) -> str:
    """Return the URL without a query or user info, for messages."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
