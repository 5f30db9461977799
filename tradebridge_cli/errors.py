"""The command line's failures; each message is one sentence and never holds a key.

::

    CliError            exit 1: a failure with a sentence saying what to do
     ├── ConfigError    exit 2: missing or unusable configuration (cli.config)
     ├── Unreachable    exit 3: nothing answered at the URL (refused, unknown host, timeout)
     └── ApiError       exit 1: the API refused; ``code`` and ``message`` from its body
"""

from __future__ import annotations

from typing import Any


class CliError(Exception):
    """A failure the command line reports as one sentence and an exit status."""

    exit_code = 1


class ConfigError(CliError):
    """The configuration is missing or unusable; the message says what to do."""

    exit_code = 2


class Unreachable(CliError):
    """Nothing answered at the URL."""

    exit_code = 3


class ApiError(CliError):
    """The API refused with ``{code, message}``; ``body`` is the whole answer."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.body = body
