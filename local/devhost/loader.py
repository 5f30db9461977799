"""Index a Functions app exactly as the Python worker does (azure.md §1.4).

The worker imports the script module with the app root on ``sys.path``, looks for exactly
one top-level ``FunctionRegister`` (``FunctionApp``), and calls ``get_functions()``, which
builds each function and rejects duplicate names. The same steps run here, so an app that
indexes in the dev host indexes in Azure.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func

_SCRIPT_NAME = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_\-]*\.py$")

# get_functions() may run once per app object (a second call sees its own names as
# duplicates); the worker indexes once per process, so results are kept per module.
_INDEXED: dict[tuple[str, str], list[FunctionSpec]] = {}


class IndexingError(Exception):
    """The app could not be indexed; the message says why, as the worker would."""


@dataclass(frozen=True)
class FunctionSpec:
    """One indexed function: its name, trigger binding and callable."""

    name: str
    trigger: dict[str, Any]
    bindings: tuple[dict[str, Any], ...]
    user_function: Callable[..., Any]
    retry_policy: dict[str, Any] | None

    @property
    def trigger_type(self) -> str:
        """Return the trigger binding's type, e.g. ``httpTrigger``."""
        return str(self.trigger["type"])


def _find_app(module: ModuleType, script: str) -> func.FunctionRegister:
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(apps) > 1:
        raise IndexingError(
            f"More than one top level function app instances are defined in {script}."
        )
    if not apps:
        raise IndexingError(f"Could not find top level function app instances in {script}.")
    return apps[0]


def _check_packages_from(root: Path) -> None:
    """Refuse an app whose own packages were imported from somewhere else (an earlier path
    entry), which would run code the deployment does not ship."""
    for name, module in list(sys.modules.items()):
        if "." in name or not (root / name / "__init__.py").is_file():
            continue
        origin = Path(getattr(module, "__file__", None) or "").resolve()
        if not origin.is_relative_to(root):
            raise IndexingError(f"package {name} was imported from {origin}, not from {root}")


def index_function_app(app_root: Path, script: str = "function_app.py") -> list[FunctionSpec]:
    """Import ``script`` from ``app_root`` and return its functions' specs."""
    if not _SCRIPT_NAME.match(script):
        raise IndexingError(f"invalid script file name {script!r}")
    root = str(app_root.resolve())
    # First, not merely present: the worker imports from the script root before anything else
    # on the path (a working directory or a host-side copy must never shadow the app's code).
    if not sys.path or sys.path[0] != root:
        while root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)
    stem = script[: -len(".py")]
    try:
        module = importlib.import_module(stem)
    except ImportError as exc:
        raise IndexingError(f"Cannot import {script}: {exc}") from exc
    if Path(module.__file__ or "").resolve().parent != Path(root):
        raise IndexingError(f"{stem} was imported from {module.__file__}, not from {root}")
    _check_packages_from(Path(root))
    cached = _INDEXED.get((root, script))
    if cached is not None:
        return list(cached)
    app = _find_app(module, script)
    try:
        functions = app.get_functions()
    except ValueError as exc:
        raise IndexingError(str(exc)) from exc
    specs = []
    for function in functions:
        bindings = tuple(json.loads(raw) for raw in function.get_raw_bindings())
        triggers = [b for b in bindings if b["type"].endswith("Trigger")]
        if len(triggers) != 1:
            raise IndexingError(f"{function.get_function_name()} must have exactly one trigger")
        specs.append(
            FunctionSpec(
                name=str(function.get_function_name()),
                trigger=triggers[0],
                bindings=bindings,
                user_function=function.get_user_function(),
                retry_policy=function.get_settings_dict("retry_policy"),
            )
        )
    _INDEXED[(root, script)] = specs
    return list(specs)
