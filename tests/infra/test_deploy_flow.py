"""The deploy flow: azure.yaml, the tag workflow and the azd hooks, run against a fake `az`.

Facts relied on (each also cited where it is used):
- azd command hooks fire for their own command only, so `azd deploy` never runs the project
  `prepackage` hook (https://learn.microsoft.com/azure/developer/azure-developer-cli/azd-extensibility;
  Azure/azure-dev cli/azd/cmd/middleware/hooks.go) - D3: the workflow must check requirements.txt.
- azd's GitHub workflow template orders checkout, setup-azd, `azd auth login
  --federated-credential-provider github`, then azd commands, with `id-token: write`
  (Azure/azure-dev cli/azd/resources/pipeline/.github/azure-dev.ymlt).
- A service `condition` that is not truthy makes azd skip the service (azd >= 1.23.4,
  Azure/azure-dev cli/azd/pkg/project/service_config.go) - D4: lean has no worker resource.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "infra" / "hooks"

FAKE_AZ = """\
#!{python}
# Fake az: records argv (and, for --file, the file's mode and bytes) and answers from files.
import json, os, pathlib, sys
args = sys.argv[1:]
entry = {{"argv": args}}
if "--file" in args:
    path = pathlib.Path(args[args.index("--file") + 1])
    entry["file_mode"] = oct(path.stat().st_mode & 0o777)
    entry["file_text"] = path.read_text(encoding="utf-8")
with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(entry) + "\\n")
if "appsettings" in args:
    name = args[args.index("--name") + 1]
    print(json.dumps(json.loads(os.environ["FAKE_AZ_SETTINGS"]).get(name, [])))
elif args[:3] == ["keyvault", "secret", "show"]:
    secret = args[args.index("--name") + 1]
    if secret not in os.environ.get("FAKE_AZ_EXISTING", "").split(","):
        print("ERROR: (SecretNotFound) A secret with (name/id) was not found", file=sys.stderr)
        sys.exit(3)
    print("https://kv.vault.azure.net/secrets/" + secret)
"""


def _kv(secret: str) -> str:
    return f"@Microsoft.KeyVault(VaultName=tb-kv;SecretName={secret})"


FUNC_SETTINGS = [
    {"name": "TRADOVATE_PASSWORD", "value": _kv("tradovate-password")},
    {"name": "TRADOVATE_SEC", "value": _kv("tradovate-sec")},
    {"name": "WEBHOOK_SECRET_DEFAULT", "value": _kv("webhook-secret-default")},
    {"name": "TRADOVATE_USERNAME", "value": "trader"},
]
SECRET_VALUES = {
    "TRADOVATE_PASSWORD": "pw-Secret-123",
    "TRADOVATE_SEC": "sec-Secret-456",
    "WEBHOOK_SECRET_DEFAULT": "hook-Secret-789",
}


@pytest.fixture
def fake_az(tmp_path: Path) -> dict[str, str]:
    """Put a recording `az` first on PATH; return the base environment for a hook."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.format(python=sys.executable), encoding="utf-8")
    az.chmod(az.stat().st_mode | stat.S_IXUSR)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "FAKE_AZ_LOG": str(tmp_path / "az.log"),
        "FAKE_AZ_SETTINGS": json.dumps({"tb-func": FUNC_SETTINGS, "tb-worker": FUNC_SETTINGS[:2]}),
    }


def _az_calls(env: dict[str, str]) -> list[dict[str, Any]]:
    log = Path(env["FAKE_AZ_LOG"])
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


# --- azure.yaml ---------------------------------------------------------------------------


def _azure_yaml() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_azure_yaml_with_lean_env_value_makes_the_worker_conditional_on_the_bicep_switch() -> None:
    config = _azure_yaml()
    assert config["services"]["functions"]["host"] == "function"
    worker = config["services"]["worker"]
    assert worker["host"] == "appservice"
    params = json.loads((ROOT / "infra/bicep/main.parameters.json").read_text(encoding="utf-8"))
    # The same env value, with the same default, decides both the resource and its deployment.
    assert worker["condition"] == params["parameters"]["deployWorker"]["value"]
    assert worker["condition"] == "${TRADEBRIDGE_DEPLOY_WORKER=true}"
    assert config["requiredVersions"]["azd"] == ">= 1.23.4"


