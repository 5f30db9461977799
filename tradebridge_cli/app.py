"""The ``tradebridge`` command line: see and steer a deployment through its ops API.

Every command prints tables for people, or the API's JSON with ``--json``. A failure prints one
sentence on stderr (``tradebridge: ...``) and exits non-zero: 1 for a refusal (the API's
``code: message``), 2 for bad usage or configuration, 3 when nothing answers at the URL.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import RenderableType

from tradebridge_cli import views
from tradebridge_cli.client import OpsClient
from tradebridge_cli.config import Config, resolve
from tradebridge_cli.errors import ApiError, CliError, ConfigError


@dataclass
class Options:
    """The group's options, resolved into a client on first use."""

    url: str | None
    key: str | None
    master_key: str | None
    profile: str | None
    actor: str | None
    timeout_s: float
    transport: httpx.BaseTransport | None = None
    _config: Config | None = None

    def config(self) -> Config:
        """Resolve the configuration once."""
        if self._config is None:
            self._config = resolve(
                url=self.url, key=self.key, master_key=self.master_key, profile=self.profile
            )
        return self._config

    @contextmanager
    def client(self) -> Iterator[OpsClient]:
        """Yield a client for this invocation and close it after."""
        client = OpsClient(
            self.config(), transport=self.transport, actor=self.actor, timeout_s=self.timeout_s
        )
        try:
            yield client
        finally:
            client.close()


class TradebridgeGroup(click.Group):
    """Turn every :class:`CliError` into one sentence on stderr and its exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; report a failure as one sentence, never a traceback."""
        try:
            return super().invoke(ctx)
        except CliError as exc:
            if isinstance(exc, ApiError) and _wants_json(ctx):
                views.dump_json({"code": exc.code, "message": exc.message, **exc.body})
            click.echo(f"tradebridge: {exc}", err=True)
            ctx.exit(exc.exit_code)


def _wants_json(ctx: click.Context) -> bool:
    return bool(ctx.meta.get("json"))  # set by --json while the subcommand parsed (meta is shared)


def _show(ctx: click.Context, body: Any, draw: Callable[[], list[RenderableType]]) -> None:
    if ctx.meta.get("json"):
        views.dump_json(body)
        return
    out = views.console()
    for item in draw():
        out.print(item)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--json``: print the API's answer as JSON instead of tables."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        ctx.meta["json"] = value
        return value

    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        callback=remember,
        help="Print the API's JSON answer (for scripts).",
    )(func)


