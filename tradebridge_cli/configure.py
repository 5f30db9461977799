"""``tradebridge config check`` and ``tradebridge alert-template``: set a strategy up right.

``config check`` asks the deployment to check its strategy file (or ``--file``, a candidate,
before it is deployed) against its settings, secrets, Tradovate accounts and contracts, and
prints one line per problem: exit 1 when there is any, 0 with "no problems".

``alert-template`` prints the webhook URL and the TradingView alert message for a strategy.
Both secrets in them, the function key in the URL and the webhook secret in the message, are
masked unless ``--reveal`` is given: then the key comes from this command line's own
configuration and the secret from the deployment (the master key's ``reveal=true`` answer).
Without ``--reveal`` nothing secret is printed. Both commands use the master key.

The commands register on ``tradebridge_cli.app.main`` when this module is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tradebridge_cli import views
from tradebridge_cli.app import Options, json_option, main, pass_options
from tradebridge_cli.errors import CliError, ConfigError

MASK = "********"
FORMATS = ("native", "traderspost", "pickmytrade", "crosstrade")
ACTIONS = ("entry", "exit", "target")


@main.group("config")
def config_group() -> None:
    """Check the deployment's configuration."""


@config_group.command("check")
@json_option
@click.option(
    "--file",
    "candidate",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check this strategy file (TOML) instead of the deployed one.",
)
@pass_options
@click.pass_context
def config_check(ctx: click.Context, options: Options, /, candidate: Path | None) -> None:
    """Check the strategy file against the deployment's secrets, broker and contracts."""
    text = ""
    if candidate is not None:
        try:
            text = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {candidate} ({exc})") from None
        if not text.strip():
            raise ConfigError(f"{candidate} is empty: there is nothing to check")
    quiet = bool(ctx.meta.get("json"))
    with options.client() as client, views.spinner("checking the configuration", quiet=quiet):
        answer = client.post("config/check", text)
    problems = answer.get("problems") or []
    if quiet:
        views.dump_json(answer)
    else:
        for problem in problems:
            click.echo(f"{problem.get('code')}  {problem.get('where')}: {problem.get('message')}")
        if not problems:
            click.echo(f"no problems in {answer.get('source')}")
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise CliError(f"{count} in {answer.get('source')}")


@main.command("alert-template")
@json_option
@click.argument("strategy")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="native", show_default=True)
@click.option("--action", type=click.Choice(ACTIONS), default="entry", show_default=True)
@click.option(
    "--reveal", is_flag=True, help="Print the function key and the webhook secret exactly."
)
@pass_options
@click.pass_context
def alert_template(
    ctx: click.Context, options: Options, /, strategy: str, fmt: str, action: str, reveal: bool
) -> None:
    """Print STRATEGY's webhook URL and TradingView alert message."""
    if not strategy or "/" in strategy:
        raise ConfigError(f"{strategy!r} is not a strategy id")
    config = options.config()
    if reveal and not config.key:
        raise ConfigError("no key to put in the URL: pass --key (or TRADEBRIDGE_KEY)")
    with options.client() as client:
        answer = client.get(
            f"strategies/{strategy}/alert-template", admin=True, format=fmt, action=action,
            reveal=reveal,
        )  # fmt: skip
    url = f"{config.url}{answer['webhook_path']}?code={config.key if reveal else MASK}"
    if ctx.meta.get("json"):
        views.dump_json({**answer, "url": url})
        return
    for line in render(answer, url, revealed=reveal):
        click.echo(line)


def render(answer: dict[str, Any], url: str, *, revealed: bool) -> list[str]:
    """Return the template as printed: URL, message and notes, in blocks a blank line apart."""
    lines = [
        "webhook URL (TradingView: Notifications > Webhook URL)",
        url,
        "",
        f"message (TradingView: Message; format {answer.get('format')}, "
        f"action {answer.get('action')})",
        str(answer.get("message", "")),
        "",
        "notes",
        *(f"- {note}" for note in answer.get("notes") or []),
    ]
    if not revealed:
        lines += [
            "",
            f"the function key and the webhook secret ({answer.get('secret_field')}) are shown "
            f"as {MASK}: add --reveal to print them",
        ]
    return lines
