"""The strategy file: the shipped example loads, and each mistake names its file, line and field."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from shared.domain.errors import ConfigError
from shared.domain.signal import PriceSpec, PriceUnit
from shared.domain.symbols import parse_symbol
from shared.strategies import (
    Strategy,
    StrategyFileError,
    load_strategies,
    main,
    parse_strategies,
)

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "strategies.example.toml"

MINIMAL = """\
version = 1

[strategies.nq]
secret = { env = "WEBHOOK_NQ" }
accounts = [{ name = "DEMO1" }]
"""


def test_load_strategies_with_shipped_example_reads_both_strategies() -> None:
    book = load_strategies(EXAMPLE)
    assert list(book) == ["nq-trend", "cl-overnight"]
    assert len(book) == 2
    nq = book["nq-trend"]
    assert [(a.name, a.multiplier) for a in nq.accounts] == [
        ("DEMO1234567", Decimal(1)),
        ("DEMO7654321", Decimal(3)),
    ]
    assert nq.secret.key_vault_name == "webhook-nq-trend"
    assert nq.behaviour.opposite_signal == "reverse"
    assert nq.risk.trading_windows[0].start == time(8, 30)
    assert nq.risk.daily_loss_limit == Decimal(1500)
    assert nq.webhook.rate_limit_per_min == 30
    cl = book["cl-overnight"]
    assert cl.secret.key_vault_name == "webhook-cl-overnight"
    assert cl.risk.trading_windows[0].end == time(2, 0)
    assert book.source == str(EXAMPLE)


def test_shipped_example_shows_every_section_a_strategy_can_have() -> None:
    # A section missing from the example is a setting traders never learn about.
    sections = {
        name
        for name, field in Strategy.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    } - {"secret"} | {"symbols"}  # the secret is an inline table; the symbol map a plain one
    assert "reconcile" in sections
    shown = set(re.findall(r"^\[strategies\.nq-trend\.([a-z_]+)\]", EXAMPLE.read_text(), re.M))
    assert shown == sections


def test_strategy_with_symbol_map_trades_the_mapped_root() -> None:
    nq = load_strategies(EXAMPLE)["nq-trend"]
    assert nq.trade_symbol(parse_symbol("NQ1!")).canonical == "MNQ1!"
    assert nq.trade_symbol(parse_symbol("NQZ2025")).tradovate_name == "MNQZ5"
    assert nq.trade_symbol(parse_symbol("ES1!")).canonical == "ES1!"


def test_strategy_account_with_name_finds_it_or_none() -> None:
    nq = load_strategies(EXAMPLE)["nq-trend"]
    account = nq.account("DEMO7654321")
    assert account is not None
    assert account.multiplier == Decimal(3)
    assert nq.account("nobody") is None


def test_defaults_brackets_with_configured_levels_become_domain_legs() -> None:
    book = load_strategies(EXAMPLE)
    (leg,) = book["nq-trend"].defaults.brackets()
    assert leg.take_profit == PriceSpec(Decimal(40), PriceUnit.TICKS)
    assert leg.stop_loss == PriceSpec(Decimal(20), PriceUnit.TICKS)
    assert leg.breakeven is not None
    assert leg.breakeven.offset == PriceSpec(Decimal(1), PriceUnit.TICKS)
    (cl_leg,) = book["cl-overnight"].defaults.brackets()
    assert cl_leg.take_profit == PriceSpec(Decimal(300), PriceUnit.DOLLARS)
    assert cl_leg.trailing_stop is not None
    assert cl_leg.trailing_stop.trigger == PriceSpec(Decimal(25), PriceUnit.TICKS)


def test_parse_strategies_with_minimal_strategy_applies_safe_defaults() -> None:
    nq = parse_strategies(MINIMAL)["nq"]
    assert nq.defaults.brackets() == ()
    assert nq.defaults.quantity == Decimal(1)
    assert nq.behaviour.opposite_signal == "exit_only"
    assert nq.behaviour.allow_add is False
    assert nq.risk.kill_switch is False
    assert nq.risk.max_alert_age_s == 60
    assert nq.webhook.ip_allowlist is True
    assert nq.secret.env_name == "WEBHOOK_NQ"
    assert nq.secret.key_vault_name == "webhook-nq"


def test_secret_ref_with_only_key_vault_name_derives_env_name() -> None:
    text = MINIMAL.replace('{ env = "WEBHOOK_NQ" }', '{ key_vault_secret = "webhook-nq" }')
    assert parse_strategies(text)["nq"].secret.env_name == "WEBHOOK_NQ"


RISK = "\n[strategies.nq.risk]\n"
HOURS = 'start = "09:00", end = "10:00" }]\n'

# (name, text added to or replacing MINIMAL, code, field, line)
INVALID = [
    ("inline_secret_string", MINIMAL.replace('{ env = "WEBHOOK_NQ" }', '"hunter2-not-real"'),
     "inline_secret", "strategies.nq.secret", 4),
    ("password_anywhere", MINIMAL + '\n[strategies.nq.webhook]\npassword = "x"\n',
     "inline_secret", "strategies.nq.webhook.password", 8),
    ("token_in_account", MINIMAL.replace('{ name = "DEMO1" }', '{ name = "DEMO1", token = "t" }'),
     "inline_secret", "strategies.nq.accounts[0].token", 5),
    ("random_looking_secret_name",
     MINIMAL.replace('env = "WEBHOOK_NQ"', 'key_vault_secret = "a8f5f167f44f4964e6c998dee827110c"'),
     "invalid_strategies", "strategies.nq.secret", 4),
    ("no_secret_names", MINIMAL.replace('{ env = "WEBHOOK_NQ" }', "{}"),
     "invalid_strategies", "strategies.nq.secret", 4),
    ("env_name_with_hyphen", MINIMAL.replace("WEBHOOK_NQ", "WEBHOOK-NQ"),
     "invalid_strategies", "strategies.nq.secret.env", 4),
    ("no_accounts", MINIMAL.replace('[{ name = "DEMO1" }]', "[]"),
     "invalid_strategies", "strategies.nq.accounts", 5),
    ("duplicate_account", MINIMAL.replace('{ name = "DEMO1" }', '{ name = "A" }, { name = "A" }'),
     "invalid_strategies", "strategies.nq.accounts", 5),
    ("zero_multiplier", MINIMAL.replace('"DEMO1" }', '"DEMO1", multiplier = 0 }'),
     "invalid_strategies", "strategies.nq.accounts[0].multiplier", 5),
    ("huge_multiplier", MINIMAL.replace('"DEMO1" }', '"DEMO1", multiplier = 500 }'),
     "invalid_strategies", "strategies.nq.accounts[0].multiplier", 5),
    ("typo_in_risk_field", MINIMAL + "\n[strategies.nq.risk]\nmax_order_quantity = 2\n",
     "invalid_strategies", "strategies.nq.risk.max_order_quantity", 8),
    ("unknown_time_zone", MINIMAL + '\n[strategies.nq.risk]\ntimezone = "Mars/Olympus"\n',
     "invalid_strategies", "strategies.nq.risk.timezone", 8),
    ("empty_trading_window",
     MINIMAL + '\n[strategies.nq.risk]\ntrading_windows = [{ start = "09:00", end = "09:00" }]\n',
     "invalid_strategies", "strategies.nq.risk.trading_windows[0]", 8),
    ("order_limit_above_position_limit",
     MINIMAL + "\n[strategies.nq.risk]\nmax_order_qty = 5\nmax_position = 2\n",
     "invalid_strategies", "strategies.nq.risk", 7),
    ("unknown_opposite_rule", MINIMAL + '\n[strategies.nq.behaviour]\nopposite_signal = "flip"\n',
     "invalid_strategies", "strategies.nq.behaviour.opposite_signal", 8),
    ("string_boolean", MINIMAL + '\n[strategies.nq.behaviour]\nallow_add = "yes"\n',
     "invalid_strategies", "strategies.nq.behaviour.allow_add", 8),
    ("fractional_default_quantity", MINIMAL + "\n[strategies.nq.defaults]\nquantity = 1.5\n",
     "invalid_strategies", "strategies.nq.defaults.quantity", 8),
    ("default_stop_order", MINIMAL + '\n[strategies.nq.defaults]\norder_type = "stop"\n',
     "invalid_strategies", "strategies.nq.defaults.order_type", 8),
    ("default_trailing_stop_order",
     MINIMAL + '\n[strategies.nq.defaults]\norder_type = "trailing_stop"\n',
     "invalid_strategies", "strategies.nq.defaults.order_type", 8),
    ("default_gtd", MINIMAL + '\n[strategies.nq.defaults]\ntime_in_force = "gtd"\n',
     "invalid_strategies", "strategies.nq.defaults.time_in_force", 8),
    ("level_in_two_units",
     MINIMAL + "\n[strategies.nq.defaults]\ntake_profit = { ticks = 4, points = 1 }\n",
     "invalid_strategies", "strategies.nq.defaults.take_profit", 8),
    ("percent_level_too_big",
     MINIMAL + "\n[strategies.nq.defaults]\nstop_loss = { percent = 150 }\n",
     "invalid_strategies", "strategies.nq.defaults.stop_loss", 8),
    ("price_as_default_level",
     MINIMAL + "\n[strategies.nq.defaults]\nstop_loss = { price = 5000 }\n",
     "invalid_strategies", "strategies.nq.defaults.stop_loss.price", 8),
    ("lower_case_symbol_root", MINIMAL + '\n[strategies.nq.symbols]\nnq = "MNQ"\n',
     "invalid_strategies", "strategies.nq.symbols.nq", 8),
    ("strategy_id_not_url_safe", MINIMAL.replace("[strategies.nq]", '[strategies."NQ Trend"]'),
     "invalid_strategies", "strategies.NQ Trend.id", 3),
    ("id_differs_from_table", MINIMAL + 'id = "other"\n', "invalid_strategies",
     "strategies.nq.id", 6),
    ("unsupported_version", MINIMAL.replace("version = 1", "version = 2"),
     "invalid_strategies", "version", 1),
    ("no_strategies", "version = 1\n", "invalid_strategies", "strategies", None),
    ("window_without_days", MINIMAL + RISK + 'trading_windows = [{ days = [], ' + HOURS,
     "invalid_strategies", "strategies.nq.risk.trading_windows[0]", 8),
    ("window_with_repeated_day",
     MINIMAL + RISK + 'trading_windows = [{ days = ["mon", "mon"], ' + HOURS,
     "invalid_strategies", "strategies.nq.risk.trading_windows[0]", 8),
    ("required_field_missing_before_next_table",
     'version = 1\n[strategies.nq]\nsecret = { env = "X" }\n' + RISK + "accounts = 1\n",
     "invalid_strategies", "strategies.nq.accounts", 2),
    ("strategies_not_a_table", "version = 1\nstrategies = 5\n", "invalid_strategies",
     "strategies", 2),
    ("strategy_not_a_table", "version = 1\n[strategies]\nnq = 5\n", "invalid_strategies",
     "strategies.nq", 3),
    ("not_toml", MINIMAL + "accounts = [\n", "invalid_toml", None, 6),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "code", "field", "line"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_parse_strategies_with_mistake_names_code_field_and_line(
    text: str, code: str, field: str | None, line: int | None
) -> None:
    with pytest.raises(StrategyFileError) as info:
        parse_strategies(text, "strategies.toml")
    error = info.value
    assert (error.code, error.field, error.line) == (code, field, line)
    assert isinstance(error, ConfigError)
    assert error.message.startswith("strategies.toml")
    assert "hunter2" not in error.message


def test_load_strategies_with_missing_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(StrategyFileError) as info:
        load_strategies(tmp_path / "absent.toml")
    assert info.value.code == "missing_strategies_file"
    assert info.value.line is None


def test_cli_check_with_example_prints_strategies_and_exits_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "nq-trend: accounts DEMO1234567 x1, DEMO7654321 x3" in out
    assert "ok: 2 strategies" in out


def test_cli_check_with_disabled_single_strategy_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(MINIMAL + "enabled = false\n", encoding="utf-8")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "nq (disabled)" in out
    assert "ok: 1 strategy in" in out


def test_cli_check_with_invalid_file_prints_where_and_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(MINIMAL.replace("WEBHOOK_NQ", "WEBHOOK-NQ"), encoding="utf-8")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:4: strategies.nq.secret.env:" in err


def test_cli_with_wrong_arguments_prints_usage_and_exits_two(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["verify"]) == 2
    assert "usage" in capsys.readouterr().err


def test_cli_module_run_with_example_exits_zero() -> None:
    result = subprocess.run(  # the documented command, end to end
        [sys.executable, "-m", "shared.strategies", "check", str(EXAMPLE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ok: 2 strategies" in result.stdout


@pytest.mark.parametrize("time_in_force", ["day", "gtc", "gtd", "ioc", "fok"])
@pytest.mark.parametrize("order_type", ["market", "limit", "stop", "stop_limit", "trailing_stop"])
def test_a_file_that_loads_gives_every_account_a_policy_the_executor_accepts(
    order_type: str, time_in_force: str
) -> None:
    from shared.services.policy_builder import policy_for

    text = (
        MINIMAL.replace('accounts = [{ name = "DEMO1" }]', 'accounts = [{ name = "DEMO1" }, '
                        '{ name = "DEMO2", multiplier = 3 }]')
        + f'\n[strategies.nq.defaults]\norder_type = "{order_type}"\n'
        f'time_in_force = "{time_in_force}"\nstop_loss = {{ ticks = 8 }}\n'
    )  # fmt: skip
    plannable = order_type in ("market", "limit") and time_in_force != "gtd"
    if not plannable:
        with pytest.raises(StrategyFileError) as info:
            parse_strategies(text, "strategies.toml")
        assert info.value.field in {
            "strategies.nq.defaults.order_type",
            "strategies.nq.defaults.time_in_force",
        }
        return
    strategy = parse_strategies(text, "strategies.toml")["nq"]
    for account in strategy.accounts:
        policy = policy_for(strategy, account.name, account.multiplier)
        assert policy.default_order_type.value == order_type
        assert policy.default_time_in_force.value == time_in_force
