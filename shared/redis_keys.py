"""Name every Redis key and pub/sub channel Tradebridge shares between processes.

The webhook, the executor, the timers and the WebSocket worker run in different processes
(and in Azure, different apps); this module is the one place their shared vocabulary is
written down. Keys that one script touches together carry a ``{hash tag}`` so they share a
slot on a clustered Azure Managed Redis.

Document shapes (JSON strings unless noted):

- ``contracts:{ROOT}``: the contract map of one product root, written whole (one SET, so
  a reader never sees half a refresh) by the contract-refresh timer or on demand by the
  executor: ``{"root", "updated_at", "spec": {...}, "continuous": {"1": name, ...},
  "contracts": {name: {"id", "name", "expiration", ...}}}``; in full (version ``"v": 1``,
  ``shared.services.contracts``): ``spec`` is the product (``product_id``, ``tick_size`` and
  ``value_per_point`` as strings, ``currency_id``, ``months``, ...), ``policy`` the roll policy,
  ``front`` the ``1!`` contract and ``next_roll_at`` when it stops being front; each contract
  has ``id``, ``maturity_id``, ``expiration_month``, ``expiration``, ``first_intent``,
  ``roll_at``. Only the ``contracts`` of unexpired maturities are kept.
- ``live:{ACCOUNT_ID}:positions`` / ``:orders`` / ``:cash``: the worker's live view of one
  account, each ``{"as_of": iso-8601, ...}``; trusted only while ``worker:heartbeat`` is
  fresh and ``worker:sync`` says ``synced``.
- ``kill:global``, ``kill:strategy:{ID}``, ``kill:account:{NAME}``: present = engaged;
  the value says who engaged it and why: written by the ops API as JSON ``{"mode": "pause" |
  "stop", "reason", "by": {"key", "key_id", "actor"}, "at", "scope"}``
  (``shared.services.ops.control``); any other text (``redis-cli SET``) reads as a pause.
- ``ops:changes``: list, newest first, of the last ``OPS_CHANGES_KEPT`` trading-control changes
  (JSON: action, scope, mode, reason, by, at), pushed in the same script as the change itself.
- ``quote:{CONTRACT_ID}``: the latest quote with a short TTL, refreshed by the worker while
  its market-data socket is up: ``{"contract_id", "bid", "ask", "last", "mark", "timestamp",
  "received_at", ...}`` (prices as strings).
- ``worker:heartbeat``: ``{"at", "state", "pid", "host"}`` with a TTL of a few seconds;
  ``worker:sync``: ``synced`` only while the live documents match the broker (else
  ``syncing``, ``stale`` or ``stopped``), with the same TTL.
- ``worker:fills`` / ``worker:executions``: sorted sets (member = broker id, score = epoch
  seconds) of the fills and execution reports already written to Table storage.
- ``{ledger}:sig:{SIGNAL_ID}`` / ``{ledger}:dirty``: the execution ledger's working copy
  (one hash per signal, written by the executor and the worker through
  ``shared.adapters.redis_ledger``) and the signals waiting to be copied to Table storage.
- ``mgmt:done:{ENTRY_CL_ORD_ID}``: the worker's once-only marker for a managed stop
  (``{"status": "moving"|"moved"|"failed"|"unknown", ...}``), so neither a restart nor a
  second worker moves a stop twice.
- ``{notify}:feed``: a stream (field ``event`` = the event's JSON) holding a copy of every
  event published on a ``NOTIFY_CHANNELS`` channel, appended in the publisher's own round trip
  and trimmed to about ``NOTIFY_FEED_MAXLEN``; the notifiers read it with the consumer group
  ``NOTIFY_GROUP`` (``shared.services.notify``). ``{notify}:status:{CHANNEL}`` is one delivery
  channel's record (JSON: ``sent``, ``failed``, ``last_success_at``, ``last_failure_at``,
  ``last_error``); ``{notify}:dedupe:...``, ``{notify}:window:{CHANNEL}`` and
  ``{notify}:folded:{CHANNEL}`` are the de-duplication and rate-limit state, and
  ``{notify}:watchdog`` the watchdog's last view of the worker (JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# --- contract map ------------------------------------------------------------------------------
CONTRACT_MAP_TTL_S = 2 * 24 * 3600


def contract_map(root: str) -> str:
    """Return the key holding one root's contract map."""
    return f"contracts:{root.upper()}"


def contract_refresh_lock(root: str) -> str:
    """Return the lock key serialising refreshes of one root's map."""
    return f"lock:contracts:{root.upper()}"


CONTRACT_MAP_PATTERN = "contracts:*"  # SCAN match for every root's map (the timer refreshes all)


# --- live state written by the worker ----------------------------------------------------------
WORKER_HEARTBEAT = "worker:heartbeat"
WORKER_SYNC_STATE = "worker:sync"


def live_positions(account_id: int) -> str:
    """Return the key of an account's live positions."""
    return f"live:{account_id}:positions"


def live_orders(account_id: int) -> str:
    """Return the key of an account's working orders."""
    return f"live:{account_id}:orders"


def live_cash(account_id: int) -> str:
    """Return the key of an account's cash balance and P&L."""
    return f"live:{account_id}:cash"


QUOTE_PREFIX = "quote:"  # every contract's quote key: this, then the contract id


