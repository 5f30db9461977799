"""POST /api/config/check: settings, the strategy file, secrets, accounts and contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.domain.broker import Account
from shared.domain.errors import (
    ConfigError,
    DependencyUnavailable,
    InvalidRequest,
    InvalidSignal,
    TransientError,
)
from shared.domain.symbols import SymbolRef
from shared.services.ops.config_check import (
    MAX_CANDIDATE_BYTES,
    ConfigCheck,
    read_candidate,
    schedule_error,
    settings_problems,
)
from tests.conftest import make_settings
from tests.fakes import FakeSecrets


@pytest.mark.parametrize(
    "expression",
    ["0 */15 * * * *", "30 */5 * * * *", "0 0 0 1 1 *", "0 30 9-16 * * MON-FRI",
     "0 0 12 * JAN,jul SUN", "15,45 0-59/10 */2 1-31 1-12 0-6", "0 0 0 29 2 *"],
)  # fmt: skip
def test_schedule_error_accepts_ncrontab(expression: str) -> None:
    assert schedule_error(expression) is None


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("*/15 * * * *", "has 5 fields"),
        ("0 60 * * * *", "minute field '60': '60' is outside 0-59"),
        ("0 0 24 * * *", "hour field"),
        ("0 0 0 0 * *", "day field '0': '0' is outside 1-31"),
        ("0 0 0 * 13 *", "month field"),
        ("0 0 0 * * 7", "day of week field"),
        ("0 */0 * * * *", "step '0'"),
        ("0 */x * * * *", "step 'x'"),
        ("0 10-5 * * * *", "runs backwards"),
        ("0 ? * * * *", "is not *, a value"),
        ("0 0 0 * FOO *", "month field"),
        ("0 1- * * * *", "is not *, a value"),
    ],
)
def test_schedule_error_names_the_bad_field(expression: str, words: str) -> None:
    error = schedule_error(expression)
    assert error is not None
    assert words in error


def test_settings_problems_report_a_load_failure_stores_and_schedules() -> None:
    def broken() -> Settings:
        raise ConfigError("missing setting(s): REDIS_URL", code="invalid_settings")

    assert [p.to_dict() for p in settings_problems(broken)] == [
        {"code": "invalid_settings", "message": "missing setting(s): REDIS_URL",
         "where": "settings"}
    ]  # fmt: skip
    local = make_settings(tables_connection_string="UseDevelopmentStorage=true")
    assert settings_problems(lambda: local) == []
    # The settings' own pattern only counts fields; the check reads each one.
    bare = make_settings(queue_backend="servicebus", reconcile_schedule="0 0 99 * * *")
    found = settings_problems(lambda: bare)
    assert [(p.code, p.where) for p in found] == [
        ("missing_setting", "settings"),
        ("missing_setting", "settings"),
        ("invalid_schedule", "RECONCILE_SCHEDULE"),
    ]


def test_read_candidate_with_empty_large_and_odd_bodies() -> None:
    assert read_candidate(b"") is None
    assert read_candidate(b"  \n") is None
    assert read_candidate(b"version = 1\n") == "version = 1\n"
    assert read_candidate(b"\xff") == "\ufffd"
    with pytest.raises(InvalidRequest) as info:
        read_candidate(b"#" * (MAX_CANDIDATE_BYTES + 1))
    assert info.value.code == "body_too_large"


GOOD = """
version = 1
[strategies.trend]
secret = { env = "WEBHOOK_TREND" }
accounts = [{ name = "DEMO1", id = 10001 }, { name = "DEMO2" }]
symbols = { NQ = "MNQ" }
[strategies.trend.risk]
symbols = ["MNQ", "ES"]
[strategies.other]
secret = { env = "WEBHOOK_TREND" }
accounts = [{ name = "DEMO1" }]
"""


class Broker:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.calls = 0

    async def accounts(self) -> tuple[Account, ...]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return (Account(10001, "DEMO1"), Account(10002, "DEMO2"))


class Contracts:
    def __init__(self, known: set[str], fail: Exception | None = None) -> None:
        self.known = known
        self.fail = fail
        self.asked: list[str] = []

    async def resolve(self, symbol: SymbolRef) -> Any:
        self.asked.append(symbol.canonical)
        if self.fail is not None:
            raise self.fail
        if symbol.root not in self.known:
            raise InvalidSignal(f"Tradovate has no product {symbol.root}", code="unknown_product")
        return object()


def check(
    tmp_path: Path,
    *,
    secrets: dict[str, str] | None = None,
    broker: Broker | None = None,
    contracts: Contracts | None = None,
    deployed: str = GOOD,
) -> ConfigCheck:
    path = tmp_path / "strategies.toml"
    path.write_text(deployed)
    settings = make_settings(tables_connection_string="UseDevelopmentStorage=true")
    chosen = broker or Broker()
    resolver = contracts or Contracts({"MNQ", "ES"})
    return ConfigCheck(
        lambda: settings,
        lambda: path,
        FakeSecrets({"WEBHOOK_TREND": "s3cret-value"} if secrets is None else secrets),
        lambda: chosen,
        lambda: resolver,
    )


async def test_check_of_a_good_deployed_file_finds_nothing_and_says_what_it_checked(
    tmp_path: Path,
) -> None:
    contracts = Contracts({"MNQ", "ES"})
    body = await check(tmp_path, contracts=contracts).check(None)
    assert body["problems"] == []
    assert body["ok"] is True
    assert (body["file"], body["source"]) == ("deployed", str(tmp_path / "strategies.toml"))
    assert body["checked"] == {"secrets": 1, "accounts": 2, "roots": ["ES", "MNQ"]}
    assert sorted(contracts.asked) == ["ES1!", "MNQ1!"]
    assert "s3cret-value" not in str(body)


async def test_check_of_a_candidate_names_each_problem_where_it_is(tmp_path: Path) -> None:
    candidate = (
        GOOD
        + """
