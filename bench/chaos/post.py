"""Post the chaos run's alerts to the webhook over HTTP, as TradingView and a user would.

Streams run concurrently; within one, an alert is posted only once the previous one was
accepted, because the oracle replays each instrument's alerts in order: the webhook answers
202 after the durable enqueue, so "accepted" fixes the order on the queue. (A "duplicate"
answer to a double fire can arrive before the accepted copy's enqueue finished, so the stream
waits for every copy posted together.) A 5xx, a timeout or a refused connection (Redis
restarting) is retried with the identical body after a short back-off, as TradingView does,
until a deadline; the later re-sends are posted in the background and never retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chaos.alerts import Alert

_RETRY_STATUSES = frozenset({408, 429})


@dataclass
class Posted:
    """Every answer the webhook gave one alert's copies."""

    alert: Alert
    accepted: list[str] = field(default_factory=list)  # signal ids answered "accepted"
    duplicates: list[str] = field(default_factory=list)  # ids answered "duplicate"
    failures: int = 0  # 5xx, timeouts, refused connections
    refusals: list[str] = field(default_factory=list)  # other 4xx: status and error code
    resends: int = 0  # identical copies posted beyond the first
    retries: int = 0  # posts repeated after a failure
    answers: list[str] = field(default_factory=list)  # every answer, in order: "503 code"...

    @property
    def signal_id(self) -> str | None:
        """Return the alert's signal id, if any answer named it."""
        found = self.accepted or self.duplicates
        return found[0] if found else None

    def record(self, status: int | None, answer: Any) -> None:
        """Count one answer (None: no HTTP answer at all)."""
        code = answer.get("status") or answer.get("code") if isinstance(answer, dict) else None
        self.answers.append(f"{status or 'no answer'} {code or ''}".strip())
        if status == 202 and isinstance(answer, dict) and isinstance(answer.get("id"), str):
            target = self.accepted if answer.get("status") == "accepted" else self.duplicates
            target.append(answer["id"])
        elif status is None or status >= 500 or status in _RETRY_STATUSES:
            self.failures += 1
        else:
            self.refusals.append(f"{status} {code}")


async def _post(client: httpx.AsyncClient, url: str, body: bytes) -> tuple[int | None, Any]:
    try:
        response = await client.post(url, content=body)
    except httpx.HTTPError:
        return None, None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return response.status_code, answer


async def _until_accepted(
    client: httpx.AsyncClient, url: str, posted: Posted, copies: int, deadline: float
) -> None:
    attempt = 0
    while True:
        answers = await asyncio.gather(
            *(_post(client, url, posted.alert.body) for _ in range(copies))
        )
        for status, answer in answers:
            posted.record(status, answer)
        if posted.signal_id is not None or posted.refusals or time.monotonic() > deadline:
            return
        copies = 1
        posted.retries += 1
        await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        attempt += 1


async def _later(
    client: httpx.AsyncClient, url: str, posted: Posted, delays_s: Sequence[float]
) -> None:
    started = time.monotonic()
    for delay in delays_s:
        await asyncio.sleep(max(0.0, started + delay - time.monotonic()))
        posted.resends += 1
        posted.record(*await _post(client, url, posted.alert.body))


async def _stream(
    client: httpx.AsyncClient, url: str, alerts: Sequence[Alert], deadline_s: float
) -> list[Posted]:
    done: list[Posted] = []
    later: list[asyncio.Task[None]] = []
    for alert in alerts:
        await asyncio.sleep(alert.pause_s)
        posted = Posted(alert)
        copies = 2 if alert.double_fire else 1
        posted.resends += copies - 1
        await _until_accepted(client, url, posted, copies, time.monotonic() + deadline_s)
        if alert.resend_after_s:
            later.append(asyncio.create_task(_later(client, url, posted, alert.resend_after_s)))
        done.append(posted)
    await asyncio.gather(*later)
    return done


async def post_streams(
    streams: Sequence[Sequence[Alert]], url_of: Callable[[str], str], deadline_s: float = 60.0
) -> list[Posted]:
    """Post every stream concurrently; return each alert's answers, stream by stream."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(timeout=10, limits=limits, headers=headers) as client:
        results = await asyncio.gather(
            *(_stream(client, url_of(s[0].strategy), s, deadline_s) for s in streams if s)
        )
    return [posted for stream in results for posted in stream]