def quote(contract_id: int) -> str:
    """Return the key of a contract's latest quote."""
    return f"{QUOTE_PREFIX}{contract_id}"


WORKER_FILLS_RECORDED = "worker:fills"
WORKER_EXECUTIONS_RECORDED = "worker:executions"


def management_done(entry_cl_ord_id: str) -> str:
    """Return the once-only marker of the stop managed for one entry client order id."""
    return f"mgmt:done:{entry_cl_ord_id}"


# --- kill switches ---------------------------------------------------------------------------
KILL_GLOBAL = "kill:global"


def kill_strategy(strategy_id: str) -> str:
    """Return the kill-switch key of one strategy."""
    return f"kill:strategy:{strategy_id}"


def kill_account(account_name: str) -> str:
    """Return the kill-switch key of one account."""
    return f"kill:account:{account_name}"


OPS_CHANGES = "ops:changes"
OPS_CHANGES_KEPT = 200


# --- pub/sub channels: the event name is the channel, as dashboards expect ----------------------
EVENT_CHANNELS = (
    "trade.signal",
    "order.request",
    "order.placed",
    "order.rejected",
    "order.filled",
    "risk.denied",
    "risk.alert",
    "position.opened",
    "position.update",
    "position.drift",
    "contract.rolled",
    "account.update",
    "price.update",
    "ws.state",
    "webhook.received",
    "system.health",
    "queue.dead_lettered",
)


def event_message(event: str, payload: Mapping[str, Any], **envelope: Any) -> str:
    """Render an event for its channel: compact JSON ``{"type": event, **envelope, **payload}``
    (values JSON cannot hold, such as times, as strings); an unknown channel is a bug."""
    if event not in EVENT_CHANNELS:
        raise ValueError(f"unknown event channel {event!r}")
    return json.dumps({"type": event, **envelope, **payload}, separators=(",", ":"), default=str)


# --- the execution ledger's working copy (shared.adapters.redis_ledger) -------------------------
# One hash slot, so every ledger script's keys live on one shard of a clustered Redis.
LEDGER_DIRTY = "{ledger}:dirty"


def ledger_signal(signal_id: str) -> str:
    """Return the hash of one signal's ledger rows: field = row key -> JSON row."""
    return f"{{ledger}}:sig:{signal_id}"


# --- links between broker orders and signals -----------------------------------------------
CL_ORD_INDEX_TTL_S = 30 * 24 * 3600


def cl_ord_index(cl_ord_id: str) -> str:
    """Return the key mapping a client order id to its signal (JSON: signal_id, strategy,
    account, account_id, leg), written by the executor when it claims the leg, read by the
    worker to link fills back to signals and the ledger."""
    return f"clord:{cl_ord_id}"


def intended_positions(strategy_id: str) -> str:
    """Return the hash of a strategy's intended positions: field ``{account}:{root}`` ->
    JSON ``{"net_pos", "signal_id", "at"}``, written by the executor after each
    target-position alert, read by the reconcile timer."""
    return f"intent:{strategy_id}"


# --- timers: one run at a time across instances ---------------------------------------------
RECONCILE_LOCK = "lock:reconcile"


def management_instructions(account_id: int) -> str:
    """Return the hash of stop-management instructions (breakeven, trailing) for the worker:
    field = entry client order id -> JSON {"instruction": codec-encoded planner instruction,
    "stop_cl_ord_id", "signal_id"}, written by the executor after it places the entry."""
    return f"mgmt:{account_id}"


EXPECTATION_TTL_S = 7 * 24 * 3600


def expectation(account_id: int, contract_id: int) -> str:
    """Return the key of what the executor expects the worker's cache to show for one account
    and contract before it plans from it (``shared.services.expectation``)."""
    return f"expect:{account_id}:{contract_id}"


def last_order(account_name: str, root: str) -> str:
    """Return the key stamping the last entry an account sent on a root (for cooldowns)."""
    return f"last-order:{account_name}:{root.upper()}"


# --- notifications (shared.services.notify, shared.adapters.notify_state) ---------------------
# Channels whose events may become a message to the trader; only these are copied to the feed.
NOTIFY_CHANNELS = frozenset(
    {
        "order.rejected",
        "risk.denied",
        "risk.alert",
        "position.drift",
        "contract.rolled",
        "system.health",
        "queue.dead_lettered",
    }
)
NOTIFY_FEED = "{notify}:feed"
NOTIFY_FEED_MAXLEN = 10_000  # approximate (XADD MAXLEN ~): a storm cannot grow it without bound
NOTIFY_GROUP = "notifiers"
NOTIFY_WATCHDOG = "{notify}:watchdog"
NOTIFY_WATCHDOG_LOCK = "lock:watchdog"


def notify_status(channel: str) -> str:
    """Return the key of one delivery channel's record (webhook, email)."""
    return f"{{notify}}:status:{channel}"


def notify_dedupe(channel: str, digest: str) -> str:
    """Return the key marking one notification (kind + subject digest) sent on a channel."""
    return f"{{notify}}:dedupe:{channel}:{digest}"


def notify_window(channel: str) -> str:
    """Return the hash counting a channel's messages in its current rate window."""
    return f"{{notify}}:window:{channel}"


def notify_folded(channel: str) -> str:
    """Return the hash of the notifications a channel's rate limit folded into a summary."""
    return f"{{notify}}:folded:{channel}"
