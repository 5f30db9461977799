"""Ops API input: who asks, strict bodies, scopes, reasons and query parameters."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from shared.domain.errors import InvalidRequest
from shared.services.ops.requests import (
    Scope,
    ScopeKind,
    actor_of,
    flag,
    moment,
    number,
    parse_body,
    reason_of,
    scope_of,
    text_field,
)


def test_actor_with_admin_key_records_level_and_fingerprint_never_the_key() -> None:
    actor = actor_of("admin", "s3cret-master", "alice\nforged line")
    assert actor.key == "master"
    assert actor.key_id == hashlib.sha256(b"s3cret-master").hexdigest()[:12]
    assert "s3cret" not in str(actor.to_dict())
    assert actor.label == "alice forged line"


def test_actor_without_key_or_label_has_neither() -> None:
    actor = actor_of("function", None, None)
    assert actor.to_dict() == {"key": "function", "key_id": None, "actor": None}


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"{", "invalid_json"), (b"[1]", "invalid_json"), (b'{"acount": "x"}', "unknown_field")],
)
def test_parse_body_with_bad_json_or_unknown_field_refuses(raw: bytes, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_body(raw, frozenset({"account"}))
    assert info.value.code == code


def test_parse_body_with_empty_body_is_an_empty_object() -> None:
    assert parse_body(b"  ", frozenset()) == {}


def test_text_field_with_wrong_type_refuses_and_blank_is_none() -> None:
    with pytest.raises(InvalidRequest):
        text_field({"account": 5}, "account")
    assert text_field({"account": "  "}, "account") is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"scope": "global"}, Scope(ScopeKind.GLOBAL)),
        ({"scope": "all"}, Scope(ScopeKind.GLOBAL)),
        ({"strategy": "trend"}, Scope(ScopeKind.STRATEGY, "trend")),
        ({"scope": "strategy", "strategy": "trend"}, Scope(ScopeKind.STRATEGY, "trend")),
        ({"account": "DEMO1"}, Scope(ScopeKind.ACCOUNT, "DEMO1")),
        ({"scope": "account", "account": "DEMO1"}, Scope(ScopeKind.ACCOUNT, "DEMO1")),
    ],
)
def test_scope_of_with_named_scope_reads_it(body: dict[str, str], expected: Scope) -> None:
    assert scope_of(body) == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_scope"),
        ({"strategy": "a", "account": "b"}, "ambiguous_scope"),
        ({"scope": "global", "account": "b"}, "ambiguous_scope"),
        ({"scope": "planet"}, "invalid_field"),
        ({"scope": "account", "strategy": "a"}, "missing_scope"),
    ],
)
def test_scope_of_never_implies_the_whole_bridge(body: dict[str, str], code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        scope_of(body)
    assert info.value.code == code


def test_scope_labels_and_rejects_inconsistent_construction() -> None:
    assert Scope(ScopeKind.ACCOUNT, "X").label == "account:X"
    assert Scope(ScopeKind.GLOBAL).to_dict() == {"kind": "global", "name": None}
    with pytest.raises(ValueError, match="needs a name"):
        Scope(ScopeKind.STRATEGY)


def test_reason_is_required_and_bounded() -> None:
    with pytest.raises(InvalidRequest) as info:
        reason_of({})
    assert info.value.code == "missing_reason"
    with pytest.raises(InvalidRequest):
        reason_of({"reason": "x" * 501})
    assert reason_of({}, required=False) is None
    assert reason_of({"reason": " margin call "}) == "margin call"


def test_flag_reads_presence_and_words() -> None:
    assert flag({"all": ""}, "all") is True
    assert flag({"all": "false"}, "all") is False
    assert flag({}, "all") is False
    with pytest.raises(InvalidRequest):
        flag({"all": "maybe"}, "all")


def test_number_with_value_outside_range_or_text_refuses() -> None:
    assert number({}, "max_age", 10, 0, 60) == 10
    assert number({"max_age": "0"}, "max_age", 10, 0, 60) == 0
    for bad in ("61", "abc", "nan"):
        with pytest.raises(InvalidRequest):
            number({"max_age": bad}, "max_age", 10, 0, 60)


def test_moment_reads_iso_with_zone_and_epoch_seconds() -> None:
    at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert moment({"t": "2026-11-20T15:00:00Z"}, "t") == at
    assert moment({"t": "2026-11-20T16:00:00 01:00"}, "t") == at  # "+" decoded as a space
    assert moment({"t": str(at.timestamp())}, "t") == at
    assert moment({}, "t") is None
    for bad in ("2026-11-20T15:00:00", "yesterday"):
        with pytest.raises(InvalidRequest):
            moment({"t": bad}, "t")