def test_azure_yaml_postprovision_with_secrets_hook_runs_after_local_settings() -> None:
    hooks = _azure_yaml()["hooks"]
    run = hooks["postprovision"]["posix"]["run"]
    assert run.index("write_local_settings.py") < run.index("store_secrets.py")
    assert "&&" in run, "a failing first hook must stop the second"
    assert hooks["prepackage"]["posix"]["run"] == "infra/hooks/prepackage.sh"
    for script in re.findall(r"infra/hooks/[\w./-]+", yaml.safe_dump(_azure_yaml())):
        assert (ROOT / script).is_file(), script


# --- the tag workflow ---------------------------------------------------------------------


def _deploy_steps() -> tuple[dict[str, Any], list[str]]:
    workflow = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text(encoding="utf-8"))
    job = workflow["jobs"]["deploy"]
    texts = [json.dumps(step) for step in job["steps"]]
    return workflow, texts


def _index(texts: list[str], needle: str) -> int:
    hits = [i for i, text in enumerate(texts) if needle in text]
    assert hits, needle
    return hits[0]


def test_workflow_with_tag_checks_requirements_then_signs_in_then_deploys() -> None:
    workflow, steps = _deploy_steps()
    assert workflow["permissions"]["id-token"] == "write"
    assert workflow["jobs"]["deploy"]["needs"] == "test"
    order = [
        _index(steps, "actions/checkout"),
        _index(steps, "infra/hooks/prepackage.sh"),
        _index(steps, "Azure/setup-azd"),
        _index(steps, "--federated-credential-provider github"),
        _index(steps, "azd env refresh"),
        _index(steps, "TRADEBRIDGE_DEPLOY_WORKER false"),
        _index(steps, "azd deploy"),
    ]
    assert order == sorted(order), order
    setup = json.loads(steps[_index(steps, "Azure/setup-azd")])
    assert tuple(map(int, setup["with"]["version"].split("."))) >= (1, 23, 4)
    # The deploy ships the committed file: nothing in the job regenerates it.
    assert not any("-o requirements.txt" in step for step in steps)


def test_workflow_lean_step_with_empty_worker_name_disables_the_worker_service() -> None:
    _, steps = _deploy_steps()
    script = json.loads(steps[_index(steps, "TRADEBRIDGE_DEPLOY_WORKER false")])["run"]
    assert "azd env get-value WORKER_APP_NAME" in script
    assert script.strip().startswith("if [ -z")


# --- prepackage.sh: requirements.txt staleness check ---------------------------------------


def _hook_tree(tmp_path: Path, requirements: str | None) -> Path:
    tree = tmp_path / "repo"
    (tree / "infra/hooks").mkdir(parents=True)
    (tree / "scripts").mkdir()
    shutil.copy2(HOOKS / "prepackage.sh", tree / "infra/hooks/prepackage.sh")
    shutil.copy2(ROOT / "scripts/ensure-uv", tree / "scripts/ensure-uv")
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy2(ROOT / name, tree / name)
    (tree / ".tools").symlink_to(ROOT / ".tools")  # the pinned uv scripts/bootstrap installed
    if requirements is not None:
        (tree / "requirements.txt").write_text(requirements, encoding="utf-8")
    return tree


def test_prepackage_with_committed_requirements_passes() -> None:
    result = _run([str(HOOKS / "prepackage.sh")], dict(os.environ))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("requirements", [None, "pydantic==2.0\n"])
def test_prepackage_with_missing_or_stale_requirements_fails_with_the_fix(
    tmp_path: Path, requirements: str | None
) -> None:
    tree = _hook_tree(tmp_path, requirements)
    result = _run([str(tree / "infra/hooks/prepackage.sh")], dict(os.environ))
    assert result.returncode == 1
    assert "uv export --frozen --no-dev --no-hashes --no-emit-project" in result.stderr
    assert (tree / "requirements.txt").exists() == (requirements is not None), "never rewritten"


