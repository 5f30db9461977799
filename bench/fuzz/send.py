"""Send the planned requests to the webhook, judge each answer, and re-send the slow ones."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import replace
from urllib.parse import quote

import httpx

from bench.fuzz.categories import build
from bench.fuzz.invariants import SLOW_MS, Result, judge
from bench.fuzz.requests import Ctx, FuzzRequest, Shape

TIMEOUT_S = 3.0  # TradingView cancels a webhook that takes longer (tradingview.md §3)
RECHECKS = 3


class Sender:
    """Send requests to the webhook and keep the per-shape breaker."""

    def __init__(self, functions_url: str, ctx: Ctx, client: httpx.AsyncClient) -> None:
        self._url = functions_url.rstrip("/")
        self._ctx = ctx
        self._client = client
        self.tripped: set[str] = set()

    def _request(self, spec: Shape) -> httpx.Request:
        key = self._ctx.function_key if spec.key == "" else spec.key
        headers = [(k.encode(), v) for k, v in spec.headers]
        if spec.content_type is not None:
            headers.append((b"content-type", spec.content_type.encode()))
        params = {}
        if key is not None and spec.key_in_header:
            headers.append((b"x-functions-key", key.encode()))
        elif key is not None:
            params["code"] = key
        url = f"{self._url}/api/webhook/{quote(spec.strategy, safe='%')}"
        return self._client.build_request(
            "POST", url, params=params, headers=headers, content=spec.body
        )

    async def send(self, request: FuzzRequest) -> Result:
        """Send one request and judge its answer."""
        result = Result(request)
        answer = ""
        started = time.perf_counter()
        try:
            response = await self._client.send(self._request(request.spec))
        except httpx.TimeoutException:
            result.error = "timeout"
        except httpx.HTTPError as exc:
            result.error = f"transport_error:{type(exc).__name__}"
        else:
            result.status = response.status_code
            answer = response.text
            result.answer = answer[:2000]
            own = response.headers.get("x-process-time-ms")
            result.own_ms = float(own) if own else None
        result.wall_ms = (time.perf_counter() - started) * 1000
        judge(result, answer)
        if result.error == "timeout":
            self.tripped.add(request.name)
            await self.wait_healthy()
        return result

    async def wait_healthy(self, timeout_s: float = 60.0) -> None:
        """Wait until the host answers its health check again (its loop is free)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (
                    await self._client.get(f"{self._url}/api/health", timeout=1.0)
                ).status_code == 200:
                    return
            await asyncio.sleep(0.25)


async def fire(
    functions_url: str,
    ctx: Ctx,
    order: list[tuple[str, int]],
    concurrency: int,
    budget_s: float | None,
) -> tuple[list[Result], Counter[str]]:
    """Build and send every request in ``order`` (skipping tripped shapes and whatever is left
    past the budget); only the bodies of requests that broke something are kept."""
    results: list[Result] = []
    skipped: Counter[str] = Counter()
    queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    for item in order:
        queue.put_nowait(item)
    deadline = time.monotonic() + budget_s if budget_s else None
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits) as client:
        sender = Sender(functions_url, ctx, client)
        await sender.wait_healthy()

        async def worker() -> None:
            while not queue.empty():
                request = build(ctx, *queue.get_nowait())
                late = deadline is not None and time.monotonic() > deadline
                if late or request.name in sender.tripped:
                    skipped[request.category] += 1
                    continue
                result = await sender.send(request)
                if not result.violations:  # 4 MiB bodies add up over a large run
                    result.request = replace(request, spec=replace(request.spec, body=b""))
                results.append(result)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await recheck_slow(sender, results)
    return results, skipped


async def recheck_slow(sender: Sender, results: list[Result]) -> None:
    """Send every slow request again, alone; slow only once is contention, not the shape.

    ``X-Process-Time-ms`` is the function's elapsed time, so a process that the machine's
    scheduler left waiting (two cores shared by every part of the stack and whatever else
    runs) reports it too. A request that is fast in any of three re-sends is marked
    ``slow_once`` and not counted; one that is slow every time is.
    """
    for result in results:
        if "slow" not in result.violations or result.own_ms is None:
            continue
        for _ in range(RECHECKS):
            again = await sender.send(result.request)
            if again.signal_id:  # a re-sent alert without an explicit id may be a new signal
                result.resent_ids.append(again.signal_id)
            if again.own_ms is not None and again.own_ms <= SLOW_MS:
                result.violations.remove("slow")
                result.notes.append(f"slow_once (re-sent: {again.own_ms:.1f} ms)")
                break
