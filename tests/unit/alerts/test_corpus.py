"""Drive every reader with the corpus in tests/fixtures/alerts/corpus.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.domain.alerts import FORMAT_NAMES, parse_alert
from shared.domain.errors import InvalidSignal
from tests.unit.alerts.summary import summarise

CORPUS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "alerts" / "corpus.json").read_text("utf-8")
)["cases"]
ACCEPTED = [case for case in CORPUS if "signal" in case]
REFUSED = [case for case in CORPUS if "error" in case]


@pytest.mark.parametrize("case", ACCEPTED, ids=[case["name"] for case in ACCEPTED])
def test_parse_alert_with_corpus_message_yields_expected_signal(case: dict[str, Any]) -> None:
    parsed = parse_alert(case["raw"])
    assert parsed.format == case["format"]
    assert parsed.secret == case["secret"]
    assert summarise(parsed.signal) == case["signal"]


@pytest.mark.parametrize("case", REFUSED, ids=[case["name"] for case in REFUSED])
def test_parse_alert_with_malformed_corpus_message_raises_its_code(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidSignal) as info:
        parse_alert(case["raw"])
    assert info.value.code == case["error"]["code"]
    assert info.value.field == case["error"]["field"]
    assert info.value.message


def test_corpus_with_all_cases_covers_every_format_and_size() -> None:
    assert len(ACCEPTED) >= 40
    assert len(REFUSED) >= 20
    assert {case["format"] for case in ACCEPTED} == set(FORMAT_NAMES)
    assert len({case["name"] for case in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", [c for c in ACCEPTED if c["secret"]], ids=lambda c: c["name"])
def test_parse_alert_with_secret_keeps_it_out_of_the_signal(case: dict[str, Any]) -> None:
    parsed = parse_alert(case["raw"])
    assert case["secret"] not in json.dumps(summarise(parsed.signal))
    assert case["secret"] not in repr(parsed.signal)
