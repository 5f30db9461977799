"""Collect, from the source, every error code the webhook can answer and every denial reason.

The webhook's codes are the string literals its path passes as an error's code: the ``code=``
keyword of any call, and the code argument of the alert readers' ``fail``/``refuse`` helpers,
in the modules an alert goes through before it is queued; plus each error class's default
``code``. Denial reasons are ``shared.domain.risk.DenialCode``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_PATH = (
    "functions/webhook_http.py",
    "functions/http_responses.py",
    "shared/services/ingest.py",
    "shared/domain/errors.py",
    "shared/domain/signal.py",
    "shared/domain/symbols.py",
    "shared/domain/alerts",
    "shared/adapters/redis_gate.py",
    "shared/adapters/secrets.py",
    "shared/adapters/redis_errors.py",
    "shared/adapters/redis_connect.py",
    "shared/adapters/servicebus.py",
    "shared/config.py",
    "shared/domain/sizing.py",
)
_HELPERS_WITH_CODE = {"fail": 1, "refuse": 1, "_refuse": 1, "_invalid": 1}


def _files() -> list[Path]:
    found: list[Path] = []
    for rel in WEBHOOK_PATH:
        path = ROOT / rel
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [p for p in found if p.exists()]


def webhook_codes() -> set[str]:
    """Return every error code on the webhook's path: literals, and module-level string
    constants passed where a code goes (``code=CONFLICT``)."""
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in _files()]
    constants = {
        target.id: stmt.value.value
        for tree in trees
        for stmt in tree.body
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
        for target in stmt.targets
        if isinstance(target, ast.Name) and isinstance(stmt.value.value, str)
    }

    def value(arg: ast.expr) -> str | None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        if isinstance(arg, ast.Name):
            return constants.get(arg.id)
        return None

    codes: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                codes |= _call_codes(node, value)
            if isinstance(node, ast.ClassDef):
                codes |= _class_default_codes(node)
    return {c for c in codes if c.replace("_", "").isalnum()}


def _call_codes(node: ast.Call, value: Callable[[ast.expr], str | None]) -> set[str]:
    found = {v for kw in node.keywords if kw.arg == "code" and (v := value(kw.value))}
    index = _HELPERS_WITH_CODE.get(getattr(node.func, "id", getattr(node.func, "attr", "")))
    if index is not None and len(node.args) > index and (v := value(node.args[index])):
        found.add(v)
    return found


def _class_default_codes(node: ast.ClassDef) -> set[str]:
    return {
        str(stmt.value.value)
        for stmt in node.body
        if isinstance(stmt, ast.Assign | ast.AnnAssign)
        and isinstance(stmt.value, ast.Constant)
        and any(getattr(t, "id", "") == "code" for t in _targets(stmt))
    }


def _targets(stmt: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]


def denial_codes() -> set[str]:
    """Return every denial reason."""
    from shared.domain.risk import DenialCode

    return {code.value for code in DenialCode}
