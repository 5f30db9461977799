"""Read the subset of Bicep that infra/bicep uses, well enough to compare it with Terraform
and to take the apps' settings from it for the Azure-like local stack.

This is not a Bicep compiler (none can be installed here). It tokenises the file, reads the
top-level declarations (``param``, ``var``, ``resource``, ``module``, ``output``) and parses
object and array literals into Python values. Anything else (calls, references, operators)
is kept as an ``Expr`` holding its source text, which the helpers below can resolve for the few
shapes the templates use: a reference to a ``var``, ``union(...)``, ``concat(...)`` and
``[for x in ...: {...}]`` comprehensions. An unknown shape raises instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<nl>\n)
  | (?P<mstring>'''.*?''')
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>=>|==|!=|>=|<=|&&|\|\||\?\?|\.\?|[{}\[\](),:=.?!<>+\-*/%@])
    """,
    re.VERBOSE | re.DOTALL,
)
_OPEN = {"{": "}", "[": "]", "(": ")"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True)
class Expr:
    """An expression kept as source text (a call, a reference, an operator...)."""

    text: str


@dataclass(frozen=True)
class ForExpr:
    """``[for <header>: <body>]``: a comprehension; ``header`` is e.g. ``item in items(x)``."""

    header: str
    body: Any


@dataclass(frozen=True)
class Conditional:
    """``if (<condition>) <body>`` on a resource or module."""

    condition: str
    body: Any


