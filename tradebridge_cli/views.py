"""Draw the ops API's answers for people: rich tables, and the timeline as bars.

Each ``render_*`` takes the answer's JSON and returns renderables, so tests can render them to
plain text. Colour comes from rich, which turns it off when stdout is not a terminal (and when
``NO_COLOR`` is set).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 40
STATE_STYLES = {
    "enabled": "green",
    "ok": "green",
    "ready": "green",
    "done": "green",
    "fresh": "green",
    "paused": "yellow",
    "degraded": "yellow",
    "partial": "yellow",
    "stale": "yellow",
    "queued": "yellow",
    "executing": "yellow",
    "stopped": "red",
    "down": "red",
    "not_ready": "red",
    "denied": "red",
    "rejected": "red",
    "refused": "red",
    "missing": "red",
}


def console(file: TextIO | None = None) -> Console:
    """Return a console on stdout; colour only on a terminal."""
    return Console(file=file or sys.stdout, highlight=False, soft_wrap=True)


def dump_json(body: Any, file: TextIO | None = None) -> None:
    """Print an answer as indented JSON, for scripts."""
    print(json.dumps(body, indent=2, sort_keys=False), file=file or sys.stdout)


def styled(value: Any) -> Text:
    """Return a value as text, coloured by what it says (``paused`` yellow, ``down`` red)."""
    text = "" if value is None else str(value)
    return Text(text, style=STATE_STYLES.get(text, ""))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """Return a table; cells that name a state are coloured."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(styled(cell) for cell in row))
    return out


def _by(change: dict[str, Any]) -> str:
    by = change.get("by") or {}
    return str(by.get("actor") or by.get("key") or "")


def render_status(trading: dict[str, Any], health: dict[str, Any]) -> list[RenderableType]:
    """Draw ``trading/status`` and ``health/ready`` together."""
    head = Text("trading: ")
    head.append_text(styled(trading.get("trading")))
    head.append("   health: ")
    head.append_text(styled(health.get("status")))
    out: list[RenderableType] = [head]
    glob = trading.get("global") or {}
    if glob.get("state") != "enabled":
        out.append(Text(f"global: {glob.get('state')} ({glob.get('reason', '')})", style="red"))
    out.append(
        table(
            "strategies",
            ("strategy", "state", "reason", "since", "by", "accounts"),
            (
                (
                    s.get("id"),
                    s.get("state"),
                    s.get("reason"),
                    s.get("at"),
                    _by(s),
                    ", ".join(s.get("accounts") or []),
                )
                for s in trading.get("strategies") or []
            ),
        )
    )
    out.append(
        table(
            "accounts",
            ("account", "id", "state", "reason", "strategies"),
            (
                (
                    a.get("name"),
                    a.get("id"),
                    a.get("state"),
                    a.get("reason"),
                    ", ".join(a.get("strategies") or []),
                )
                for a in trading.get("accounts") or []
            ),
        )
    )
    checks = health.get("checks") or {}
    out.append(
        table(
            "health",
            ("part", "status", "latency ms", "detail"),
            (
                (name, c.get("status"), c.get("latency_ms"), c.get("detail"))
                for name, c in checks.items()
                if isinstance(c, dict)
            ),
        )
    )
    return out


def render_change(action: str, body: dict[str, Any]) -> list[RenderableType]:
    """Draw the answer of a pause, stop, enable or flatten."""
    out: list[RenderableType] = []
    scope = body.get("scope") or {}
    where = scope.get("kind", "")
    if scope.get("name"):
        where = f"{where} {scope['name']}"
    if "switch" in body or "previous" in body:
        changed = "changed" if body.get("changed", True) else "unchanged (already so)"
        state = (body.get("switch") or {}).get("state", "enabled")
        out.append(Text(f"{action} {where}: {state}, {changed}"))
    if body.get("warning"):
        out.append(Text(f"warning: {body['warning']}", style="yellow"))
    flatten = body.get("flatten") if "flatten" in body else body if "queued" in body else None
    if isinstance(flatten, dict):
        queued = flatten.get("queued") or []
        out.append(Text(f"flatten {flatten.get('request_id', '')}: {len(queued)} queued"))
        if queued:
            out.append(
                table(
                    None,
                    ("account", "contract", "net pos", "working", "signal"),
                    (
                        (
                            q.get("account"),
                            q.get("contract"),
                            q.get("net_pos"),
                            q.get("working_orders"),
                            q.get("signal_id"),
                        )
                        for q in queued
                    ),
                )
            )
    return out


def _source(body: dict[str, Any]) -> Text:
    age = body.get("age_s")
    line = f"source: {body.get('source')}"
    if age is not None:
        line += f", {age} s old"
    if body.get("reason"):
        line += f" ({body['reason']})"
    return Text(line, style="dim")


