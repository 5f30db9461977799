"""The native format's JSON Schema: its examples validate and parse, and it matches the reader."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.domain.alerts import native, parse_alert
from shared.domain.alerts.fields import SECRET_FIELDS
from shared.domain.errors import InvalidSignal

SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parents[3] / "schemas" / "native-alert.schema.json").read_text("utf-8")
)
# What TradingView would put in place of the placeholders the examples use.
FILLED = {
    "{{strategy.order.action}}": "buy",
    "{{ticker}}": "NQ1!",
    "{{strategy.order.contracts}}": "1",
    "{{close}}": "18000.25",
    "{{strategy.market_position}}": "long",
    "{{strategy.position_size}}": "1",
    "{{timenow}}": "2025-03-14T14:30:05Z",
    "{{strategy.order.id}}": "Long",
}
_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "number": (int, float),
    "boolean": bool,
}


def _type_ok(value: Any, names: str | list[str]) -> bool:
    names = [names] if isinstance(names, str) else names
    for name in names:
        if name == "number" and isinstance(value, bool):
            continue
        if isinstance(value, _TYPES[name]):
            return True
    return False


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Validate the subset of JSON Schema the native schema uses (stdlib only)."""
    schema = _resolve(schema)
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not errors(value, s, path)]
        return [] if len(matches) == 1 else [f"{path}: matches {len(matches)} of oneOf"]
    if "type" in schema and not _type_ok(value, schema["type"]):
        return [f"{path}: not {schema['type']}"]
    found = _scalar_errors(value, schema, path)
    if isinstance(value, dict):
        found += _object_errors(value, schema, path)
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9):
            found.append(f"{path}: wrong length")
        for index, item in enumerate(value):
            found += errors(item, schema.get("items", {}), f"{path}[{index}]")
    return found


def _scalar_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    found: list[str] = []
    if "const" in schema and value != schema["const"]:
        found.append(f"{path}: not {schema['const']}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: not one of {schema['enum']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        found.append(f"{path}: does not match")
    if "exclusiveMinimum" in schema and not value > schema["exclusiveMinimum"]:
        found.append(f"{path}: too small")
    return found


def _object_errors(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    found = [f"{path}: missing {name}" for name in schema.get("required", []) if name not in value]
    if not schema.get("minProperties", 0) <= len(value) <= schema.get("maxProperties", 10**9):
        found.append(f"{path}: wrong number of fields")
    properties = schema.get("properties", {})
    for key, item in value.items():
        if key in properties:
            found += errors(item, properties[key], f"{path}.{key}")
        elif schema.get("additionalProperties", True) is False:
            found.append(f"{path}: unknown field {key}")
    return found


def fill(example: dict[str, Any]) -> str:
    text = json.dumps(example)
    for placeholder, value in FILLED.items():
        text = text.replace(placeholder, value)
    return text


@pytest.mark.parametrize("example", SCHEMA["examples"], ids=lambda e: str(e.get("alert_id", "")))
def test_native_schema_with_each_example_validates_and_parses(example: dict[str, Any]) -> None:
    assert errors(json.loads(fill(example)), SCHEMA) == []
    parsed = parse_alert(fill(example))
    assert parsed.format == "native"
    assert parsed.secret == "test-secret-1"


def test_native_schema_with_reader_fields_lists_the_same_names() -> None:
    assert set(SCHEMA["properties"]) == set(native.FIELDS) | {"secret"}
    assert "secret" in SECRET_FIELDS


@pytest.mark.parametrize(
    "document",
    [
        {"symbol": "NQ1!"},
        {"intent": "buy", "symbol": "NQ1!", "stop_los": {"ticks": 4}},
        {"intent": "buy", "symbol": "NQ1!", "take_profit": {"ticks": 4, "points": 1}},
        {"intent": "buy", "symbol": "NQ1!", "brackets": []},
        {"intent": "buy", "symbol": "NQ1!", "version": 2},
    ],
)
def test_native_schema_with_invalid_document_is_refused_by_schema_and_reader(
    document: dict[str, Any],
) -> None:
    assert errors(document, SCHEMA) != []
    with pytest.raises(InvalidSignal):
        parse_alert(json.dumps(document))


CORPUS = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "alerts" / "corpus.json").read_text("utf-8")
)["cases"]
NATIVE_CASES = [c for c in CORPUS if c.get("format") == "native"]


@pytest.mark.parametrize("case", NATIVE_CASES, ids=[c["name"] for c in NATIVE_CASES])
def test_native_schema_with_accepted_corpus_message_validates(case: dict[str, Any]) -> None:
    assert errors(json.loads(case["raw"]), SCHEMA) == []
