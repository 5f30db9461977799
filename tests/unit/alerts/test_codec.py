"""Signals survive the trip to JSON text and back exactly; broken messages are InvalidSignal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.domain.alerts import parse_alert
from shared.domain.alerts.codec import signal_from_json, signal_to_json
from shared.domain.errors import InvalidSignal

CORPUS = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "alerts" / "corpus.json").read_text("utf-8")
)["cases"]
ACCEPTED = [case for case in CORPUS if "signal" in case]


@pytest.mark.parametrize("case", ACCEPTED, ids=[case["name"] for case in ACCEPTED])
def test_signal_json_with_corpus_signal_round_trips_exactly(case: dict[str, Any]) -> None:
    signal = parse_alert(case["raw"]).signal
    text = signal_to_json(signal)
    assert signal_from_json(text) == signal
    assert signal_from_json(text.encode()) == signal
    assert "test-secret" not in text


def good() -> dict[str, Any]:
    signal = parse_alert(next(c["raw"] for c in ACCEPTED if c["name"].startswith("native_three")))
    body: dict[str, Any] = json.loads(signal_to_json(signal.signal))
    return body


def mutate(path: list[str | int], value: Any) -> str:
    body = good()
    node: Any = body
    for part in path[:-1]:
        node = node[part]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(body)


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        ("not json", "malformed_signal_message", None),
        ("[1]", "malformed_signal_message", "v"),
        (mutate(["v"], 2), "malformed_signal_message", "v"),
        (mutate(["signal"], "x"), "malformed_signal_message", "signal"),
        (mutate(["signal", "intent"], KeyError), "malformed_signal_message", "signal"),
        (mutate(["signal", "intent"], None), "malformed_signal_message", "signal.intent"),
        (mutate(["signal", "intent"], "moon"), "malformed_signal_message", "signal.intent"),
        (mutate(["signal", "surprise"], 1), "malformed_signal_message", "signal"),
        (mutate(["signal", "brackets"], {}), "malformed_signal_message", "signal.brackets"),
        (mutate(["signal", "flatten_first"], "yes"), "malformed_signal_message",
         "signal.flatten_first"),
        (mutate(["signal", "extras"], []), "malformed_signal_message", "signal.extras"),
        (mutate(["signal", "quantity"], "lots"), "invalid_number", "signal.quantity"),
        (mutate(["signal", "quantity"], "2"), "bracket_quantity_mismatch", "brackets"),
        (mutate(["signal", "tv_time"], "noon"), "invalid_time", "signal.tv_time"),
    ],
)  # fmt: skip
def test_signal_from_json_with_broken_message_raises_invalid_signal(
    text: str, code: str, field: str | None
) -> None:
    with pytest.raises(InvalidSignal) as info:
        signal_from_json(text)
    assert (info.value.code, info.value.field) == (code, field)