@dataclass
class BicepFile:
    """The declarations of one Bicep file."""

    path: Path
    params: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    # symbol -> (type@api, body) and (source, body)
    resources: dict[str, tuple[str, Any]] = field(default_factory=dict)
    existing: set[str] = field(default_factory=set)  # symbols declared ``existing``
    modules: dict[str, tuple[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


def tokenize(text: str) -> list[Token]:
    """Split Bicep source into tokens, dropping blanks and comments but keeping newlines."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "'" and not text.startswith("'''", pos):
            end = _string_end(text, pos)
            tokens.append(Token("string", text[pos:end]))
            pos = end
            continue
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise ValueError(f"cannot read Bicep at offset {pos}: {text[pos : pos + 30]!r}")
        kind = match.lastgroup or ""
        if kind not in {"ws", "comment"}:
            tokens.append(Token(kind, match.group()))
        pos = match.end()
    return tokens


def _string_end(text: str, start: int) -> int:
    """Return the index after the string opening at ``start``, skipping ``${...}`` parts."""
    pos = start + 1
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
        elif text.startswith("${", pos):
            depth, pos = 1, pos + 2
            while depth:
                if text[pos] == "'":
                    pos = _string_end(text, pos)
                    continue
                depth += text[pos] == "{"
                depth -= text[pos] == "}"
                pos += 1
        elif text[pos] == "'":
            return pos + 1
        else:
            pos += 1
    raise ValueError(f"unterminated Bicep string at offset {start}")


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def skip_newlines(self) -> None:
        while (token := self.peek()) is not None and token.kind == "nl":
            self.pos += 1

    def expect(self, text: str) -> None:
        token = self.next()
        if token.text != text:
            raise ValueError(f"expected {text!r}, found {token.text!r}")

    def value(self) -> Any:
        """Parse one value: a literal, an object, an array, or an expression kept as text."""
        self.skip_newlines()
        token = self.peek()
        if token is not None and token.text == "{":
            return self.object()
        if token is not None and token.text == "[":
            return self.array()
        if token is not None and token.text == "if":
            self.next()
            condition = self.balanced_text()
            return Conditional(condition, self.value())
        return self.expression()

    def object(self) -> dict[str, Any]:
        self.expect("{")
        result: dict[str, Any] = {}
        while True:
            self.skip_newlines()
            token = self.next()
            if token.text == "}":
                return result
            if token.text == ",":
                continue
            if token.text == "resource" and (nxt := self.peek()) is not None and nxt.text != ":":
                # A nested child resource: resource <symbol> '<type>' [existing] = {...}
                symbol = self.next().text
                child_type = _string_value(self.next().text)
                _eat(self, "existing")
                self.expect("=")
                result[f"resource {symbol}"] = (child_type, self.value())
                continue
            key = _string_value(token.text) if token.kind == "string" else token.text
            self.expect(":")
            result[key] = self.value()

    def array(self) -> list[Any] | ForExpr:
        self.expect("[")
        self.skip_newlines()
        token = self.peek()
        if token is not None and token.text == "for":
            self.next()
            header = self.text_until(":")
            self.expect(":")
            body = self.value()
            self.skip_newlines()
            self.expect("]")
            return ForExpr(header, body)
        items: list[Any] = []
        while True:
            self.skip_newlines()
            token = self.peek()
            if token is not None and token.text == "]":
                self.next()
                return items
            if token is not None and token.text == ",":
                self.next()
                continue
            items.append(self.value())

    def balanced_text(self) -> str:
        """Read a parenthesised group and return its inner text."""
        self.expect("(")
        parts, depth = [], 1
        while depth:
            token = self.next()
            depth += token.text in _OPEN
            depth -= token.text in _OPEN.values()
            if depth:
                parts.append(token.text)
        return " ".join(parts)

    def text_until(self, stop: str) -> str:
        parts, depth = [], 0
        while (token := self.peek()) is not None and not (depth == 0 and token.text == stop):
            depth += token.text in _OPEN
            depth -= token.text in _OPEN.values()
            parts.append(token.text)
            self.next()
        return " ".join(parts)

    def expression(self) -> Any:
        """Read to the end of the value (newline, comma or closer at depth 0)."""
        parts: list[Token] = []
        depth = 0
        while (token := self.peek()) is not None:
            if depth == 0 and (token.kind == "nl" or token.text in {",", "}", "]", ")"}):
                break
            if token.kind == "nl":
                self.next()
                continue
            depth += token.text in _OPEN
            depth -= token.text in _OPEN.values()
            parts.append(token)
            self.next()
        return _literal(parts)


def _string_value(text: str) -> str:
    if text.startswith("'''"):
        return text[3:-3]
    return text[1:-1].replace("\\'", "'")


def _literal(parts: list[Token]) -> Any:
    if len(parts) == 1:
        token = parts[0]
        if token.kind in {"string", "mstring"}:
            return _string_value(token.text)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.text in {"true", "false"}:
            return token.text == "true"
        if token.text == "null":
            return None
    return Expr(_join(parts))


def _join(parts: list[Token]) -> str:
    text = ""
    for token in parts:
        glue = token.text in {".", "(", ")", ",", "[", "]", "!", ".?"} or text.endswith(
            (".", "(", "[", "!", ".?")
        )
        text += token.text if glue or not text else " " + token.text
    return text.replace(",", ", ")


def parse_file(path: Path) -> BicepFile:
    """Read the declarations of one Bicep file."""
    parser = _Parser(tokenize(path.read_text(encoding="utf-8")))
    result = BicepFile(path)
    while (token := parser.peek()) is not None:
        if token.kind == "nl":
            parser.next()
        elif token.text == "@":
            parser.next()
            parser.next()
            if (nxt := parser.peek()) is not None and nxt.text == "(":
                parser.balanced_text()
        else:
            _declaration(parser, result)
    return result


def _declaration(parser: _Parser, result: BicepFile) -> None:
    keyword = parser.next().text
    if keyword == "param":
        name = parser.next().text
        declared = parser.next().text  # string, int, bool, array, object
        default = parser.value() if _eat(parser, "=") else None
        result.params[name] = (declared, default)
    elif keyword == "var":
        name = parser.next().text
        parser.expect("=")
        result.variables[name] = parser.value()
    elif keyword in {"resource", "module"}:
        symbol = parser.next().text
        source = _string_value(parser.next().text)
        if _eat(parser, "existing"):
            result.existing.add(symbol)
        parser.expect("=")
        target = result.resources if keyword == "resource" else result.modules
        target[symbol] = (source, parser.value())
    elif keyword == "output":
        name = parser.next().text
        parser.text_until("=")
        parser.expect("=")
        result.outputs[name] = parser.value()
    elif keyword == "targetScope":
        parser.expect("=")
        parser.value()
    else:
        raise ValueError(f"unsupported top-level Bicep keyword {keyword!r}")


def _eat(parser: _Parser, text: str) -> bool:
    token = parser.peek()
    if token is not None and token.text == text:
        parser.next()
        return True
    return False


def unwrap(body: Any) -> Any:
    """Return the object behind ``if (...)`` or ``[for ...: ...]``."""
    while isinstance(body, Conditional | ForExpr):
        body = body.body
    return body


def split_call(text: str) -> tuple[str, list[str]] | None:
    """Split ``name(a, b(c, d))`` into ``("name", ["a", "b(c, d)"])``; None if not a call."""
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)", text.strip(), re.DOTALL)
    if match is None:
        return None
    args, depth, current = [], 0, ""
    for char in match.group(2):
        if char == "," and depth == 0:
            args.append(current.strip())
            current = ""
            continue
        depth += char in "([{"
        depth -= char in ")]}"
        current += char
    if current.strip():
        args.append(current.strip())
    return match.group(1), args


def resolve(value: Any, variables: dict[str, Any]) -> Any:
    """Follow ``var`` references and evaluate ``union``/``concat`` of resolvable parts."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_]\w*", value) and value in variables:
        return resolve(variables[value], variables)
    if not isinstance(value, Expr):
        return value
    if value.text in variables:
        return resolve(variables[value.text], variables)
    call = split_call(value.text)
    if call is not None and call[0] == "union":
        merged: dict[str, Any] = {}
        for arg in call[1]:
            merged.update(resolve(Expr(arg), variables))
        return merged
    if call is not None and call[0] == "concat":
        joined: list[Any] = []
        for arg in call[1]:
            part = resolve(Expr(arg), variables)
            joined.extend(part if isinstance(part, list) else [part])
        return joined
    raise ValueError(f"cannot resolve Bicep expression {value.text!r}")


def setting_names(value: Any, variables: dict[str, Any]) -> set[str]:
    """Return app setting names from a name/value list, resolving the shapes the templates use.

    A name built by interpolation (``'WEBHOOK_SECRET_${...}'``) is returned with ``*`` in place of
    each interpolation, so it can be compared with the Terraform pattern.
    """
    value = resolve(value, variables)
    names: set[str] = set()
    items = value if isinstance(value, list) else [value]
    for item in items:
        item = resolve(item, variables)
        if isinstance(item, ForExpr):
            names |= _for_names(item, variables)
        elif isinstance(item, dict) and "name" in item:
            names.add(_pattern(item["name"]))
        else:
            raise ValueError(f"not an app setting entry: {item!r}")
    return names


def _for_names(item: ForExpr, variables: dict[str, Any]) -> set[str]:
    header = re.sub(r"\s+", " ", item.header)
    match = re.fullmatch(r"(\w+) in items \( (\w+) \)", header)
    if match and item.body.get("name") == Expr(f"{match.group(1)}.key"):
        return set(resolve(Expr(match.group(2)), variables))
    return {_pattern(item.body["name"])}


def _pattern(name: Any) -> str:
    text = name.text if isinstance(name, Expr) else str(name)
    return re.sub(r"\$\{[^}]*\}", "*", text)
