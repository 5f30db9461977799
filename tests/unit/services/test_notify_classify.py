"""Which events become notifications, how they read, and what never shows in them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import redis_keys as keys
from shared.services.notify.classify import classify
from shared.services.notify.model import Folded, Kind, Notification, Severity
from shared.services.notify.policy import NotifyPolicy, parse_kinds
from shared.services.notify.render import mask_account, render, render_summary
from shared.services.notify.status import channel_check, notifications_check

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def event(channel: str, **payload: Any) -> dict[str, Any]:
    """Return the event as a publisher renders it (what the feed holds)."""
    return dict(json.loads(keys.event_message(channel, payload, source="test")))


def one(channel: str, **payload: Any) -> Notification:
    found = classify(event(channel, **payload), NOW)
    assert found is not None
    return found


REJECTED = event(
    "order.rejected",
    signal_id="sig-1",
    account="DEMO10001",
    leg="entry",
    code="InsufficientMargin",
    message="account DEMO10001 has insufficient margin",
)


def test_order_rejected_with_a_signal_is_a_warning_about_that_leg() -> None:
    found = classify(REJECTED, NOW)
    assert found is not None
    assert (found.kind, found.severity, found.subject) == (
        Kind.ORDER_REJECTED,
        Severity.WARNING,
        "sig-1:entry",
    )


@pytest.mark.parametrize(
    ("channel", "payload", "kind"),
    [
        ("queue.dead_lettered", {"message_id": "m1", "reason": "MaxDeliveryCountExceeded"},
         Kind.DEAD_LETTER),
        ("risk.alert", {"kind": "kill_switch", "action": "paused", "scope": "global"},
         Kind.KILL_SWITCH),
        ("risk.alert", {"kind": "kill_switch_engaged", "scope": "global"}, Kind.KILL_SWITCH),
        ("risk.alert", {"kind": "daily_loss_limit", "strategy": "s", "account": "A"},
         Kind.DAILY_LOSS),
        ("risk.alert", {"kind": "unprotected_entry", "signal_id": "s", "leg": "entry"},
         Kind.UNPROTECTED_ENTRY),
        ("risk.denied", {"code": "daily_loss_limit", "strategy": "s", "account": "A"},
         Kind.DAILY_LOSS),
        ("system.health", {"check": "worker", "status": "down", "since": "t"}, Kind.WORKER_DOWN),
        ("system.health", {"check": "socket", "status": "recovered"}, Kind.SOCKET_DOWN),
        ("system.health", {"check": "token_renewal", "status": "failing", "code": "c"},
         Kind.TOKEN_RENEWAL),
        ("position.drift", {"event_id": "d1", "intended": 1, "actual": 0}, Kind.DRIFT),
        ("contract.rolled", {"event_id": "r", "position_in_old_contract": True,
                             "held": [{"account_id": 10001, "net_pos": 2}]},
         Kind.CONTRACT_ROLLED),
    ],
)  # fmt: skip
def test_notifiable_events_with_their_shape_get_their_kind(
    channel: str, payload: dict[str, Any], kind: Kind
) -> None:
    assert one(channel, **payload).kind is kind


@pytest.mark.parametrize(
    ("channel", "payload"),
    [
        ("risk.alert", {"kind": "flatten"}),
        ("risk.denied", {"code": "max_position"}),
        ("system.health", {"check": "worker", "status": "ok"}),
        ("system.health", {"check": "token_renewal", "status": "fresh"}),
        ("contract.rolled", {"event_id": "r", "position_in_old_contract": False}),
        ("order.placed", {"signal_id": "s"}),
        ("price.update", {}),
    ],
)
def test_other_events_with_no_trader_action_are_not_notified(
    channel: str, payload: dict[str, Any]
) -> None:
    assert classify(event(channel, **payload), NOW) is None


def test_daily_loss_denials_with_one_account_and_day_share_a_subject() -> None:
    def denied(at: str) -> Notification:
        return one("risk.denied", code="daily_loss_limit", strategy="s", account="A", at=at)

    first = denied("2026-11-20T15:00:00+00:00")
    again = denied("2026-11-20T16:00:00+00:00")
    next_day = denied("2026-11-21T15:00:00+00:00")
    assert first.subject == again.subject != next_day.subject


def test_health_transitions_with_another_outage_get_another_subject() -> None:
    down = one("system.health", check="worker", status="down", since="t1")
    back = one("system.health", check="worker", status="recovered", since="t1")
    again = one("system.health", check="worker", status="down", since="t2")
    assert len({down.subject, back.subject, again.subject}) == 3
    assert "lost" in down.title
    assert "back" in back.title


def test_render_with_account_names_masks_them_everywhere() -> None:
    found = classify(REJECTED, NOW)
    assert found is not None
    message = render(found)
    assert "DEMO10001" not in message.text
    assert "DEMO10001" not in json.dumps(message.fields)
    assert "***0001" in message.title
    assert "account ***0001 has insufficient margin" in message.text
    assert message.fields["event"]["account"] == "***0001"
    assert message.text.startswith("[WARNING] Order rejected for ***0001")


def test_render_with_account_ids_and_scopes_masks_them() -> None:
    rolled = one(
        "contract.rolled",
        event_id="NQ:NQZ6->NQH7",
        root="NQ",
        from_contract="NQZ6",
        to_contract="NQH7",
        position_in_old_contract=True,
        held=[{"account_id": 4455667, "contract_id": 1, "net_pos": 2}],
    )
    assert "4455667" not in render(rolled).text
    assert "***667: 2 in NQZ6" in render(rolled).text
    paused = one("risk.alert", kind="kill_switch", action="paused", scope="account:DEMO777888")
    assert "DEMO777888" not in render(paused).text
    assert render(paused).title == "Trading paused: account:***7888"


def test_render_with_secrets_masks_known_values_and_secret_like_fields() -> None:
    url = "https://discord.com/api/webhooks/123/abcdefghijklmnopqrstuvwxyz"
    found = one(
        "queue.dead_lettered",
        message_id="m1",
        reason="MaxDeliveryCountExceeded",
        description=f"posting to {url} failed; password=hunter2",
        token="tok-123456",
    )
    message = render(found, secrets=[url])
    blob = message.text + json.dumps(message.fields)
    for leaked in (url, "hunter2", "tok-123456"):
        assert leaked not in blob
    assert message.fields["event"]["token"] == "***"


def test_render_with_a_long_description_stays_under_the_chat_limit() -> None:
    found = one("queue.dead_lettered", message_id="m", description="x" * 5000)
    assert len(render(found).text) <= 1900


def test_summary_with_folded_counts_names_each_kind_and_the_span() -> None:
    folded = Folded(995, {"order_rejected": 990, "drift": 5}, "2026-11-20T14:30:00", "t-last")
    message = render_summary(folded)
    assert "995 more notification(s)" in message.title
    assert "by kind: drift 5, order_rejected 990" in message.text
    assert "first 2026-11-20T14:30:00, last t-last" in message.text
    assert message.fields["total"] == 995


@pytest.mark.parametrize(
    ("value", "shown"),
    [("DEMO10001", "***0001"), (10001, "***01"), ("AB", "***B"), ("A", "***")],
)
def test_mask_account_with_any_length_shows_at_most_half(value: object, shown: str) -> None:
    assert mask_account(value) == shown


def test_policy_with_kinds_and_minimums_filters_per_channel() -> None:
    policy = NotifyPolicy(
        kinds=parse_kinds("order_rejected, worker_down"),
        min_severity={"webhook": Severity.INFO, "email": Severity.CRITICAL},
    )
    rejected = classify(REJECTED, NOW)
    worker = one("system.health", check="worker", status="down", since="t")
    drift = one("position.drift", event_id="d")
    assert rejected is not None
    assert policy.wants("webhook", rejected)
    assert not policy.wants("email", rejected)
    assert policy.wants("webhook", worker)
    assert policy.wants("email", worker)
    assert not policy.wants("webhook", drift)  # kind not selected


def test_parse_kinds_with_all_or_a_typo() -> None:
    assert parse_kinds("all") == parse_kinds("") == frozenset(Kind)
    with pytest.raises(ValueError, match=r"unknown notification kind.*order_rejectd"):
        parse_kinds("order_rejectd")


def test_channel_check_with_a_later_failure_is_degraded() -> None:
    assert channel_check(None)["status"] == "ok"
    ok = {"last_success_at": "2026-01-02", "last_failure_at": "2026-01-01"}
    bad = {"last_success_at": "2026-01-01", "last_failure_at": "2026-01-02", "last_error": "x"}
    assert channel_check(json.dumps(ok))["status"] == "ok"
    assert channel_check(json.dumps(bad))["status"] == "degraded"
    assert channel_check("not json")["status"] == "ok"
    assert notifications_check((), [])["detail"] == "no channel configured"
