"""The two forwarders Tradebridge is measured against: each places an alert's orders at once.

Both run as functions of the bench-only app in ``bench/forwarders`` (``function_app.py``),
loaded by the same dev host that runs Tradebridge's app:

- **direct**: an HTTP function that reads the alert, checks its secret and places one
  market order per account (``BENCH_DIRECT_ACCOUNTS``) at Tradovate, the orders concurrently,
  then answers. Nothing is durable: if the process dies mid-request the alert is gone.
- **durable**: a Service Bus session-queue function on ``%BENCH_FORWARD_QUEUE%``, fed by
  Tradebridge's own webhook (its strategy's accounts fanned out, one message each, through
  the same local queue), that places each message's order and completes it. No facts, no
  ledger, no plan: the cost of the design's queue hop and nothing else.

Both share ``OrderPlacer``: one login per process (the first order waits for it), a contract
per instrument root handed in by the benchmark (``BENCH_CONTRACTS``, JSON), and Tradebridge's
own Tradovate transport (``TradovateHttp``), so the three designs place orders through the
same HTTP stack and differ only in what happens before the request. Each order's moments are
taken on this process's clock (epoch seconds):
``started`` (the function began), ``sent`` (just before the placeorder request, as the
executor's ledger stamps ``sent_at``) and ``acked`` (the answer read). The direct forwarder
answers them to its caller; the durable one pushes them, after the order, to the Redis list
``BENCH_RECORD_KEY`` for the benchmark to collect.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Any

import azure.functions as func
import redis.asyncio as aioredis

from shared.adapters.tradovate.transport import RestConfig, TradovateHttp

RECORD_KEY = "bench:forwarded"


@dataclass(frozen=True, slots=True)
class Placed:
    """One order placed by a forwarder, with its moments on the forwarder's clock."""

    account_id: int
    order_id: int | None
    started: float
    sent: float
    acked: float


class OrderPlacer:
    """Place one-lot market buys at Tradovate with a token from one login per process."""

    def __init__(self, base_url: str, credentials: Mapping[str, Any], contracts: Mapping[str, str]):
        self._credentials = dict(credentials)
        self._contracts = dict(contracts)
        self._http = TradovateHttp(
            RestConfig(base_url=base_url, timeout_s=10.0, max_connections=200)
        )
        self._token: str | None = None
        self._login = asyncio.Lock()

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> OrderPlacer:
        """Build from the executor's Tradovate settings plus ``BENCH_CONTRACTS``."""
        credentials = {
            "name": env["TRADOVATE_USERNAME"],
            "password": env["TRADOVATE_PASSWORD"],
            "cid": int(env["TRADOVATE_CID"]),
            "sec": env["TRADOVATE_SEC"],
            "appId": "bench-forwarder",
            "appVersion": "1",
            "deviceId": env.get("TRADOVATE_DEVICE_ID", "bench") + "-forwarder",
        }
        return cls(env["TRADOVATE_BASE_URL"], credentials, json.loads(env["BENCH_CONTRACTS"]))

    async def _signed_in(self) -> str:
        if self._token is None:
            async with self._login:
                if self._token is None:
                    answer = await self._http.call(
                        "auth/accesstokenrequest",
                        token=None,
                        body=self._credentials,
                        idempotent=False,
                    )
                    self._token = str(answer["accessToken"])
        return self._token

    async def place(self, account_id: int, root: str, started: float) -> Placed:
        """Buy one lot of ``root``'s contract for ``account_id``; raise if Tradovate refuses
        (``BrokerRejected``)."""
        token = await self._signed_in()
        body = {
            "accountId": account_id,
            "action": "Buy",
            "symbol": self._contracts[root],
            "orderQty": 1,
            "orderType": "Market",
            "isAutomated": True,
        }
        sent = time.time()
        data = await self._http.call("order/placeorder", token=token, body=body, idempotent=False)
        acked = time.time()
        order_id = data.get("orderId")
        return Placed(
            account_id, order_id if isinstance(order_id, int) else None, started, sent, acked
        )

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()


_placer: OrderPlacer | None = None
_redis: aioredis.Redis | None = None


def _get_placer() -> OrderPlacer:
    global _placer  # one per process, like the app's container
    if _placer is None:
        _placer = OrderPlacer.from_environment(os.environ)
    return _placer


def _get_redis() -> aioredis.Redis:
    global _redis  # one per process
    if _redis is None:
        _redis = aioredis.Redis.from_url(os.environ["REDIS_URL"])
    return _redis


def instrument_root(symbol: str) -> str:
    """Return the root of a TradingView continuous symbol (``MNQ1!`` -> ``MNQ``)."""
    bare = symbol.rsplit(":", 1)[-1]
    return bare[:-2] if bare.endswith(("1!", "2!")) else bare


async def forward_direct(req: func.HttpRequest) -> func.HttpResponse:
    """Place the alert's orders, one per account, and answer with their moments."""
    started = time.time()
    try:
        alert = json.loads(req.get_body())
        strategy = req.route_params.get("strategy", "")
        expected = os.environ.get(f"WEBHOOK_{strategy.upper()}", "")
        given = str(alert.get("secret", ""))
        root = instrument_root(str(alert["symbol"]))
    except (ValueError, KeyError, AttributeError):
        return _answer({"code": "invalid_request", "message": "not an alert"}, 400)
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return _answer({"code": "unauthorized", "message": "wrong secret"}, 401)
    accounts = [int(a) for a in os.environ["BENCH_DIRECT_ACCOUNTS"].split(",")]
    placer = _get_placer()
    placed = await asyncio.gather(*(placer.place(a, root, started) for a in accounts))
    return _answer({"orders": [asdict(p) for p in placed]}, 200)


def _answer(body: Mapping[str, Any], status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


async def forward_durable(msg: func.ServiceBusMessage) -> None:
    """Place one queued signal's order for its account, then record its moments."""
    started = time.time()
    envelope = json.loads(msg.get_body())
    root = str(msg.application_properties["root"])
    placed = await _get_placer().place(int(envelope["account_id"]), root, started)
    enqueued = msg.enqueued_time_utc
    if enqueued is not None and enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=UTC)  # the host gives UTC without saying so
    record = {
        **asdict(placed),
        "signal_id": envelope["signal_id"],
        "account": envelope["account"],
        "enqueued": enqueued.timestamp() if enqueued is not None else None,
    }
    await _get_redis().rpush(os.environ.get("BENCH_RECORD_KEY", RECORD_KEY), json.dumps(record))
