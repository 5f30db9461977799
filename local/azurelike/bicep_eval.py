"""Evaluate the Bicep expressions an app-settings block uses, with given parameter values.

``local.bicep_reader`` keeps every expression as text; this turns the shapes that
``infra/bicep/modules/app.bicep`` uses for settings into values: literals, ``${...}``
interpolation, references to params and vars, member access (``module!.outputs`` too),
``cond ? a : b``, ``[for x in y: {...}]`` and the functions ``format``, ``string``,
``toUpper``, ``toLower``, ``replace``, ``union``, ``concat`` and ``items``. A property of a
deployed resource or module (``redis.outputs.hostName``) has no value before deployment:
unless ``outputs`` supplies one, it evaluates to ``AzureValue`` holding its text, and so does
anything built from it. An unknown function or name raises ``ValueError`` instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local.bicep_reader import BicepFile, Expr, ForExpr, Token, tokenize

_FOR_HEADER = re.compile(r"^\s*(\w+)\s+in\s+(.+)$", re.DOTALL)


@dataclass(frozen=True)
class AzureValue:
    """A value only a deployment knows (a resource's property), kept as its Bicep text."""

    text: str


@dataclass(frozen=True)
class _Symbol:
    name: str


def _unquote(text: str) -> str:
    if text.startswith("'''"):
        return text[3:-3]
    return text[1:-1].replace("\\'", "'").replace("\\\\", "\\")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"cannot use {value!r} as text")


def _interpolations(template: str) -> list[tuple[int, int]]:
    """Return the (start, end) spans of each ``${...}`` in a string, quotes and braces nested."""
    spans, pos = [], 0
    while (start := template.find("${", pos)) != -1:
        depth, i, quoted = 1, start + 2, False
        while depth:
            if i >= len(template):
                raise ValueError(f"unterminated interpolation in {template!r}")
            char = template[i]
            if char == "'":
                quoted = not quoted
            elif not quoted:
                depth += char == "{"
                depth -= char == "}"
            i += 1
        spans.append((start, i))
        pos = i
    return spans


class Evaluator:
    """Evaluate values of one Bicep file with the given params and known resource outputs."""

    def __init__(
        self,
        file: BicepFile,
        params: Mapping[str, Any],
        outputs: Mapping[str, Any] | None = None,
    ) -> None:
        self.file = file
        self.params = dict(params)
        self.outputs = dict(outputs or {})
        self._vars: dict[str, Any] = {}

    def variable(self, name: str) -> Any:
        """Return the value of ``var name``."""
        if name not in self._vars:
            if name not in self.file.variables:
                raise ValueError(f"no var {name} in {self.file.path.name}")
            self._vars[name] = self.value(self.file.variables[name], {})
        return self._vars[name]

    def value(self, raw: Any, scope: Mapping[str, Any]) -> Any:
        """Evaluate one parsed value (literal, object, array, expression or comprehension)."""
        if isinstance(raw, str):
            return self._interpolate(raw, scope)
        if isinstance(raw, Expr):
            return self.expression(raw.text, scope)
        if isinstance(raw, ForExpr):
            return self._for(raw, scope)
        if isinstance(raw, dict):
            return {key: self.value(item, scope) for key, item in raw.items()}
        if isinstance(raw, list):
            return [self.value(item, scope) for item in raw]
        return raw

    def expression(self, text: str, scope: Mapping[str, Any]) -> Any:
        """Evaluate an expression's source text."""
        tokens = [t for t in tokenize(text) if t.kind != "nl"]
        parser = _ExprParser(tokens, self, scope)
        result = parser.ternary()
        if parser.pos != len(tokens):
            raise ValueError(f"cannot evaluate Bicep expression {text!r}")
        return result

    def _interpolate(self, template: str, scope: Mapping[str, Any]) -> Any:
        spans = _interpolations(template)
        if not spans:
            return template
        out, pos = "", 0
        for start, end in spans:
            part = self.expression(template[start + 2 : end - 1], scope)
            if isinstance(part, AzureValue | _Symbol):
                return AzureValue(template)
            out += template[pos:start] + _as_text(part)
            pos = end
        return out + template[pos:]

    def _for(self, raw: ForExpr, scope: Mapping[str, Any]) -> list[Any]:
        match = _FOR_HEADER.match(raw.header)
        if match is None:
            raise ValueError(f"unsupported for-expression header {raw.header!r}")
        items = self.expression(match.group(2), scope)
        if not isinstance(items, list):
            raise ValueError(f"for-expression over a non-array: {raw.header!r}")
        return [self.value(raw.body, {**scope, match.group(1): item}) for item in items]

    def name(self, name: str, scope: Mapping[str, Any]) -> Any:
        """Resolve an identifier: loop variable, param, var, then resource or module symbol."""
        if name in scope:
            return scope[name]
        if name in self.params:
            return self.params[name]
        if name in self.file.variables:
            return self.variable(name)
        if name in self.file.resources or name in self.file.modules:
            return _Symbol(name)
        raise ValueError(f"unknown name {name!r} (a param without a value?)")

    def member(self, target: Any, key: str) -> Any:
        """Return ``target.key`` (or ``target['key']``)."""
        if isinstance(target, _Symbol | AzureValue):
            text = f"{target.name if isinstance(target, _Symbol) else target.text}.{key}"
            return self.outputs[text] if text in self.outputs else AzureValue(text)
        if isinstance(target, dict) and key in target:
            return target[key]
        raise ValueError(f"cannot read {key!r} of {target!r}")


