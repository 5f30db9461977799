"""Every command in docs/deploy.md is one the tests run, or names things that exist.

The page's shell blocks are split into simple commands. Each must match a rule below: the rule
either runs the command's substance here (the strategy check, the gitignore question), points at
the seam test that runs it (tests/infra/test_deploy_flow.py: the hooks, store_secrets with
--terraform, the workflow's azd steps), or checks every name it uses (`azd env set NAME` is a
template parameter's env value, a Key Vault secret setting, a strategy's webhook secret in the
example strategy file or a value a hook reads; `terraform
output -raw NAME` is an output; tfvars keys are variables). A command no rule knows fails.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "deploy.md"


def _blocks(lang: str) -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    return re.findall(rf"^ *```{lang}\n(.*?)^ *```", text, re.MULTILINE | re.DOTALL)


def _commands() -> list[str]:
    commands: list[str] = []
    for block in _blocks("bash"):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.extend(part.strip() for part in line.split("&&"))
    return commands


def _env_names() -> set[str]:
    """Env values `azd env set` may name: parameters, Key Vault secret settings, hook inputs."""
    params = (ROOT / "infra/bicep/main.parameters.json").read_text(encoding="utf-8")
    names = set(re.findall(r"\$\{(\w+)", params))
    app = (ROOT / "infra/bicep/modules/app.bicep").read_text(encoding="utf-8")
    names |= set(re.findall(r"^\s*(\w+): format\(kvRef", app, re.MULTILINE))
    main = (ROOT / "infra/bicep/main.bicep").read_text(encoding="utf-8")
    ids = re.search(r"param strategyIds array = \[(.*?)\]", main)
    assert ids
    names |= {
        f"WEBHOOK_SECRET_{i.upper().replace('-', '_')}" for i in re.findall(r"'([^']+)'", ids[1])
    }
    names |= _strategy_secret_names()
    for hook in (ROOT / "infra/hooks").glob("*.sh"):
        names |= set(re.findall(r"\$\{(\w+)", hook.read_text(encoding="utf-8")))
    names |= set(re.findall(r"\$\{(\w+)", (ROOT / "azure.yaml").read_text(encoding="utf-8")))
    return names


def _strategy_secret_names() -> set[str]:
    """The variables store_secrets.py stores strategies' webhook secrets from, for the page's
    example strategy file (the shipped example)."""
    from shared.strategies import load_strategies

    strategies = load_strategies(ROOT / "strategies.example.toml").values()
    return {strategy.secret.env_name for strategy in strategies}


def _secret_names() -> set[str]:
    app = (ROOT / "infra/bicep/modules/app.bicep").read_text(encoding="utf-8")
    return (
        set(re.findall(r"^\s*(\w+): format\(kvRef", app, re.MULTILINE))
        | {"WEBHOOK_SECRET_DEFAULT"}
        | _strategy_secret_names()
    )


def _terraform_outputs() -> set[str]:
    text = (ROOT / "infra/terraform/outputs.tf").read_text(encoding="utf-8")
    return set(re.findall(r'^output "(\w+)"', text, re.MULTILINE))


def _workflow_runs() -> str:
    return (ROOT / ".github/workflows/deploy.yml").read_text(encoding="utf-8")


def _check_azd(args: list[str]) -> None:
    match args[1:]:
        case ["env", "set", name, _]:
            assert name in _env_names(), f"azd env set {name}: nothing reads it"
        case ["env", "new", _, *rest]:
            assert rest in ([], ["--location", "eastus2"])
            assert "azd env new" in _workflow_runs()
        case ["auth", "login"]:
            # Interactive sign-in; its CI form (--federated-credential-provider) is asserted by
            # test_deploy_flow's workflow test.
            pass
        case ["up"] | ["deploy", "--all"]:
            # Runs the hooks azure.yaml names; test_deploy_flow runs each hook and checks the order.
            hooks = yaml.safe_dump(yaml.safe_load((ROOT / "azure.yaml").read_text("utf-8")))
            assert "store_secrets.py" in hooks
            assert "worker-access.sh" in hooks
        case _:
            pytest.fail(f"no rule for: {shlex.join(args)}")


def _check_terraform(args: list[str]) -> None:
    assert args[1] == "-chdir=infra/terraform"
    assert (ROOT / "infra/terraform/main.tf").is_file()
    assert args[2:] in (["init"], ["apply"]), shlex.join(args)


def _check(command: str) -> None:
    for name in re.findall(r"output -raw (\w+)", command):
        assert name in _terraform_outputs(), name
    args = shlex.split(command)
    match args:
        case ["azd", *_]:
            _check_azd(args)
        case ["terraform", *_]:
            _check_terraform(args)
        case ["az", "login"]:
            pass  # interactive sign-in; the hooks' az calls are run against a fake az
        case ["read", "-rs", name] | ["export", name]:
            assert name in _secret_names(), name
        case ["python3", "infra/hooks/store_secrets.py", "--terraform", "infra/terraform"]:
            # test_deploy_flow.test_store_secrets_with_terraform_reads_names_from_terraform_output
            assert "--terraform" in (ROOT / "tests/infra/test_deploy_flow.py").read_text("utf-8")
        case ["cp", "strategies.example.toml", "strategies.toml"]:
            assert (ROOT / "strategies.example.toml").is_file()
        case [".venv/bin/python", "-m", "shared.strategies", "check", "strategies.toml"]:
            pass  # run for real in test_strategies_check_from_the_page_passes_on_the_example
        case ["git", "add", "strategies.toml"] | ["git", "commit", "-m", _]:
            pass  # test_strategies_file_is_not_gitignored
        case _:
            pytest.fail(f"no rule for: {command}")


@pytest.mark.parametrize("command", _commands())
def test_deploy_page_command_is_known_and_names_what_exists(command: str) -> None:
    _check(command)


def test_deploy_page_with_tfvars_block_uses_only_declared_variables() -> None:
    declared = set(
        re.findall(
            r'^variable "(\w+)"',
            (ROOT / "infra/terraform/variables.tf").read_text(encoding="utf-8"),
            re.MULTILINE,
        )
    )
    (block,) = _blocks("hcl")
    keys = set(re.findall(r"^\s*(\w+)\s*=", block, re.MULTILINE))
    assert keys
    assert keys <= declared
    prose = PAGE.read_text(encoding="utf-8")
    for name in ("deploy_worker", "execute_always_ready_instances"):
        assert f"`{name} = " in prose
        assert name in declared


def test_deploy_page_covers_the_four_paths_in_secret_safe_order() -> None:
    text = PAGE.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    for path in ("azd, full", "azd, lean", "Terraform, full", "Terraform, lean"):
        assert path in headings
    # Terraform: apply, then store the secrets, then deploy code.
    assert (
        text.index("terraform -chdir=infra/terraform apply")
        < text.index("store_secrets.py --terraform")
        < text.index("azd deploy --all")
    )
    # azd: the secrets are set before `azd up` runs.
    assert text.index("azd env set WEBHOOK_SECRET_DEFAULT") < text.index("   azd up")
    assert "missing_strategies_file" in text


def test_strategies_check_from_the_page_passes_on_the_example(tmp_path: Path) -> None:
    shutil.copy2(ROOT / "strategies.example.toml", tmp_path / "strategies.toml")
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "shared.strategies", "check", "strategies.toml"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_strategies_file_is_not_gitignored() -> None:
    # The page says: commit strategies.toml. git check-ignore exits 1 when a path is not ignored.
    result = subprocess.run(
        ["git", "check-ignore", "-q", "strategies.toml"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 1


def test_deploy_page_with_json_parameters_file_is_where_the_page_says() -> None:
    params = json.loads((ROOT / "infra/bicep/main.parameters.json").read_text(encoding="utf-8"))
    assert params["parameters"]["deployWorker"]["value"] == "${TRADEBRIDGE_DEPLOY_WORKER=true}"