# --- worker-access.sh ---------------------------------------------------------------------


@pytest.mark.parametrize("worker_env", [{}, {"WORKER_APP_NAME": ""}])
@pytest.mark.parametrize("action", ["open", "close"])
def test_worker_access_with_lean_deployment_exits_zero_without_calling_az(
    fake_az: dict[str, str], worker_env: dict[str, str], action: str
) -> None:
    result = _run(["sh", str(HOOKS / "worker-access.sh"), action], {**fake_az, **worker_env})
    assert result.returncode == 0, result.stderr
    assert _az_calls(fake_az) == []


@pytest.mark.parametrize(("action", "value"), [("open", "Enabled"), ("close", "Disabled")])
def test_worker_access_with_worker_updates_its_public_network_access(
    fake_az: dict[str, str], action: str, value: str
) -> None:
    env = {**fake_az, "WORKER_APP_NAME": "tb-worker", "AZURE_RESOURCE_GROUP": "rg-tb"}
    result = _run(["sh", str(HOOKS / "worker-access.sh"), action], env)
    assert result.returncode == 0, result.stderr
    assert [c["argv"] for c in _az_calls(fake_az)] == [
        ["webapp", "update", "--resource-group", "rg-tb", "--name", "tb-worker",
         "--set", f"publicNetworkAccess={value}", "--output", "none"],
    ]  # fmt: skip


# --- store_secrets.py ---------------------------------------------------------------------

AZD_ENV = {
    "KEY_VAULT_NAME": "tb-kv",
    "AZURE_RESOURCE_GROUP": "rg-tb",
    "FUNCTION_APP_NAME": "tb-func",
    "WORKER_APP_NAME": "tb-worker",
}


def _store(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    if "--strategies" not in args:  # none: the project root's own strategies.toml stays out
        args = (*args, "--strategies", str(ROOT / "no-such-dir" / "strategies.toml"))
    return _run([sys.executable, str(HOOKS / "store_secrets.py"), *args], env)


def _assert_no_value_leaked(result: subprocess.CompletedProcess[str], env: dict[str, str]) -> None:
    for value in SECRET_VALUES.values():
        assert value not in result.stdout + result.stderr
        for call in _az_calls(env):
            assert not any(value in arg for arg in call["argv"]), call["argv"]


def test_store_secrets_with_all_values_sets_each_from_a_0600_file(fake_az: dict[str, str]) -> None:
    env = {**fake_az, **AZD_ENV, **SECRET_VALUES}
    result = _store(env)
    assert result.returncode == 0, result.stderr
    sets = [c for c in _az_calls(env) if c["argv"][:3] == ["keyvault", "secret", "set"]]
    stored = {c["argv"][c["argv"].index("--name") + 1]: c for c in sets}
    assert set(stored) == {"tradovate-password", "tradovate-sec", "webhook-secret-default"}
    assert stored["webhook-secret-default"]["file_text"] == SECRET_VALUES["WEBHOOK_SECRET_DEFAULT"]
    for call in sets:
        assert call["file_mode"] == "0o600"
        assert call["argv"][call["argv"].index("--vault-name") + 1] == "tb-kv"
        assert not Path(call["argv"][call["argv"].index("--file") + 1]).exists(), "removed"
    _assert_no_value_leaked(result, env)


def test_store_secrets_with_secret_already_in_vault_keeps_it(fake_az: dict[str, str]) -> None:
    values = {k: v for k, v in SECRET_VALUES.items() if k != "TRADOVATE_SEC"}
    env = {**fake_az, **AZD_ENV, **values, "FAKE_AZ_EXISTING": "tradovate-sec"}
    result = _store(env)
    assert result.returncode == 0, result.stderr
    shows = [c["argv"] for c in _az_calls(env) if c["argv"][:3] == ["keyvault", "secret", "show"]]
    assert len(shows) == 1
    assert shows[0][shows[0].index("--query") + 1] == "id", "show prints the id, never the value"


def test_store_secrets_with_missing_secret_fails_listing_azd_env_set(
    fake_az: dict[str, str],
) -> None:
    values = {k: v for k, v in SECRET_VALUES.items() if k != "WEBHOOK_SECRET_DEFAULT"}
    env = {**fake_az, **AZD_ENV, **values}
    result = _store(env)
    assert result.returncode == 1
    assert 'azd env set WEBHOOK_SECRET_DEFAULT "<value>"' in result.stdout
    assert "azd env set TRADOVATE_SEC" not in result.stdout
    _assert_no_value_leaked(result, env)


def test_store_secrets_with_terraform_reads_names_from_terraform_output(
    fake_az: dict[str, str], tmp_path: Path
) -> None:
    outputs = {k: {"value": v, "type": "string"} for k, v in AZD_ENV.items()}
    outputs["WORKER_APP_NAME"]["value"] = ""  # lean: only the function app's settings
    terraform = tmp_path / "bin" / "terraform"
    terraform.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(outputs)}\nEOF\n", encoding="utf-8")
    terraform.chmod(0o755)
    env = {**fake_az, "TRADOVATE_PASSWORD": SECRET_VALUES["TRADOVATE_PASSWORD"]}
    result = _store(env, "--terraform", "infra/terraform")
    assert result.returncode == 1
    assert "read -rs TRADOVATE_SEC && export TRADOVATE_SEC" in result.stdout
    assert "store_secrets.py --terraform infra/terraform" in result.stdout
    lists = [c["argv"] for c in _az_calls(env) if "appsettings" in c["argv"]]
    assert lists == [["functionapp", "config", "appsettings", "list", "--resource-group", "rg-tb",
                      "--name", "tb-func", "--output", "json"]]  # fmt: skip
    _assert_no_value_leaked(result, env)