def render_positions(body: dict[str, Any]) -> list[RenderableType]:
    """Draw ``/api/positions``."""
    rows = (
        (
            p.get("account"),
            p.get("contract"),
            p.get("net_pos"),
            p.get("net_price"),
            p.get("mark"),
            p.get("open_pnl"),
        )
        for p in body.get("positions") or []
    )
    columns = ("account", "contract", "net pos", "price", "mark", "open P&L")
    return [table("positions", columns, rows), _source(body)]


def render_orders(body: dict[str, Any]) -> list[RenderableType]:
    """Draw ``/api/orders``."""
    rows = (
        (
            o.get("account"),
            o.get("order_id"),
            o.get("contract"),
            o.get("side"),
            o.get("qty", o.get("filled_qty")),
            o.get("order_type"),
            o.get("price") or o.get("stop_price"),
            o.get("status"),
            o.get("cl_ord_id"),
        )
        for o in body.get("orders") or []
    )
    columns = ("account", "order", "contract", "side", "qty", "type", "price", "status", "clOrdId")
    return [table("orders", columns, rows), _source(body)]


def render_balance(body: dict[str, Any]) -> list[RenderableType]:
    """Draw ``/api/balance``."""
    rows = (
        (
            b.get("account"),
            b.get("amount"),
            b.get("realized_pnl"),
            b.get("open_pnl"),
            b.get("net_liq"),
        )
        for b in body.get("balances") or []
    )
    columns = ("account", "cash", "realized P&L", "open P&L", "net liq")
    return [table("balances", columns, rows), _source(body)]


def render_contracts(body: dict[str, Any]) -> list[RenderableType]:
    """Draw ``/api/contracts``."""
    rows = (
        (m.get("root"), m.get("status"), m.get("front"), m.get("next_roll_at"), m.get("age_s"))
        for m in body.get("maps") or []
    )
    return [table("contract maps", ("root", "status", "front", "next roll", "age s"), rows)]


def render_signals(body: dict[str, Any]) -> list[RenderableType]:
    """Draw ``/api/signals``, newest first, and the cursor of the next page."""
    rows = (
        (
            s.get("received_at"),
            s.get("id"),
            s.get("strategy"),
            s.get("intent"),
            s.get("symbol"),
            s.get("status"),
            s.get("reason_code") or ", ".join(_account_codes(s)),
        )
        for s in body.get("signals") or []
    )
    columns = ("received", "id", "strategy", "intent", "symbol", "status", "reason")
    out: list[RenderableType] = [table("signals", columns, rows)]
    if body.get("next"):
        out.append(Text(f"more: --cursor {body['next']}", style="dim"))
    return out


def _account_codes(signal: dict[str, Any]) -> list[str]:
    return [str(a["reason_code"]) for a in signal.get("accounts") or [] if a.get("reason_code")]


def timeline_bars(timeline: dict[str, Any], width: int = BAR_WIDTH) -> list[Text]:
    """Draw where the time went: one line per step, its bar its share of the total."""
    steps = [s for s in timeline.get("steps") or [] if s.get("ms") is not None]
    total = sum(float(s["ms"]) for s in steps)
    name_width = max((len(str(s["step"])) for s in steps), default=0)
    lines = []
    for step in steps:
        ms = float(step["ms"])
        share = ms / total if total > 0 else 0.0
        cells = round(share * width)
        line = Text(f"{step['step']:<{name_width}} {ms:>9.1f} ms {share:>4.0%} ")
        line.append("█" * cells, style="cyan")
        line.append("·" * (width - cells), style="dim")
        lines.append(line)
    lines.append(Text(f"{'total':<{name_width}} {total:>9.1f} ms", style="bold"))
    return lines


def render_signal(body: dict[str, Any]) -> list[RenderableType]:
    """Draw one signal: what came in, and per account its outcome, legs, trades (the fills
    of its entries and exits) and timeline."""
    journal = body.get("journal") or {}
    head = Text(f"signal {body.get('id')}  strategy {body.get('strategy')}  status ")
    head.append_text(styled(body.get("status")))
    out: list[RenderableType] = [head]
    out.append(
        Text(
            f"received {journal.get('received_at')}  format {journal.get('format')}  "
            f"webhook {journal.get('status')}"
            + (
                f"  {journal.get('reason_code')}: {journal.get('reason')}"
                if journal.get("reason_code")
                else ""
            )
        )
    )
    for account in body.get("accounts") or []:
        line = Text(f"\naccount {account.get('account')}: ")
        line.append_text(styled(account.get("status")))
        if account.get("reason_code"):
            line.append(f"  {account['reason_code']}: {account.get('reason') or ''}")
        out.append(line)
        legs = account.get("legs") or []
        if legs:
            out.append(
                table(
                    None,
                    ("leg", "clOrdId", "order", "status", "fill"),
                    (
                        (
                            leg.get("kind"),
                            leg.get("cl_ord_id"),
                            leg.get("order_id"),
                            leg.get("status"),
                            leg.get("fill_price"),
                        )
                        for leg in legs
                    ),
                )
            )
        trades = account.get("trades")
        if trades:
            out.append(
                table(
                    None,
                    ("trade", "side", "qty", "price", "filled at", "order"),
                    (
                        (
                            t.get("leg"),
                            t.get("side"),
                            t.get("qty"),
                            t.get("price"),
                            str(t.get("filled_at") or "")[:19].replace("T", " "),
                            t.get("order_id"),
                        )
                        for t in trades
                    ),
                )
            )
        elif account.get("trades_error"):
            out.append(Text(f"trades not read: {account['trades_error']}"))
        out.extend(timeline_bars(account.get("timeline") or {}))
    return out


