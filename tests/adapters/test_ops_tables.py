"""The ops API's journal reader against real Azurite: alerts by time, by id, and the probe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from local.services import AzuriteTables, free_port
from shared.adapters.ops_tables import TablesJournalReader
from shared.adapters.tables_common import build_table_service
from shared.adapters.tables_journal import TablesAlertJournal
from shared.domain.errors import DependencyUnavailable
from shared.ports import AlertRecord

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def _record(n: int, strategy: str = "nq", status: str = "accepted") -> AlertRecord:
    return AlertRecord(strategy, f"sig{n}", status, AT + timedelta(minutes=n), f"c{n}", "{}")


@pytest.fixture
async def tables(
    azurite: AzuriteTables,
) -> AsyncIterator[tuple[TablesAlertJournal, TablesJournalReader]]:
    name = f"alerts{free_port()}"

    def factory():  # type: ignore[no-untyped-def]
        return build_table_service(
            service_uri=None, connection_string=azurite.connection_string, client_id=None
        )

    writer, reader = TablesAlertJournal(factory, name), TablesJournalReader(factory, name)
    yield writer, reader
    await writer.close()
    await reader.close()


async def test_alerts_between_filter_by_time_and_strategy(
    tables: tuple[TablesAlertJournal, TablesJournalReader],
) -> None:
    writer, reader = tables
    for n, strategy in ((0, "nq"), (1, "es"), (2, "nq"), (3, "nq")):
        await writer.record_alert(_record(n, strategy))
    await writer.record_alert(_record(2, "nq", status="duplicate"))
    found = await reader.alerts_between(AT + timedelta(minutes=1), AT + timedelta(minutes=3),
                                        None, 100)  # fmt: skip
    assert sorted((r.signal_id, r.status) for r in found) == [
        ("sig1", "accepted"), ("sig2", "accepted"), ("sig2", "duplicate"),
    ]  # fmt: skip
    only_nq = await reader.alerts_between(AT, AT + timedelta(hours=1), "nq", 100)
    assert {r.signal_id for r in only_nq} == {"sig0", "sig2", "sig3"}
    assert len(await reader.alerts_between(AT, AT + timedelta(hours=1), None, 2)) == 2


async def test_get_and_find_alert_read_one_by_id(
    tables: tuple[TablesAlertJournal, TablesJournalReader],
) -> None:
    writer, reader = tables
    await writer.record_alert(_record(5, "es"))
    assert (await reader.get_alert("es", "sig5")) is not None
    assert await reader.get_alert("nq", "sig5") is None
    found = await reader.find_alert("sig5")
    assert found is not None
    assert found.strategy_id == "es"
    assert await reader.find_alert("nope") is None


async def test_probe_passes_on_a_live_table_and_fails_on_a_dead_endpoint(
    tables: tuple[TablesAlertJournal, TablesJournalReader],
) -> None:
    _, reader = tables
    await reader.probe()
    dead = TablesJournalReader(
        lambda: build_table_service(
            service_uri=None,
            connection_string=(
                "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
                "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
                f"KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
            ),
            client_id=None,
        ),
        "alerts",
    )
    with pytest.raises(DependencyUnavailable) as info:
        await dead.probe()
    assert info.value.code == "tables_unavailable"
    await dead.close()
