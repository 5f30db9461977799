"""Read infra/terraform with python-hcl2 and resolve the few expression shapes it uses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2


@dataclass
class TerraformDir:
    """The resources, locals and variables of one Terraform directory."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)


def unquote(value: Any) -> Any:
    """Turn hcl2's ``'"text"'`` into ``text``; recurse into lists and dicts."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(item) for item in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if not str(k).startswith("__")}
    return value


def load_dir(path: Path) -> TerraformDir:
    """Parse every ``*.tf`` file in ``path``."""
    result = TerraformDir()
    for tf_file in sorted(path.glob("*.tf")):
        with tf_file.open(encoding="utf-8") as handle:
            document = hcl2.load(handle)
        for block in document.get("resource", []):
            for rtype, named in unquote(block).items():
                for name, body in named.items():
                    result.resources[(rtype, name)] = body
        for block in document.get("locals", []):
            result.locals.update(unquote(block))
        for block in document.get("variable", []):
            result.variables.update(unquote(block))
    return result


def resolve(value: Any, tf: TerraformDir) -> Any:
    """Follow ``${local.x}`` references and evaluate ``merge(local.a, local.b, ...)``."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\$\{local\.(\w+)\}", value)
    if match:
        return resolve(tf.locals[match.group(1)], tf)
    match = re.fullmatch(r"\$\{merge\(([\w., ]+)\)\}", value)
    if match:
        merged: dict[str, Any] = {}
        for ref in match.group(1).split(","):
            merged.update(resolve("${" + ref.strip() + "}", tf))
        return merged
    return value


def setting_names(value: Any, tf: TerraformDir) -> set[str]:
    """Return app setting names of an ``app_settings`` value, as patterns for ``for`` keys."""
    value = resolve(value, tf)
    if isinstance(value, dict):
        return set(value)
    match = re.fullmatch(
        r'\$\{\{for k, v in merge\(([\w., ]+)\) : k => v if k != "(\w+)"\}\}', value, re.DOTALL
    )
    if match:
        merged: set[str] = set()
        for ref in match.group(1).split(","):
            merged |= setting_names("${" + ref.strip() + "}", tf)
        return merged - {match.group(2)}
    match = re.fullmatch(r'\$\{\{for \w+ in [\w.]+ : "((?:[^"$]|\$\{[^}]*\})*)" => .*\}\}', value)
    if match:
        return {re.sub(r"\$\{[^}]*\}", "*", match.group(1))}
    raise ValueError(f"cannot resolve Terraform app_settings {value!r}")