def test_store_secrets_stores_each_strategys_webhook_secret_under_the_name_it_gives(
    fake_az: dict[str, str], tmp_path: Path
) -> None:
    strategies = tmp_path / "strategies.toml"
    strategies.write_text(
        (ROOT / "strategies.example.toml").read_text(encoding="utf-8")
        + '\n[strategies.es-vault-only]\nsecret = { key_vault_secret = "hook-es" }\n'
        'accounts = [{ name = "DEMO1" }]\n',
        encoding="utf-8",
    )
    values = {"WEBHOOK_NQ_TREND": "nq-Secret-1", "HOOK_ES": "es-Secret-2"}
    env = {**fake_az, **AZD_ENV, **SECRET_VALUES, **values}
    result = _store(env, "--strategies", str(strategies))
    # The example's second strategy names only WEBHOOK_CL_OVERNIGHT, which has no value here.
    assert result.returncode == 1
    assert 'azd env set WEBHOOK_CL_OVERNIGHT "<value>"' in result.stdout
    sets = [c for c in _az_calls(env) if c["argv"][:3] == ["keyvault", "secret", "set"]]
    stored = {c["argv"][c["argv"].index("--name") + 1]: c["file_text"] for c in sets}
    assert stored["webhook-nq-trend"] == "nq-Secret-1"  # the name the strategy gives
    assert stored["hook-es"] == "es-Secret-2"  # env name derived from the vault name
    assert "webhook-cl-overnight" not in stored
    for value in values.values():
        assert value not in result.stdout + result.stderr


def test_store_secrets_with_an_unreadable_strategy_file_stops_before_storing(
    fake_az: dict[str, str], tmp_path: Path
) -> None:
    strategies = tmp_path / "strategies.toml"
    strategies.write_text("version = 1\n[strategies.nq\n", encoding="utf-8")
    env = {**fake_az, **AZD_ENV, **SECRET_VALUES}
    result = _store(env, "--strategies", str(strategies))
    assert result.returncode == 1
    assert "cannot read" in result.stderr
    assert "python -m shared.strategies check" in result.stderr
    assert not [c for c in _az_calls(env) if c["argv"][:3] == ["keyvault", "secret", "set"]]