[strategies.bad]
secret = { key_vault_secret = "webhook-missing" }
accounts = [{ name = "DEMO2", id = 99 }, { name = "GHOST" }]
[strategies.bad.risk]
symbols = ["ZZQ"]
"""
    )
    body = await check(tmp_path).check(candidate)
    assert (body["file"], body["source"], body["strategies"]) == ("candidate", "candidate", 3)
    assert body["problems"] == [
        {"code": "missing_secret", "where": "strategies.bad.secret",
         "message": "the secret of bad: secret WEBHOOK_MISSING is not set"},
        {"code": "account_id_mismatch", "where": "strategies.bad.accounts[0]",
         "message": "account 'DEMO2' has id 10002 at Tradovate, not 99"},
        {"code": "unknown_account", "where": "strategies.bad.accounts[1]",
         "message": "the Tradovate login has no account 'GHOST'"},
        {"code": "unknown_symbol", "where": "strategies.bad.symbols",
         "message": "ZZQ (traded by bad): resolves to no Tradovate contract: "
                    "Tradovate has no product ZZQ"},
    ]  # fmt: skip


async def test_check_of_a_file_that_does_not_load_reports_where_and_stops(tmp_path: Path) -> None:
    broker = Broker()
    body = await check(tmp_path, broker=broker).check("version = 1\n[strategies.x]\nsecret = 'k'\n")
    assert [(p["code"], p["where"]) for p in body["problems"]] == [
        ("inline_secret", "candidate:3 strategies.x.secret")
    ]
    assert body["problems"][0]["message"].startswith("this looks like an inline secret")
    assert body["strategies"] == 0
    assert broker.calls == 0
    missing = await check(tmp_path).check("version = 1\n[strategies.x\n")
    assert missing["problems"][0]["code"] == "invalid_toml"


async def test_check_of_a_missing_deployed_file_names_the_file(tmp_path: Path) -> None:
    checker = check(tmp_path)
    (tmp_path / "strategies.toml").unlink()
    body = await checker.check(None)
    [problem] = body["problems"]
    assert (problem["code"], problem["where"]) == (
        "missing_strategies_file",
        str(tmp_path / "strategies.toml"),
    )


async def test_check_with_dependencies_down_reports_them_as_problems(tmp_path: Path) -> None:
    body = await check(
        tmp_path,
        broker=Broker(DependencyUnavailable("Tradovate is down", code="broker_unavailable")),
        contracts=Contracts(set(), TransientError("redis down", code="redis_unavailable")),
    ).check(None)
    codes = [(p["code"], p["where"]) for p in body["problems"]]
    assert ("broker_unavailable", "broker") in codes
    assert ("redis_unavailable", "strategies.trend.symbols") in codes
    assert all("could not" in p["message"] for p in body["problems"])


async def test_check_with_too_many_roots_refuses_to_resolve_them(tmp_path: Path) -> None:
    roots = ", ".join(f'"R{n}"' for n in range(60))
    candidate = GOOD.replace('symbols = ["MNQ", "ES"]', f"symbols = [{roots}]")
    contracts = Contracts(set())
    body = await check(tmp_path, contracts=contracts).check(candidate)
    assert [p["code"] for p in body["problems"]] == ["too_many_roots"]
    assert contracts.asked == []
