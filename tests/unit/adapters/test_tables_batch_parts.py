"""Each upsert part of the lean Table transaction is the part the SDK would send.

``upsert_part`` writes the request line and headers itself instead of asking the SDK's request
builder (``TableBatchOperations.upsert``) for an ``HttpRequest`` per row. These tests build the
same operation both ways, for generated entities and keys, and compare the bytes: keys with
quotes, slashes, percent signs and any text; every value type the SDK serialises.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from azure.data.tables import EdmType, EntityProperty, UpdateMode
from azure.data.tables._table_batch import TableBatchOperations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.tables_batch import UpsertMode, serialize_part, upsert_part

ENDPOINT = "http://127.0.0.1:10002/devstoreaccount1"
STAMP = "Fri, 04 Dec 2026 21:00:00 GMT"
VERSION = "2019-02-02"

keys = st.text(min_size=1, max_size=40)
names = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1, max_size=12
).filter(lambda name: name not in {"PartitionKey", "RowKey"})
values = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.integers(min_value=2**31, max_value=2**63 - 1).map(
        lambda n: EntityProperty(n, EdmType.INT64)
    ),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(  # hypothesis takes naive bounds and adds the zone itself
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001
        max_value=datetime(2099, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.binary(max_size=24),
    st.uuids(),
)
entities = st.builds(
    lambda partition, row, props: {"PartitionKey": partition, "RowKey": row, **props},
    keys,
    keys,
    st.dictionaries(names, values, max_size=8),
)


def _sdk_part(table_name: str, entity: dict[str, Any], mode: UpsertMode) -> bytes:
    operations = TableBatchOperations(
        config=SimpleNamespace(version=VERSION),
        endpoint=ENDPOINT,
        table_name=table_name,
        is_cosmos_endpoint=False,
    )
    operations.upsert(entity, mode=UpdateMode.MERGE if mode == "merge" else UpdateMode.REPLACE)
    (request,) = operations.requests
    body = request.content
    content = body.encode() if isinstance(body, str) else bytes(body or b"")
    headers = {**request.headers, "x-ms-date": STAMP, "Date": STAMP}
    return serialize_part(request.method, request.url, headers, content)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entity=entities, mode=st.sampled_from(["merge", "replace"]))
def test_a_part_is_the_sdks_own_for_any_entity(entity: dict[str, Any], mode: UpsertMode) -> None:
    ours = upsert_part(ENDPOINT, "tbLedger", VERSION, entity, mode, STAMP)
    assert ours == _sdk_part("tbLedger", entity, mode)


@pytest.mark.parametrize(
    ("partition", "row"),
    [
        ("p", "o'clock"),
        ("a b/c?d#e", "100%"),
        ("日本", "ü:é"),
        ("''", "exec:SIM10001"),
    ],
)
def test_keys_are_escaped_as_the_sdk_escapes_them(partition: str, row: str) -> None:
    entity = {"PartitionKey": partition, "RowKey": row, "v": 1}
    ours = upsert_part(ENDPOINT, "tbFills", VERSION, entity, "merge", STAMP)
    assert ours == _sdk_part("tbFills", entity, "merge")
    first_line = ours.split(b"\r\n", 1)[0].decode()
    assert " " not in first_line.removeprefix("PATCH ").removesuffix(" HTTP/1.1")


def test_the_sdks_value_types_keep_their_annotations() -> None:
    entity = {
        "PartitionKey": "p",
        "RowKey": "r",
        "big": EntityProperty(2**40, EdmType.INT64),
        "at": datetime(2026, 12, 4, 1, 2, 3, 456789, tzinfo=UTC),
        "id": UUID("12345678-1234-5678-1234-567812345678"),
        "raw": b"\x00\xff",
    }
    body = upsert_part(ENDPOINT, "t", VERSION, entity, "replace", STAMP).split(b"\r\n\r\n", 1)[1]
    assert b'"big@odata.type": "Edm.Int64"' in body
    assert b'"at@odata.type": "Edm.DateTime"' in body
    assert b'"id@odata.type": "Edm.Guid"' in body
    assert b'"raw@odata.type": "Edm.Binary"' in body


@pytest.mark.parametrize(
    ("entity", "error"),
    [
        ({"RowKey": "r"}, ValueError),
        ({"PartitionKey": "p"}, ValueError),
        ({"PartitionKey": 5, "RowKey": "r"}, TypeError),
        ({"PartitionKey": "p", "RowKey": None}, TypeError),
    ],
)
def test_an_entity_without_string_keys_is_refused_as_the_sdk_refuses_it(
    entity: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        upsert_part(ENDPOINT, "t", VERSION, entity, "merge", STAMP)
    with pytest.raises(error):
        _sdk_part("t", entity, "merge")