def _format(template: Any, *args: Any) -> str:
    text = str(template)
    for index, arg in enumerate(args):
        text = text.replace("{" + str(index) + "}", _as_text(arg))
    return text


def _union(*parts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "format": _format,
    "string": _as_text,
    "toUpper": lambda text: str(text).upper(),
    "toLower": lambda text: str(text).lower(),
    "replace": lambda text, old, new: str(text).replace(str(old), str(new)),
    "union": _union,
    "concat": lambda *parts: [item for part in parts for item in part],
    # Bicep's items() orders the entries by key, case-insensitively.
    "items": lambda obj: [{"key": k, "value": obj[k]} for k in sorted(obj, key=str.lower)],
}


def _call(name: str, args: list[Any]) -> Any:
    if any(isinstance(a, AzureValue | _Symbol) for a in args):
        return AzureValue(f"{name}(...)")
    function = _FUNCTIONS.get(name)
    if function is None:
        raise ValueError(f"unsupported Bicep function {name}()")
    return function(*args)


class _ExprParser:
    def __init__(self, tokens: list[Token], evaluator: Evaluator, scope: Mapping[str, Any]):
        self.tokens = tokens
        self.pos = 0
        self.ev = evaluator
        self.scope = scope

    def peek(self) -> str | None:
        return self.tokens[self.pos].text if self.pos < len(self.tokens) else None

    def take(self, text: str | None = None) -> Token:
        token = self.tokens[self.pos]
        if text is not None and token.text != text:
            raise ValueError(f"expected {text!r}, found {token.text!r}")
        self.pos += 1
        return token

    def ternary(self) -> Any:
        condition = self.postfix()
        if self.peek() != "?":
            return condition
        self.take("?")
        when_true = self.ternary()
        self.take(":")
        when_false = self.ternary()
        if not isinstance(condition, bool):
            raise ValueError(f"condition is not a bool: {condition!r}")
        return when_true if condition else when_false

    def postfix(self) -> Any:
        value = self.atom()
        while self.peek() in {".", "[", "!"}:
            if self.peek() == "!":
                self.take("!")  # a non-null assertion (module!.outputs.x) changes no value
                continue
            if self.take().text == ".":
                value = self.ev.member(value, self.take().text)
            else:
                key = self.ternary()
                self.take("]")
                value = self.ev.member(value, str(key))
        return value

    def atom(self) -> Any:
        token = self.take()
        if token.kind in {"string", "mstring"}:
            return self.ev.value(_unquote(token.text), self.scope)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.text == "(":
            inner = self.ternary()
            self.take(")")
            return inner
        if token.text in {"true", "false", "null"}:
            return None if token.text == "null" else token.text == "true"
        if token.kind != "ident":
            raise ValueError(f"unexpected {token.text!r} in a Bicep expression")
        if self.peek() != "(":
            return self.ev.name(token.text, self.scope)
        self.take("(")
        args: list[Any] = []
        while self.peek() != ")":
            args.append(self.ternary())
            if self.peek() == ",":
                self.take(",")
        self.take(")")
        return _call(token.text, args)
