"""The dead-letter functions as the Functions host indexes them, and the watch's schedule."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.ops_dlq import WATCH_SCHEDULE_DEFAULT, WATCH_SCHEDULE_SETTING
from local.devhost.loader import index_function_app
from local.devhost.timers import next_fire
from local.services import REPO_ROOT
from shared.config import Settings


def test_dlq_routes_index_with_their_methods_and_key_levels() -> None:
    specs = {s.name: s for s in index_function_app(REPO_ROOT)}
    expected = {
        "dlq_list": ("dlq", ["GET"], "FUNCTION"),
        "dlq_show": ("dlq/{id}", ["GET"], "FUNCTION"),
        "dlq_replay": ("dlq/{id}/replay", ["POST"], "ADMIN"),
        "dlq_replay_all": ("dlq/replay", ["POST"], "ADMIN"),
        "dlq_purge": ("dlq/{id}", ["DELETE"], "ADMIN"),
    }
    for name, (route, methods, level) in expected.items():
        trigger = specs[name].trigger
        assert trigger["route"] == route, name
        assert [m.upper() for m in trigger["methods"]] == methods, name
        assert trigger["authLevel"].upper() == level, name
    watch = specs["dlq_watch"].trigger
    assert watch["type"] == "timerTrigger"
    assert watch["schedule"] == f"%{WATCH_SCHEDULE_SETTING}%"


def test_watch_schedule_default_is_the_settings_default_every_30_seconds() -> None:
    assert Settings.model_fields["dlq_watch_schedule"].default == WATCH_SCHEDULE_DEFAULT
    start = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    first = next_fire(WATCH_SCHEDULE_DEFAULT, start)
    assert (next_fire(WATCH_SCHEDULE_DEFAULT, first) - first).total_seconds() == 30


def test_function_app_may_receive_from_the_queue_and_so_its_dead_letters_in_both_iac_sets() -> None:
    from local import bicep_reader as bicep
    from tests.infra.tf_reader import load_dir

    receiver = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"  # Azure Service Bus Data Receiver
    tf = load_dir(REPO_ROOT / "infra" / "terraform").locals["role_assignments"].values()
    assert {"scope": "queue", "principal": "func", "role_id": receiver} in list(tf)
    rbac = bicep.parse_file(REPO_ROOT / "infra" / "bicep" / "modules" / "rbac.bicep")
    held = {(r["scope"], r["principal"], r["roleId"]) for r in rbac.variables["roleAssignments"]}
    assert ("queue", "func", receiver) in held
