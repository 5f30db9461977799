"""Write the TradingView alert for a strategy: ``GET /api/strategies/{id}/alert-template``.

The message is built for one of the formats the webhook reads (``native``,
``traderspost``, ``pickmytrade``, ``crosstrade``; ``shared.domain.alerts``) and one action:

* ``entry``: open or add on the side ``{{strategy.order.action}}`` names, with
  ``{{strategy.order.contracts}}`` contracts. A strategy's own alerts fire on every fill, exits
  included, and read this way an exit's sell would be an opposite entry: ``entry`` suits alerts
  that fire on entries only (use ``target`` for a strategy's own alerts);
* ``exit``: leave the whole position on the chart's symbol (native and TradersPost ``exit``,
  PickMyTrade ``close``, CrossTrade ``CLOSEPOSITION``);
* ``target``: the strategy's position after the order (``{{strategy.market_position}}`` and
  the signed ``{{strategy.position_size}}``), so the executor trades the difference to the
  broker's position: a missed alert heals itself and a reversal is one order. Every format
  here carries it: native and PickMyTrade as ``market_position``/``position_size``, TradersPost
  as ``sentiment`` (its own field) with ``positionSize``, CrossTrade as ``sync_strategy`` with
  ``market_position`` and ``target_quantity``.

The symbol is always ``{{ticker}}``: the alert follows its chart, and the strategy's symbol
map turns what the chart says into what trades. No template names accounts: every enabled
account of the strategy trades, with its multiplier; the notes say which. Quantities,
brackets, order type and time in force the alert leaves out come from the strategy's defaults.

The secret goes in the field each format reads it from (``secret``, PickMyTrade ``token``,
CrossTrade ``key``). Unless it is given (``reveal``), the message carries ``MASK`` there: only
the answer of a ``reveal=true`` request holds a secret: :class:`AlertTemplates` reads it from
the deployment's secret store then, and only then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.errors import Conflict, InvalidRequest, NotFound
from shared.ports import SecretStore
from shared.strategies import Strategy, StrategyBook

FORMATS = ("native", "traderspost", "pickmytrade", "crosstrade")
ACTIONS = ("entry", "exit", "target")
MASK = "********"

TICKER = "{{ticker}}"
ACTION = "{{strategy.order.action}}"
CONTRACTS = "{{strategy.order.contracts}}"
CLOSE = "{{close}}"
TIMENOW = "{{timenow}}"
ORDER_ID = "{{strategy.order.id}}"
MARKET_POSITION = "{{strategy.market_position}}"
POSITION_SIZE = "{{strategy.position_size}}"
PREV_MARKET_POSITION = "{{strategy.prev_market_position}}"
PLACEHOLDERS = (
    TICKER, ACTION, CONTRACTS, CLOSE, TIMENOW, ORDER_ID, MARKET_POSITION, POSITION_SIZE,
    PREV_MARKET_POSITION,
)  # fmt: skip

_SECRET_FIELD = {"native": "secret", "traderspost": "secret", "pickmytrade": "token",
                 "crosstrade": "key"}  # fmt: skip
# CrossTrade pairs end at ";" or a line break, and the reader trims each value.
_TEXT_BREAKERS = (";", "\n", "\r")


@dataclass(frozen=True, slots=True)
class TemplateRequest:
    """A validated template request."""

    strategy_id: str
    format: str
    action: str
    reveal: bool


def read_request(strategy_id: str, params: Mapping[str, str], reveal: bool) -> TemplateRequest:
    """Validate the format and action (400 ``bad_filter``; defaults native and entry)."""
    fmt = params.get("format") or "native"
    action = params.get("action") or "entry"
    if fmt not in FORMATS:
        raise InvalidRequest(
            f"format is one of {', '.join(FORMATS)}", code="bad_filter", field="format"
        )
    if action not in ACTIONS:
        raise InvalidRequest(
            f"action is one of {', '.join(ACTIONS)}", code="bad_filter", field="action"
        )
    return TemplateRequest(strategy_id, fmt, action, reveal)


def strategy_of(book: StrategyBook, strategy_id: str) -> Strategy:
    """Return the strategy (404 ``unknown_strategy``)."""
    strategy = book.get(strategy_id)
    if strategy is None:
        raise NotFound(f"no strategy {strategy_id!r} in the strategy file", code="unknown_strategy")
    return strategy


def _native(action: str) -> dict[str, str]:
    if action == "exit":
        return {"intent": "exit", "symbol": TICKER, "signal_price": CLOSE, "time": TIMENOW}
    body = {"intent": ACTION, "symbol": TICKER, "quantity": CONTRACTS, "signal_price": CLOSE}
    if action == "target":
        body |= {
            "market_position": MARKET_POSITION,
            "position_size": POSITION_SIZE,
            "prev_market_position": PREV_MARKET_POSITION,
        }
    return body | {"time": TIMENOW, "alert_id": f"{ORDER_ID}-{TIMENOW}"}


def _traderspost(action: str) -> dict[str, str]:
    if action == "exit":
        return {"ticker": TICKER, "action": "exit", "signalPrice": CLOSE, "time": TIMENOW}
    body = {"ticker": TICKER, "action": ACTION, "quantity": CONTRACTS}
    if action == "target":
        body |= {"sentiment": MARKET_POSITION, "positionSize": POSITION_SIZE}
    return body | {"signalPrice": CLOSE, "time": TIMENOW}


def _pickmytrade(action: str) -> dict[str, str]:
    if action == "exit":
        return {"symbol": TICKER, "date": TIMENOW, "data": "close"}
    body = {"symbol": TICKER, "date": TIMENOW, "data": ACTION, "quantity": CONTRACTS}
    body |= {"price": CLOSE, "order_type": "MKT"}
    if action == "target":
        body |= {"market_position": MARKET_POSITION, "position_size": POSITION_SIZE}
    return body


def _crosstrade(action: str) -> list[tuple[str, str]]:
    if action == "exit":
        return [("command", "CLOSEPOSITION"), ("instrument", TICKER)]
    pairs = [("command", "PLACE"), ("instrument", TICKER), ("action", ACTION), ("qty", CONTRACTS)]
    if action == "target":
        pairs += [
            ("sync_strategy", "true"),
            ("market_position", MARKET_POSITION),
            ("prev_market_position", PREV_MARKET_POSITION),
            ("target_quantity", POSITION_SIZE),
        ]
    return pairs


def _message(fmt: str, action: str, secret: str) -> str:
    field = _SECRET_FIELD[fmt]
    if fmt == "crosstrade":
        if any(mark in secret for mark in _TEXT_BREAKERS) or secret != secret.strip():
            raise Conflict(
                "the strategy's secret holds a ';', a line break or surrounding blanks, which "
                "the crosstrade key=value; format cannot carry: use a JSON format",
                code="secret_unfit_for_format",
            )
        pairs = [(field, secret), *_crosstrade(action)]
        return "\n".join(f"{key}={value};" for key, value in pairs)
    builders = {"native": _native, "traderspost": _traderspost, "pickmytrade": _pickmytrade}
    body = builders[fmt](action)
    ordered = {field: secret, **body} if fmt != "pickmytrade" else {**body, field: secret}
    return json.dumps(ordered, indent=2)


def _notes(strategy: Strategy, request: TemplateRequest) -> list[str]:
    accounts = [f"{a.name} x{a.multiplier}" for a in strategy.accounts if a.enabled]
    notes = [f"trades every enabled account of {strategy.id}: {', '.join(accounts) or 'none'}"]
    if strategy.symbols:
        mapped = ", ".join(f"{alert} -> {traded}" for alert, traded in strategy.symbols.items())
        notes.append(f"put the alert on a chart of the symbol to trade; mapped: {mapped}")
    if strategy.risk.symbols:
        notes.append(f"traded roots allowed: {', '.join(strategy.risk.symbols)}")
    d = strategy.defaults
    if request.action == "exit":
        notes.append("exits the whole position on the chart's contract")
    else:
        notes.append(
            f"left out, the strategy's defaults apply: quantity {d.quantity}, "
            f"order type {d.order_type}, time in force {d.time_in_force}"
            + (", its bracket" if d.brackets() else "")
        )
    if request.action == "entry":
        notes.append(
            "a strategy's own alerts fire on exits too, which this message would read as "
            "opposite entries: use --action target for them; on an indicator alert, write "
            f"buy or sell for {ACTION} and a number for {CONTRACTS}"
        )
    if not strategy.enabled:
        notes.append("the strategy file disables this strategy: the webhook refuses its alerts")
    return notes


def template(
    strategy: Strategy, request: TemplateRequest, base_url: str, secret: str | None
) -> dict[str, Any]:
    """Return the template: the webhook URL (without its key), the message and notes.

    ``secret`` is written into the message when given; otherwise ``MASK`` stands there.
    """
    path = f"/api/webhook/{strategy.id}"
    message = _message(request.format, request.action, MASK if secret is None else secret)
    used: Sequence[str] = [p for p in PLACEHOLDERS if p in message]
    return {
        "strategy": strategy.id,
        "format": request.format,
        "action": request.action,
        "webhook_path": path,
        "url": base_url.rstrip("/") + path,
        "key_parameter": "code",
        "content_type": "text/plain" if request.format == "crosstrade" else "application/json",
        "secret_field": _SECRET_FIELD[request.format],
        "secret_included": secret is not None,
        "message": message,
        "placeholders": list(used),
        "notes": _notes(strategy, request),
    }


class AlertTemplates:
    """Build a strategy's alert template, with its secret read only when it is revealed."""

    def __init__(self, strategies: StrategyBook, secrets: SecretStore) -> None:
        self._strategies = strategies
        self._secrets = secrets

    async def render(self, request: TemplateRequest, base_url: str) -> dict[str, Any]:
        """Return the template; with ``reveal`` it holds the webhook secret (never log it)."""
        strategy = strategy_of(self._strategies, request.strategy_id)
        secret = None
        if request.reveal:
            ref = strategy.secret
            secret = await self._secrets.get_secret(ref.key_vault_name, ref.env_name)
        return template(strategy, request, base_url, secret)
