"""The chaos run's strategy file and the oracle's rules read from it.

Four strategies, one instrument each, so every (account, instrument) session belongs to
exactly one strategy and its position follows only that strategy's alerts; both simulator
accounts (DEMO10002 trades twice the quantity). Every strategy sets ``max_position``; they
differ in what the oracle must get right: adding (allowed or not), the opposite-signal rule
(reverse, exit only, ignore), ``max_order_qty``, a symbol map (alerts on NQ trade MNQ).
Nothing whose outcome depends on timing: no cooldown, trading window, loss limit or alert
age (the alerts carry no time), and no brackets (only the bridge's own orders move positions).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.chaos.oracle import Rules
from shared.strategies import StrategyBook, parse_strategies

SECRET_ENV = "WEBHOOK_CHAOS"  # noqa: S105 - the name of a setting, not a secret
SECRET = "chaos-secret-value"  # noqa: S105 - a throwaway value for a local run

_WEBHOOK = """rate_limit_per_min = 6000
dedupe_window_s = 3600
ip_allowlist = false"""

STRATEGIES_TOML = f"""version = 1

[strategies.chaos-mnq]
description = "Micro Nasdaq on both accounts; adds allowed; opposite signals reverse"
secret = {{ env = "{SECRET_ENV}" }}
accounts = [
  {{ name = "DEMO10001", id = 10001, multiplier = 1 }},
  {{ name = "DEMO10002", id = 10002, multiplier = 2 }},
]
symbols = {{ NQ = "MNQ" }}
behaviour = {{ opposite_signal = "reverse", allow_add = true }}
risk = {{ max_position = 6 }}
[strategies.chaos-mnq.webhook]
{_WEBHOOK}

[strategies.chaos-es]
description = "E-mini S&P on both accounts; no adding; opposite signals reverse"
secret = {{ env = "{SECRET_ENV}" }}
accounts = [
  {{ name = "DEMO10001", id = 10001, multiplier = 1 }},
  {{ name = "DEMO10002", id = 10002, multiplier = 2 }},
]
behaviour = {{ opposite_signal = "reverse", allow_add = false }}
risk = {{ max_position = 4 }}
[strategies.chaos-es.webhook]
{_WEBHOOK}

[strategies.chaos-cl]
description = "Crude on both accounts; adds allowed; exit only; orders of at most 3"
secret = {{ env = "{SECRET_ENV}" }}
accounts = [
  {{ name = "DEMO10001", id = 10001, multiplier = 1 }},
  {{ name = "DEMO10002", id = 10002, multiplier = 2 }},
]
behaviour = {{ opposite_signal = "exit_only", allow_add = true }}
risk = {{ max_position = 5, max_order_qty = 3 }}
[strategies.chaos-cl.webhook]
{_WEBHOOK}

[strategies.chaos-mes]
description = "Micro S&P on the second account only; adds allowed; opposite signals ignored"
secret = {{ env = "{SECRET_ENV}" }}
accounts = [{{ name = "DEMO10002", id = 10002, multiplier = 1 }}]
behaviour = {{ opposite_signal = "ignore", allow_add = true }}
risk = {{ max_position = 3 }}
[strategies.chaos-mes.webhook]
{_WEBHOOK}
"""

# The alert symbol each strategy's alerts name (continuous contracts, as TradingView sends).
ALERT_SYMBOLS: dict[str, tuple[str, ...]] = {
    "chaos-mnq": ("NQ1!", "MNQ1!", "CME_MINI:NQ1!"),
    "chaos-es": ("ES1!", "CME_MINI:ES1!"),
    "chaos-cl": ("CL1!", "NYMEX:CL1!"),
    "chaos-mes": ("MES1!",),
}


@dataclass(frozen=True, slots=True)
class Lane:
    """One (strategy, account) pair: an instrument's position on one account."""

    strategy: str
    account: str
    account_id: int
    root: str
    rules: Rules


def chaos_book() -> StrategyBook:
    """Return the chaos strategies, validated as the webhook and the executor validate them."""
    return parse_strategies(STRATEGIES_TOML, "<chaos strategies>")


def traded_root(book: StrategyBook, strategy_id: str) -> str:
    """Return the root a strategy's alerts trade (after its symbol map)."""
    from shared.domain.symbols import parse_symbol

    strategy = book[strategy_id]
    return strategy.trade_symbol(parse_symbol(ALERT_SYMBOLS[strategy_id][0])).root


def lanes(book: StrategyBook) -> list[Lane]:
    """Return every (strategy, enabled account) pair with the oracle's rules for it."""
    found = []
    for strategy in book.values():
        root = traded_root(book, strategy.id)
        for account in strategy.accounts:
            if not account.enabled or account.id is None:
                continue
            rules = Rules(
                multiplier=account.multiplier,
                allow_add=strategy.behaviour.allow_add,
                opposite=strategy.behaviour.opposite_signal,
                max_position=strategy.risk.max_position,
                max_order_qty=strategy.risk.max_order_qty,
                default_qty=strategy.defaults.quantity,
            )
            found.append(Lane(strategy.id, account.name, account.id, root, rules))
    return found
