"""``tradebridge signals --follow``: print each new signal once, as it arrives.

Every ``POLL_S`` the list is asked again (``GET /api/signals`` with ``since``), from the
server's own clock: the first answer's ``until`` marks the start, and each poll looks back
``OVERLAP`` before the last answer's ``until``, because the webhook journals an alert in the
background, a moment after it answered. What was printed is remembered (by id and receive
time: a duplicate shares its first alert's id), so a signal prints once, with the status it had
when it was first seen. On a terminal the signals fill a live table under a spinner; otherwise
each is one line (with ``--json``, one JSON object per line). Ctrl-C stops, as does ``--for``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.spinner import Spinner

from tradebridge_cli import views
from tradebridge_cli.client import OpsClient
from tradebridge_cli.errors import ConfigError

POLL_S = 1.0
OVERLAP = timedelta(seconds=30)
PAGE_LIMIT = 200
MAX_PAGES_PER_POLL = 5
COLUMNS = ("received", "id", "strategy", "intent", "symbol", "status", "reason")
_NOT_WITH_FOLLOW = ("since", "until", "cursor")


def _row(signal: dict[str, Any]) -> tuple[Any, ...]:
    codes = [str(a["reason_code"]) for a in signal.get("accounts") or [] if a.get("reason_code")]
    return (
        signal.get("received_at"),
        signal.get("id"),
        signal.get("strategy"),
        signal.get("intent"),
        signal.get("symbol"),
        signal.get("status"),
        signal.get("reason_code") or ", ".join(codes),
    )


def plain_line(signal: dict[str, Any]) -> str:
    """Render one signal as one line of text."""
    return "  ".join("-" if cell in (None, "") else str(cell) for cell in _row(signal))


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Follower:
    """Poll the signal list and hand each new signal to ``emit`` once, oldest first."""

    def __init__(self, client: OpsClient, filters: dict[str, Any]) -> None:
        self._client = client
        self._filters = filters
        first = client.get("signals", limit=1, **filters)
        self._start = _moment(str(first["until"]))
        self._until = self._start
        self._seen: dict[tuple[str, str], datetime] = {}

    def poll(self) -> list[dict[str, Any]]:
        """Return the signals received since the start that were not returned before."""
        since = max(self._start, self._until - OVERLAP)
        found: list[dict[str, Any]] = []
        cursor = None
        for _ in range(MAX_PAGES_PER_POLL):
            page = self._client.get(
                "signals", since=since.isoformat(), limit=PAGE_LIMIT, cursor=cursor,
                **self._filters,
            )  # fmt: skip
            if cursor is None:
                self._until = _moment(str(page["until"]))
            found += page.get("signals") or []
            cursor = page.get("next")
            if not cursor:
                break
        fresh = []
        for signal in reversed(found):  # the list is newest first
            key = (str(signal.get("id")), str(signal.get("received_at")))
            if key not in self._seen:
                self._seen[key] = _moment(key[1])
                fresh.append(signal)
        self._seen = {k: at for k, at in self._seen.items() if at >= since}
        return sorted(fresh, key=lambda s: str(s.get("received_at")))


def follow(
    client: OpsClient,
    filters: dict[str, Any],
    *,
    rows: int,
    for_s: float | None,
    as_json: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print new signals until Ctrl-C or ``for_s`` seconds; return how many were printed."""
    given = [name for name in _NOT_WITH_FOLLOW if filters.get(name)]
    if given:
        raise ConfigError(f"--{given[0]} does not go with --follow, which starts from now")
    wanted = {k: v for k, v in filters.items() if k not in (*_NOT_WITH_FOLLOW, "limit")}
    deadline = None if for_s is None else time.monotonic() + for_s
    printed = 0
    with _display(rows, live=views.console().is_terminal and not as_json) as show:
        try:
            follower = Follower(client, wanted)
            while deadline is None or time.monotonic() < deadline:
                for signal in follower.poll():
                    show(signal, as_json)
                    printed += 1
                wait = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
                if wait > 0:
                    sleep(wait)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how one stops following: not a failure
    return printed


@contextmanager
def _display(rows: int, *, live: bool) -> Iterator[Callable[[dict[str, Any], bool], None]]:
    if not live:

        def line(signal: dict[str, Any], as_json: bool) -> None:
            print(json.dumps(signal) if as_json else plain_line(signal), flush=True)

        yield line
        return
    shown: list[tuple[Any, ...]] = []
    waiting = Spinner("dots", text="following new signals (Ctrl-C to stop)")

    def draw() -> Group:
        return Group(views.table("signals", COLUMNS, shown), waiting)

    with Live(draw(), console=views.console(), refresh_per_second=8) as screen:

        def add(signal: dict[str, Any], _as_json: bool) -> None:
            shown.append(_row(signal))
            del shown[:-rows]
            screen.update(draw())

        yield add