@click.group(cls=TradebridgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", help="The deployment's base URL [env TRADEBRIDGE_URL].")
@click.option("--key", help="A host (function) key for reads [env TRADEBRIDGE_KEY].")
@click.option("--master-key", help="The master key, for changes [env TRADEBRIDGE_MASTER_KEY].")
@click.option("--profile", help="A [profiles.NAME] of the profile file [env TRADEBRIDGE_PROFILE].")
@click.option("--actor", help="Who you are, recorded with a change (default: your user name).")
@click.option("--timeout", "timeout_s", type=float, default=15.0, show_default=True)
@click.pass_context
def main(
    ctx: click.Context,
    url: str | None,
    key: str | None,
    master_key: str | None,
    profile: str | None,
    actor: str | None,
    timeout_s: float,
) -> None:
    """See and steer a Tradebridge deployment (or, unconfigured, the running local stack)."""
    if ctx.obj is None:
        ctx.obj = Options(url, key, master_key, profile, actor or _user(), timeout_s)
    else:  # tests pass an Options with a transport; flags still apply
        ctx.obj.url, ctx.obj.key, ctx.obj.master_key = url, key, master_key
        ctx.obj.profile, ctx.obj.timeout_s = profile, timeout_s
        ctx.obj.actor = actor or ctx.obj.actor


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


pass_options = click.make_pass_decorator(Options)


@main.command()
@json_option
@pass_options
@click.pass_context
def status(ctx: click.Context, options: Options, /) -> None:
    """Trading status (kill switches) and readiness of every part."""
    with options.client() as client:
        trading = client.get("trading/status")
        health = client.get("health/ready", ok=(200, 503))
    _show(ctx, {"trading": trading, "health": health}, lambda: views.render_status(trading, health))


def _scope(strategy: str | None, account: str | None, everything: bool) -> dict[str, str]:
    named = [s for s in (strategy, account) if s] + (["global"] if everything else [])
    if len(named) != 1:
        raise ConfigError("name exactly one scope: --strategy ID, --account NAME or --all")
    if strategy:
        return {"strategy": strategy}
    if account:
        return {"account": account}
    return {"scope": "global"}


def _describe(scope: dict[str, str]) -> str:
    if "strategy" in scope:
        return f"strategy {scope['strategy']}"
    if "account" in scope:
        return f"account {scope['account']}"
    return "the whole bridge"


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    try:
        confirmed = click.confirm(question, default=False)
    except click.Abort:
        confirmed = False
    if not confirmed:
        raise CliError("not confirmed, nothing changed: answer y, or pass --yes")


CONTROL = {
    "pause": ("Pause (deny new entries in)", "trading/pause"),
    "disable": ("Disable", "trading/disable"),
    "stop": ("Stop (pause, then flatten)", "trading/stop"),
    "resume": ("Resume", "trading/resume"),
    "enable": ("Enable", "trading/enable"),
    "flatten": ("Flatten (cancel working orders and close positions of)", "trading/flatten"),
}


def _control_command(action: str) -> click.Command:
    question, route = CONTROL[action]

    @click.pass_context
    def command(
        ctx: click.Context,
        /,
        strategy: str | None,
        account: str | None,
        everything: bool,
        reason: str,
        yes: bool,
        **extra: Any,
    ) -> None:
        options = ctx.find_object(Options)
        if options is None:  # main() always sets it
            raise CliError("internal: no options")
        scope = _scope(strategy, account, everything)
        body: dict[str, Any] = {**scope, "reason": reason}
        body.update({k: v for k, v in extra.items() if v is not None})
        config = options.config()
        _confirm(f"{question} {_describe(scope)} at {config.url}?", yes)
        quiet = bool(ctx.meta.get("json"))
        with options.client() as client, views.spinner(f"{action}: waiting", quiet=quiet):
            answer = client.post(route, body)
        _show(ctx, answer, lambda: views.render_change(action, answer))

    params: list[click.Parameter] = [
        click.Option(["--strategy"], help="One strategy (its id in the strategy file)."),
        click.Option(["--account"], help="One account (its name in the strategy file)."),
        click.Option(["--all", "everything"], is_flag=True, help="The whole bridge."),
        click.Option(["--reason"], required=True, help="Why; journaled with who asked."),
        click.Option(["--yes", "-y"], is_flag=True, help="Do not ask for confirmation."),
    ]
    if action == "disable":
        params.append(click.Option(["--mode"], type=click.Choice(["pause", "stop"])))
    if action in ("stop", "flatten"):
        params.append(click.Option(["--request-id"], help="Makes a retried flatten exactly-once."))
    doc = f"{question} a strategy, an account or --all (asks first unless --yes)."
    cmd = click.Command(action, callback=command, params=params, help=doc)
    json_option(cmd)
    return cmd


for _action in CONTROL:
    main.add_command(_control_command(_action))


def _broker_command(
    name: str, path: str, draw: Callable[[dict[str, Any]], list[RenderableType]], doc: str
) -> Callable[..., None]:
    @json_option
    @click.option("--account", help="One configured account (default: every one).")
    @click.option("--max-age", type=float, help="Oldest worker cache to accept, s (0: REST).")
    @pass_options
    @click.pass_context
    def command(
        ctx: click.Context,
        options: Options,
        /,
        account: str | None,
        max_age: float | None,
        **flags: bool,
    ) -> None:
        with options.client() as client:
            params: dict[str, Any] = {"account": account, "max_age": max_age, **flags}
            answer = client.get(path, **params)
        _show(ctx, answer, lambda: draw(answer))

    command.__doc__ = doc
    command.__name__ = name
    return command


positions = main.command("positions")(
    click.option("--flat", is_flag=True, help="Also flat positions the cache lists.")(
        _broker_command("positions", "positions", views.render_positions, "Open positions.")
    )
)
orders = main.command("orders")(
    click.option("--all", "all", is_flag=True, help="Also filled and cancelled orders.")(
        _broker_command("orders", "orders", views.render_orders, "Working orders.")
    )
)
balance = main.command("balance")(
    _broker_command("balance", "balance", views.render_balance, "Cash and P&L per account.")
)


@main.command()
@json_option
@click.option("--root", help="One product root, e.g. NQ.")
@pass_options
@click.pass_context
def contracts(ctx: click.Context, options: Options, /, root: str | None) -> None:
    """Contract maps: front month, next roll, age."""
    with options.client() as client:
        answer = client.get("contracts", root=root)
    _show(ctx, answer, lambda: views.render_contracts(answer))


@main.command()
@json_option
@click.option("--strategy")
@click.option("--account")
@click.option(
    "--status",
    help="accepted, duplicate, refused, queued, executing, done, denied, rejected, mixed",
)
@click.option("--symbol", help="NQ (every NQ contract), NQ1! or NQZ6.")
@click.option("--since", help="ISO-8601 with a zone, or epoch seconds (default: 24 h ago).")
@click.option("--until")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--cursor", help="The page after the one that printed it.")
@click.option("--follow", "-f", is_flag=True, help="Print new signals as they arrive (Ctrl-C).")
@click.option("--for", "for_s", type=click.FloatRange(min=0), help="With --follow: stop after S s.")
@pass_options
@click.pass_context
def signals(
    ctx: click.Context, options: Options, /, follow: bool, for_s: float | None, **filters: Any
) -> None:
    """Alerts received and flattens, newest first (--follow: new ones as they arrive)."""
    if follow:
        from tradebridge_cli.follow import follow as follow_signals

        with options.client() as client:
            rows, as_json = int(filters["limit"]), bool(ctx.meta.get("json"))
            follow_signals(client, filters, rows=rows, for_s=for_s, as_json=as_json)
        return
    if for_s is not None:
        raise ConfigError("--for goes with --follow")
    with options.client() as client:
        answer = client.get("signals", **filters)
    _show(ctx, answer, lambda: views.render_signals(answer))


@main.command()
@json_option
@click.argument("signal_id", metavar="ID")
@click.option("--strategy", help="Saves a search when the ledger has forgotten the signal.")
@pass_options
@click.pass_context
def signal(ctx: click.Context, options: Options, /, signal_id: str, strategy: str | None) -> None:
    """One signal (ID, or `latest`): its outcome per account, its legs, where the time went."""
    if not signal_id or "/" in signal_id:
        raise ConfigError(f"{signal_id!r} is not a signal id: copy one from `tradebridge signals`")
    with options.client() as client:
        if signal_id == "latest":
            signal_id = _latest_signal(client, strategy)
        answer = client.get(f"signals/{signal_id}", strategy=strategy)
    _show(ctx, answer, lambda: views.render_signal(answer))


def _latest_signal(client: OpsClient, strategy: str | None) -> str:
    """Return the id of the newest signal (of one strategy) in the journal's last day."""
    rows = client.get("signals", limit=1, strategy=strategy).get("signals") or []
    if not rows or not rows[0].get("id"):
        raise ApiError(404, "no_signals", "no signal in the last 24 hours", {})
    return str(rows[0]["id"])


# Statuses a signal leaves by itself: the journal not written yet, or an account not finished.
_IN_FLIGHT = frozenset({"queued", "executing"})


def _wait_for(client: OpsClient, signal_id: str, strategy: str, timeout_s: float) -> dict[str, Any]:
    """Poll a signal until every account has finished, or raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = client.get(f"signals/{signal_id}", strategy=strategy)
        except ApiError as exc:  # the webhook journals in the background: a 404 at first
            if exc.status != 404:
                raise
            answer = {"status": "queued"}
        if answer.get("status") not in _IN_FLIGHT:
            return answer
        if time.monotonic() >= deadline:
            raise ApiError(
                504,
                "still_executing",
                f"signal {signal_id} is still {answer.get('status')} after {timeout_s:g} s; "
                f"follow it with `tradebridge signal {signal_id}`",
                answer,
            )
        time.sleep(0.2)


@main.command()
@json_option
@click.argument("strategy")
@click.option("--intent", help="buy, sell, exit, flat, ...")
@click.option("--symbol", help="e.g. MNQ1!")
@click.option("--quantity", type=int)
@click.option("--price", help="The alert's close, e.g. 21000.25.")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help="Another field.")
@click.option("--file", "body_file", type=click.File("r"), help="Send this body as is (- stdin).")
@click.option("--secret", envvar="TRADEBRIDGE_WEBHOOK_SECRET", help="The strategy's secret.")
@click.option("--wait", is_flag=True, help="Follow the signal until every account has finished.")
@click.option(
    "--wait-s", type=click.FloatRange(min=1), default=30, show_default=True, help="With --wait."
)
@pass_options
@click.pass_context
def send(
    ctx: click.Context,
    options: Options,
    /,
    strategy: str,
    body_file: Any,
    secret: str | None,
    fields: tuple[str, ...],
    wait: bool,
    wait_s: float,
    **alert: Any,
) -> None:
    """Post a test alert to STRATEGY's webhook, as TradingView would (--wait: to its outcome)."""
    config = options.config()
    secret = secret or _local_secret(config, strategy)
    text = _alert_body(body_file, secret, fields, alert)
    quiet = bool(ctx.meta.get("json"))
    with options.client() as client, views.spinner("sending the alert", quiet=quiet):
        answer = client.post(f"webhook/{strategy}", text, admin=False)
        waited = wait and bool(answer.get("id")) and answer.get("status") != "duplicate"
        if waited:
            answer = _wait_for(client, str(answer["id"]), strategy, wait_s)
    if waited:
        _show(ctx, answer, lambda: views.render_signal(answer))
        return
    _show(
        ctx,
        answer,
        lambda: [
            f"{answer.get('status')}: signal {answer.get('id')}  "
            f"(details: tradebridge signal {answer.get('id')})"
        ],
    )


def _alert_body(
    body_file: Any, secret: str | None, fields: tuple[str, ...], alert: dict[str, Any]
) -> str | dict[str, Any]:
    if body_file is not None:
        text = str(body_file.read())
        try:
            parsed = json.loads(text)
        except ValueError:
            return text  # key=value text: sent as written
        if isinstance(parsed, dict) and secret and "secret" not in parsed:
            parsed["secret"] = secret
        return parsed if isinstance(parsed, dict) else text
    body: dict[str, Any] = {k: v for k, v in alert.items() if v is not None}
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--field {item!r} is not NAME=VALUE")
        body[name] = value
    if "intent" not in body:
        raise ConfigError("say what to send: --intent (and --symbol ...) or --file")
    body.setdefault("alert_id", f"cli-{time.time_ns()}")
    if secret:
        body["secret"] = secret
    return body


def _local_secret(config: Config, strategy: str) -> str | None:
    """Read a strategy's webhook secret from the local stack's settings, when it answers."""
    if config.settings is None:
        return None
    try:  # the repository's code: present where the local stack runs, not in the wheel
        from shared.strategies import StrategyFileError, load_strategies
    except ImportError:
        return None
    try:
        values = json.loads(config.settings.read_text(encoding="utf-8"))["Values"]
        book = load_strategies(Path(values["STRATEGIES_FILE"]))
        found = book.get(strategy)
        name = found.secret.env_name if found is not None else None
        return str(values.get(name) or os.environ.get(name or "", "")) or None
    except (OSError, ValueError, KeyError, AttributeError, StrategyFileError):
        return None


# Commands in modules of their own (config check, alert-template, logs) register on ``main``
# when imported; they import the group and options above, so they are imported after them.
from tradebridge_cli import configure, logs  # noqa: E402, F401


def run() -> None:
    """Entry point of ``python -m tradebridge_cli`` and ``scripts/tradebridge``."""
    main(prog_name="tradebridge")


# --- dead letters of the signals queue ----------------------------------------------------------


@main.group()
def dlq() -> None:
    """Dead letters of the signals queue: list, show, replay, purge."""


def _dead_letter_path(letter_id: str) -> str:
    """Return a dead letter's id as a path segment (a sequence number, or a MessageId)."""
    from urllib.parse import quote

    if not letter_id or "/" in letter_id or not letter_id.isprintable():
        raise ConfigError(
            f"{letter_id!r} is not a dead-letter id: copy one from `tradebridge dlq list`"
        )
    return quote(letter_id, safe=":")


@dlq.command("list")
@json_option
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--oldest", is_flag=True, help="Oldest first (default: newest first).")
@click.option("--cursor", help="The page after the one that printed it.")
@pass_options
@click.pass_context
def dlq_list(
    ctx: click.Context, options: Options, /, limit: int, oldest: bool, cursor: str | None
) -> None:
    """The dead letters, newest first: why each is there and which signal it carries."""
    order = "oldest" if oldest else None
    with options.client() as client:
        answer = client.get("dlq", limit=limit, order=order, cursor=cursor)
    _show(ctx, answer, lambda: views.render_dead_letters(answer))


@dlq.command("show")
@json_option
@click.argument("letter_id", metavar="ID")
@pass_options
@click.pass_context
def dlq_show(ctx: click.Context, options: Options, /, letter_id: str) -> None:
    """One dead letter whole: reason, times, properties and the message (ID or MessageId)."""
    path = _dead_letter_path(letter_id)
    with options.client() as client:
        answer = client.get(f"dlq/{path}")
    _show(ctx, answer, lambda: views.render_dead_letter(answer))


@dlq.command("replay")
@json_option
@click.argument("letter_id", metavar="[ID]", required=False)
@click.option("--all", "everything", is_flag=True, help="Every dead letter, oldest first.")
@click.option("--limit", type=click.IntRange(1, 500), help="With --all: at most this many.")
@click.option("--reason", required=True, help="Why; journaled with who asked.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_options
@click.pass_context
def dlq_replay(
    ctx: click.Context,
    options: Options,
    /,
    letter_id: str | None,
    everything: bool,
    limit: int | None,
    reason: str,
    yes: bool,
) -> None:
    """Send a dead letter (or --all) back to the signals queue (asks first unless --yes)."""
    if bool(letter_id) == everything:
        raise ConfigError("name one dead letter ID, or --all")
    if limit is not None and not everything:
        raise ConfigError("--limit goes with --all")
    body: dict[str, Any] = {"reason": reason}
    if everything:
        path, what = "dlq/replay", "every dead letter"
        if limit is not None:
            body["limit"] = limit
    else:
        path, what = f"dlq/{_dead_letter_path(str(letter_id))}/replay", f"dead letter {letter_id}"
    _confirm(f"Replay {what} to the signals queue at {options.config().url}?", yes)
    with options.client() as client:
        answer = client.post(path, body)
    _show(ctx, answer, lambda: views.render_dlq_change("replay", answer))


@dlq.command("purge")
@json_option
@click.argument("letter_id", metavar="ID")
@click.option("--reason", required=True, help="Why; journaled with who asked.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_options
@click.pass_context
def dlq_purge(
    ctx: click.Context, options: Options, /, letter_id: str, reason: str, yes: bool
) -> None:
    """Delete a dead letter for good (asks first unless --yes)."""
    path = _dead_letter_path(letter_id)
    _confirm(f"Delete dead letter {letter_id} for good at {options.config().url}?", yes)
    with options.client() as client:
        answer = client.delete(f"dlq/{path}", {"reason": reason})
    _show(ctx, answer, lambda: views.render_dlq_change("purge", answer))
