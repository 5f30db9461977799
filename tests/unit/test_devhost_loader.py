"""Indexing and routing rules of the dev host, checked without starting it."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.devhost.loader import IndexingError, index_function_app
from local.devhost.routes import compile_route
from local.devhost.timers import next_fire, retry_delays

SAMPLE_APP = Path(__file__).resolve().parent.parent / "fixtures" / "sample_app"


def test_index_with_two_function_apps_is_rejected() -> None:
    with pytest.raises(IndexingError, match="More than one"):
        index_function_app(SAMPLE_APP, "two_apps.py")


def test_index_without_function_app_is_rejected() -> None:
    with pytest.raises(IndexingError, match="Could not find"):
        index_function_app(SAMPLE_APP, "no_app.py")


def test_index_with_duplicate_function_names_is_rejected() -> None:
    with pytest.raises(IndexingError, match="same"):
        index_function_app(SAMPLE_APP, "duplicate_names.py")


def test_index_with_bad_script_name_is_rejected() -> None:
    with pytest.raises(IndexingError, match="invalid script"):
        index_function_app(SAMPLE_APP, "../evil.py")


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items/{id:int}/{name?}", "/api/items/5/x", {"id": "5", "name": "x"}),
        ("items/{id:int}/{name?}", "/api/items/5", {"id": "5"}),
        ("items/{id:int}/{name?}", "/api/items/x", None),
        ("webhook/{strategy}", "/api/webhook/nq-trend", {"strategy": "nq-trend"}),
        ("webhook/{strategy}", "/api/webhook/a/b", None),
        ("files/{*rest}", "/api/files/a/b/c", {"rest": "a/b/c"}),
        ("health", "/api/health", {}),
        ("health", "/api/healthz", None),
    ],
)
def test_compile_route_matches_like_the_functions_host(
    template: str, path: str, expected: dict[str, str] | None
) -> None:
    assert compile_route("api", template).match(path) == expected


def test_compile_route_with_unknown_constraint_is_rejected() -> None:
    with pytest.raises(ValueError, match="constraint"):
        compile_route("api", "x/{id:regexy}")


def test_next_fire_reads_seconds_first_ncrontab() -> None:
    from datetime import UTC, datetime

    start = datetime(2026, 11, 21, 10, 7, 3, tzinfo=UTC)
    assert next_fire("0 */15 * * * *", start) == datetime(2026, 11, 21, 10, 15, 0, tzinfo=UTC)
    assert next_fire("30 * * * * *", start) == datetime(2026, 11, 21, 10, 7, 30, tzinfo=UTC)


def test_retry_delays_follow_the_policy() -> None:
    assert retry_delays(None) == []
    fixed = {"strategy": "fixed_delay", "max_retry_count": "3", "delay_interval": "00:00:05"}
    assert retry_delays(fixed) == [5.0, 5.0, 5.0]
    expo = {
        "strategy": "exponential_backoff", "max_retry_count": "4",
        "minimum_interval": "00:00:02", "maximum_interval": "00:00:10",
    }  # fmt: skip
    assert retry_delays(expo) == [2.0, 4.0, 8.0, 10.0]
