"""The lean entity-group transaction against real Azurite: the SDK's bytes, the SDK's answers.

Each test captures the ``$batch`` requests leaving the SDK's transport, so what is compared
is what went on the wire.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from azure.core.pipeline.transport import AioHttpTransport
from azure.data.tables import EdmType, EntityProperty, TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from local.services import AzuriteTables, free_port
from shared.adapters import tables_batch
from shared.adapters.tables_batch import frame, part_statuses, serialize_part, upsert_transaction
from shared.adapters.tables_common import build_table_service, proxy_configured

pytestmark = pytest.mark.integration

WHEN = datetime(2026, 12, 4, 1, 2, 3, 456789, tzinfo=UTC)


@pytest.fixture
async def table(azurite: AzuriteTables) -> AsyncIterator[TableClient]:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    name = f"batch{free_port()}"
    await service.create_table(name)
    client = service.get_table_client(name)
    yield client
    await client.close()
    await service.close()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, str], bytes, int]]:
    """Record every ``$batch`` request's headers and body, and the answer's status."""
    sent: list[tuple[dict[str, str], bytes, int]] = []
    original = AioHttpTransport.send

    async def send(self: AioHttpTransport, request: Any, **kwargs: Any) -> Any:
        response = await original(self, request, **kwargs)
        if request.url.endswith("/$batch"):
            body = request.data if request.data is not None else request.body
            sent.append((dict(request.headers), bytes(body), response.status_code))
        return response

    monkeypatch.setattr(AioHttpTransport, "send", send)
    return sent


def _normalised(body: bytes) -> bytes:
    body = re.sub(rb"(batch|changeset)_[0-9a-f-]{36}", rb"\1_B", body)
    return re.sub(rb"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", b"DATE", body)


def _rows(tag: str) -> list[dict[str, Any]]:
    return [
        {
            "PartitionKey": "p", "RowKey": f"{tag}-1", "text": "it's é ü 日本", "small": 5,
            "big": EntityProperty(2**40, EdmType.INT64), "flag": True, "at": WHEN,
            "ratio": 1.5, "empty": None,
        },
        {"PartitionKey": "p", "RowKey": f"{tag}-o'clock", "text": "quote ' and \" and \\\\"},
    ]  # fmt: skip


async def test_body_is_the_sdks_own_but_for_boundaries_and_dates(
    table: TableClient, wire: list[tuple[dict[str, str], bytes, int]]
) -> None:
    merge = UpdateMode.MERGE
    await table.submit_transaction([("upsert", r, {"mode": merge}) for r in _rows("a")])
    await upsert_transaction(table, _rows("a"))
    await table.submit_transaction(
        [("upsert", r, {"mode": UpdateMode.REPLACE}) for r in _rows("b")]
    )
    await upsert_transaction(table, _rows("b"), mode="replace")

    assert [status for _, _, status in wire] == [202, 202, 202, 202]
    (sdk_head, sdk, _), (lean_head, lean, _) = wire[0], wire[1]
    assert _normalised(lean) == _normalised(sdk)
    assert b"PATCH " in lean  # merge
    assert _normalised(wire[3][1]) == _normalised(wire[2][1])
    assert b"PUT " in wire[3][1]  # replace
    for name in ("x-ms-version", "DataServiceVersion", "MaxDataServiceVersion", "Accept"):
        assert lean_head[name] == sdk_head[name]
    assert lean_head["Content-Type"].startswith("multipart/mixed; boundary=batch_")
    assert lean_head["Authorization"].startswith("SharedKey ")  # the client's own pipeline


async def test_rows_are_stored_with_their_types_and_merge_keeps_what_replace_drops(
    table: TableClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def not_the_sdk(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the lean transaction went through submit_transaction")

    first = _rows("c")
    await upsert_transaction(table, first)
    monkeypatch.setattr(table, "submit_transaction", not_the_sdk)
    await upsert_transaction(table, [first[0]])  # an upsert of an existing row succeeds

    stored = await table.get_entity("p", "c-1")
    assert (stored["text"], stored["small"], stored["flag"], stored["ratio"]) == (
        "it's é ü 日本", 5, True, 1.5,
    )  # fmt: skip
    assert stored["big"].value == 2**40
    assert stored["at"] == WHEN
    assert "empty" not in stored
    other = await table.get_entity("p", "c-o'clock")
    assert other["text"] == "quote ' and \" and \\\\"

    await upsert_transaction(table, [{"PartitionKey": "p", "RowKey": "c-1", "extra": "x"}])
    merged = await table.get_entity("p", "c-1")
    assert (merged["extra"], merged["small"]) == ("x", 5)
    await upsert_transaction(
        table, [{"PartitionKey": "p", "RowKey": "c-1", "extra": "y"}], mode="replace"
    )
    replaced = await table.get_entity("p", "c-1")
    assert replaced["extra"] == "y"
    assert "small" not in replaced


async def test_a_refused_transaction_applies_nothing_and_raises_the_sdks_error(
    table: TableClient, wire: list[tuple[dict[str, str], bytes, int]]
) -> None:
    rows = [
        {"PartitionKey": "p", "RowKey": "ok", "v": 1},
        {"PartitionKey": "p", "RowKey": "bad/key", "v": 2},  # "/" is not allowed in a key
    ]
    with pytest.raises(TableTransactionError) as refused:
        await upsert_transaction(table, rows)

    assert refused.value.error_code == "InvalidInput"
    assert [status for _, _, status in wire] == [202, 202]  # ours, then the SDK's answer
    entities = [e async for e in table.query_entities("PartitionKey eq 'p'")]
    assert entities == []


async def test_an_sdk_without_the_internals_sends_through_submit_transaction(
    table: TableClient,
    wire: list[tuple[dict[str, str], bytes, int]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(tables_batch, "_warned", False)
    monkeypatch.setattr(table._client, "send_request", None)  # as if this SDK had none
    submitted: list[int] = []

    async def submit(operations: list[Any], **kwargs: Any) -> list[Any]:
        submitted.append(len(operations))
        assert all(
            op == "upsert" and options["mode"] == UpdateMode.MERGE for op, _, options in operations
        )
        return []

    monkeypatch.setattr(table, "submit_transaction", submit)
    with caplog.at_level(logging.WARNING, logger=tables_batch.__name__):
        await upsert_transaction(table, _rows("d"))
        await upsert_transaction(table, _rows("e"))

    assert submitted == [2, 2]
    assert len([r for r in caplog.records if "submit_transaction" in r.message]) == 1
    assert wire == []


async def test_rows_of_two_partitions_are_refused_before_anything_is_sent(
    table: TableClient, wire: list[tuple[dict[str, str], bytes, int]]
) -> None:
    rows = [{"PartitionKey": "p", "RowKey": "a"}, {"PartitionKey": "q", "RowKey": "b"}]
    with pytest.raises(ValueError, match="Partition Keys"):
        await upsert_transaction(table, rows)
    assert wire == []


async def test_a_cosmos_endpoint_keeps_to_the_sdk_without_a_warning(
    table: TableClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tables_batch, "_warned", False)
    monkeypatch.setattr(table, "_cosmos_endpoint", True, raising=False)
    submitted: list[list[Any]] = []

    async def submit(operations: list[Any], **kwargs: Any) -> list[Any]:
        submitted.append(operations)
        return []

    monkeypatch.setattr(table, "submit_transaction", submit)
    with caplog.at_level(logging.WARNING, logger=tables_batch.__name__):
        await upsert_transaction(table, _rows("f"), mode="replace")

    assert [[(op, options["mode"]) for op, _, options in ops] for ops in submitted] == [
        [("upsert", UpdateMode.REPLACE)] * 2
    ]
    assert caplog.records == []


def test_part_statuses_reads_every_answer_of_a_changeset() -> None:
    body = (
        b"--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_1\r\n"
        b"\r\n--changesetresponse_1\r\nContent-Type: application/http\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 204 No Content\r\nETag: x\r\n\r\n"
        b"\r\n--changesetresponse_1\r\nContent-Type: application/http\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 409 Conflict\r\n\r\n{}\r\n"
        b"--changesetresponse_1--\r\n--batchresponse_1--\r\n"
    )
    assert part_statuses(body) == [204, 409]
    assert part_statuses(b"") == []


def test_frame_and_parts_follow_the_entity_group_transaction_format() -> None:
    part = serialize_part(
        "PATCH", "http://h/t(PartitionKey='p',RowKey='r')",
        {"Content-Type": "application/json", "Host": "h", "Accept": "application/json"},
        b'{"a": 1}',
    )  # fmt: skip
    assert part == (
        b"PATCH http://h/t(PartitionKey='p',RowKey='r') HTTP/1.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 8\r\nAccept: application/json\r\n"
        b'\r\n{"a": 1}'
    )
    framed = frame([part, part], "batch_1", "changeset_1")
    assert framed.startswith(
        b"--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n"
    )
    assert framed.count(b"--changeset_1\r\nContent-Type: application/http\r\n") == 2
    assert b"Content-ID: 0\r\n" in framed
    assert b"Content-ID: 1\r\n" in framed
    assert framed.endswith(b"--changeset_1--\r\n\r\n--batch_1--\r\n")


@pytest.mark.parametrize(
    ("environ", "configured"),
    [
        ({}, False),
        ({"NO_PROXY": "localhost", "PATH": "/usr/bin"}, False),
        ({"HTTPS_PROXY": "http://proxy:3128"}, True),
        ({"http_proxy": "http://proxy:3128"}, True),
        ({"ALL_PROXY": "socks5://proxy:1080"}, True),
        ({"HTTPS_PROXY": "  "}, False),
    ],
)
def test_proxy_configured_reads_the_proxy_variables(
    environ: dict[str, str], configured: bool
) -> None:
    assert proxy_configured(environ) is configured


@pytest.mark.parametrize("proxy", [False, True], ids=["no-proxy", "proxy-set"])
async def test_environment_lookups_per_request_only_where_a_proxy_is_configured(
    azurite: AzuriteTables, monkeypatch: pytest.MonkeyPatch, proxy: bool
) -> None:
    if proxy:  # a proxy for everything but this machine, so Azurite is still reached directly
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    lookups: list[str] = []
    original = aiohttp.ClientSession._get_netrc_auth

    def counted(self: aiohttp.ClientSession, host: str) -> Any:
        lookups.append(host)
        return original(self, host)

    monkeypatch.setattr(aiohttp.ClientSession, "_get_netrc_auth", counted)
    service = build_table_service(
        service_uri=None, connection_string=azurite.connection_string, client_id=None
    )
    name = f"env{free_port()}"
    await service.create_table(name)
    table = service.get_table_client(name)
    for n in range(3):
        await upsert_transaction(table, [{"PartitionKey": "p", "RowKey": f"r{n}", "n": n}])
    await table.close()
    await service.close()

    assert len(lookups) == (4 if proxy else 0)  # the table's creation and three transactions
