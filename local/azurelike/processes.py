"""The environment a platform gives an app: its app settings and a few basics, nothing else.

(``local.services.ReadyLineProcess`` takes the working directory and the log path.)"""

from __future__ import annotations

import os

# What a platform worker inherits besides the app settings: a PATH, a home, a locale, a temp dir.
_PLATFORM_NAMES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def platform_environment(settings: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """Return a process environment of only the platform basics, the app settings and
    ``extra`` (identity endpoint, trust store, ...): nothing else of this shell leaks in."""
    base = {name: os.environ[name] for name in _PLATFORM_NAMES if name in os.environ}
    return {**base, **settings, **extra}
