"""Store the apps' secrets in Key Vault after provisioning and before any code is deployed.

azd runs it as the second `postprovision` hook (azure.yaml), with the azd environment's values
in the process environment; `azd up` runs package, provision, deploy in that order, so no app
starts with an unresolved Key Vault reference. With Terraform, run it after `terraform apply`
and before deploying code: `python3 infra/hooks/store_secrets.py --terraform infra/terraform`
takes the resource names from `terraform output -json` instead (docs/deploy.md).

Which secrets: every app setting of the function app (and the worker, if there is one) whose
value is a Key Vault reference to KEY_VAULT_NAME, e.g. TRADOVATE_PASSWORD ->
`tradovate-password`, WEBHOOK_SECRET_DEFAULT -> `webhook-secret-default` (one per strategy id;
infra/bicep/modules/app.bicep `kvRef`). The template that made the apps is the list, so a new
strategy id needs no change here. The value comes from the environment variable of the same name.

And every strategy's webhook secret in the strategy file the deploy ships (`strategies.toml` in
the project root, or `--strategies FILE`): the webhook reads the Key Vault secret the strategy
names (`secret = { key_vault_secret = "webhook-nq-trend", env = "WEBHOOK_NQ_TREND" }`, either
name derived from the other as shared/strategies.py `SecretRef` derives it), so that secret is
stored from the environment variable the strategy names (`azd env set WEBHOOK_NQ_TREND ...`).

For each: a value in the environment is written with `az keyvault secret set --file` from a 0600
file in a 0700 directory, never on a command line (any local process can read another's argv);
without one, a secret already in the vault (`az keyvault secret show`, printing only its id) is
kept. Anything else fails the hook with the commands that fix it. No value is ever printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_KV_REF = re.compile(r"^@Microsoft\.KeyVault\(VaultName=([^;]+);SecretName=([^)]+)\)$")
# A role assignment made in the same provisioning can take minutes to reach Key Vault, which then
# answers 403: retry those (https://learn.microsoft.com/azure/key-vault/general/rbac-guide,
# "role assignments ... can take up to 10 minutes").
_FORBIDDEN_RETRIES = 12
_FORBIDDEN_WAIT_S = 15.0


class HookError(Exception):
    """A message for the person running the deploy; never holds a secret value."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--terraform",
        metavar="DIR",
        help="read resource names from `terraform -chdir=DIR output -json` instead of azd",
    )
    parser.add_argument(
        "--strategies",
        metavar="FILE",
        type=Path,
        default=PROJECT_ROOT / "strategies.toml",
        help="the strategy file the deploy ships (default: strategies.toml in the project root)",
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.terraform:
        env.update(_terraform_outputs(args.terraform))
    try:
        missing = store_all(env, strategies=args.strategies)
    except HookError as exc:
        print(f"store_secrets: {exc}", file=sys.stderr)
        return 1
    if missing:
        print(_missing_message(missing, env["KEY_VAULT_NAME"], terraform=bool(args.terraform)))
        return 1
    return 0


def store_all(env: Mapping[str, str], *, strategies: Path | None = None) -> list[str]:
    """Store every referenced secret and every strategy's webhook secret; return the names of
    the environment variables with no value anywhere."""
    vault = _required(env, "KEY_VAULT_NAME")
    wanted = _referenced_secrets(env, vault)
    if strategies is not None:
        wanted.update(strategy_secrets(strategies))
    missing: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tb-secrets-") as scratch:
        for setting, secret in sorted(wanted.items()):
            value = env.get(setting, "")
            if value:
                _set_secret(vault, secret, value, Path(scratch))
                print(f"store_secrets: stored {secret} from {setting}")
            elif _secret_exists(vault, secret):
                print(f"store_secrets: kept {secret} (already in Key Vault)")
            else:
                missing.append(setting)
    return missing


def _referenced_secrets(env: Mapping[str, str], vault: str) -> dict[str, str]:
    group = _required(env, "AZURE_RESOURCE_GROUP")
    apps = [("functionapp", _required(env, "FUNCTION_APP_NAME"))]
    if env.get("WORKER_APP_NAME"):
        apps.append(("webapp", env["WORKER_APP_NAME"]))
    wanted: dict[str, str] = {}
    for kind, name in apps:
        out = _az(kind, "config", "appsettings", "list", "--resource-group", group, "--name", name,
                  "--output", "json")  # fmt: skip
        for item in json.loads(out.stdout):
            match = _KV_REF.match(str(item.get("value") or ""))
            if match and match.group(1) == vault:
                wanted[item["name"]] = match.group(2)
    if not wanted:
        raise HookError(f"no Key Vault references to {vault} in the apps' settings")
    return wanted


def strategy_secrets(path: Path) -> dict[str, str]:
    """Return {environment variable: Key Vault secret} for every strategy in the strategy file
    (none when there is no file: the apps then refuse every alert, missing_strategies_file)."""
    if not path.is_file():
        print(f"store_secrets: no strategy file at {path}; no strategy secrets to store")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise HookError(
            f"cannot read {path}: {exc}; check it with python -m shared.strategies check"
        ) from exc
    found: dict[str, str] = {}
    strategies = data.get("strategies")
    for strategy_id, table in strategies.items() if isinstance(strategies, dict) else ():
        secret = table.get("secret") if isinstance(table, dict) else None
        vault_name = secret.get("key_vault_secret") if isinstance(secret, dict) else None
        env_name = secret.get("env") if isinstance(secret, dict) else None
        if not (isinstance(vault_name, str) or isinstance(env_name, str)):
            raise HookError(
                f"{path}: strategy {strategy_id} names no secret (key_vault_secret, env)"
            )
        # Derived as SecretRef derives them: each from the other when only one is given.
        vault_name = vault_name or str(env_name).lower().replace("_", "-")
        env_name = env_name or str(vault_name).upper().replace("-", "_")
        found[env_name] = vault_name
    return found


def _set_secret(vault: str, secret: str, value: str, scratch: Path) -> None:
    # mkstemp creates the file 0600; the value has no trailing newline, since --file stores the
    # file's bytes as they are.
    fd, name = tempfile.mkstemp(dir=scratch)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        _az("keyvault", "secret", "set", "--vault-name", vault, "--name", secret, "--file", name,
            "--output", "none")  # fmt: skip
    finally:
        Path(name).unlink(missing_ok=True)


def _secret_exists(vault: str, secret: str) -> bool:
    # --query id: az prints only the secret's id, never its value.
    result = _az("keyvault", "secret", "show", "--vault-name", vault, "--name", secret,
                 "--query", "id", "--output", "tsv", check=False)  # fmt: skip
    return result.returncode == 0


def _az(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    for _ in range(_FORBIDDEN_RETRIES):
        result = subprocess.run(["az", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607 - az from PATH, fixed arguments
        if result.returncode == 0 or "Forbidden" not in result.stderr:
            break
        print(f"store_secrets: Key Vault said Forbidden; RBAC may still be propagating, "
              f"retrying in {_FORBIDDEN_WAIT_S:.0f} s", file=sys.stderr)  # fmt: skip
        time.sleep(_FORBIDDEN_WAIT_S)
    if check and result.returncode != 0:
        # az's own error text: it holds names and ids, not values (values go in through files).
        raise HookError(f"az {' '.join(args[:3])} failed: {result.stderr.strip()[-800:]}")
    return result


def _terraform_outputs(directory: str) -> dict[str, str]:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        ["terraform", f"-chdir={directory}", "output", "-json"],  # noqa: S607 - terraform from PATH
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"store_secrets: terraform output failed: {result.stderr.strip()}", file=sys.stderr)
        raise SystemExit(1)
    outputs: dict[str, dict[str, object]] = json.loads(result.stdout)
    return {name: str(item.get("value", "")) for name, item in outputs.items()}


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise HookError(f"{name} is not set; run through azd (postprovision) or --terraform DIR")
    return value


def _missing_message(missing: list[str], vault: str, *, terraform: bool) -> str:
    lines = [
        f"store_secrets: these secrets are neither in the environment nor in Key Vault {vault};",
        "an app setting would stay an unresolved Key Vault reference, or a strategy's alerts",
        "would be refused (missing_secret). Set them and run again:",
    ]
    for name in missing:
        if terraform:
            lines.append(f"  read -rs {name} && export {name}")
        else:
            lines.append(f'  azd env set {name} "<value>"')
    if terraform:
        lines.append("  python3 infra/hooks/store_secrets.py --terraform infra/terraform")
    else:
        lines.append("  azd provision   # runs this hook again; then azd deploy")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