def render_dead_letters(body: dict[str, Any]) -> list[RenderableType]:
    """Draw ``/api/dlq``: one row per dead letter, and the cursor of the next page."""
    rows = (
        (
            d.get("id"),
            # MM-DD HH:MM:SS, so the table fits 80 columns; `dlq show` has the whole time.
            str(d.get("dead_lettered_at") or d.get("enqueued_at") or "")[5:19].replace("T", " "),
            d.get("reason"),
            d.get("strategy"),
            d.get("account"),
        )
        for d in body.get("dead_letters") or []
    )
    total = body.get("total")
    more = "" if body.get("total_exact", True) else "+"
    title = f"dead letters of {body.get('queue')} ({total}{more}; details: tradebridge dlq show ID)"
    columns = ("id", "when (UTC)", "reason", "strategy", "account")
    out: list[RenderableType] = [table(title, columns, rows)]
    if body.get("next"):
        out.append(Text(f"more: --cursor {body['next']}", style="dim"))
    return out


def render_dead_letter(body: dict[str, Any]) -> list[RenderableType]:
    """Draw one dead letter: why it is there, where it was going, and the message itself."""
    out: list[RenderableType] = [
        Text(f"dead letter {body.get('id')}  message {body.get('message_id')}", style="bold"),
        Text(f"reason: {body.get('reason')}: {body.get('description') or ''}", style="red"),
        Text(
            f"signal {body.get('signal_id')}  strategy {body.get('strategy')}  "
            f"account {body.get('account')}  session {body.get('session_id')}"
        ),
        Text(
            f"deliveries {body.get('delivery_count')}  enqueued {body.get('enqueued_at')}  "
            f"dead-lettered {body.get('dead_lettered_at') or '(not recorded)'}"
        ),
    ]
    properties = body.get("application_properties") or {}
    if properties:
        out.append(table("properties", ("name", "value"), sorted(properties.items())))
    message = body.get("body")
    shown = json.dumps(message, indent=2) if body.get("body_is_json") else str(message)
    out.append(Text(shown))
    return out


def render_dlq_change(action: str, body: dict[str, Any]) -> list[RenderableType]:
    """Draw the answer of a dead-letter replay (one or all) or purge."""
    out: list[RenderableType] = []
    if action == "purge":
        gone = body.get("purged") or {}
        out.append(Text(f"purged {gone.get('id')} ({gone.get('message_id')})"))
    elif isinstance(body.get("replayed"), dict):
        sent = body["replayed"]
        out.append(
            Text(
                f"replayed {sent.get('id')} ({sent.get('message_id')}) to session "
                f"{sent.get('session_id')}"
            )
        )
    else:
        replayed, waiting = body.get("replayed") or [], body.get("waiting") or []
        out.append(
            Text(f"replayed {len(replayed)}, waiting {len(waiting)}, left {body.get('remaining')}")
        )
        rows = [(r.get("id"), r.get("message_id"), "replayed", "") for r in replayed]
        rows += [
            (w.get("id"), w.get("message_id"), "waiting", w.get("replayable_at")) for w in waiting
        ]
        if rows:
            out.append(table(None, ("id", "message", "outcome", "replayable at"), rows))
    if body.get("warning"):
        out.append(Text(f"warning: {body['warning']}", style="yellow"))
    changed = action == "purge" or isinstance(body.get("replayed"), dict) or body.get("count")
    if changed and not body.get("journaled", True):
        out.append(Text("warning: the change could not be journaled in full", style="yellow"))
    return out


def spinner(message: str, *, quiet: bool = False) -> AbstractContextManager[object]:
    """Show a spinner with ``message`` while a call runs, only when stdout is a terminal."""
    if quiet or not sys.stdout.isatty():
        return nullcontext()
    return console().status(message, spinner="dots")
