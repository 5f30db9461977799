"""Check the chaos run's invariants from the simulator's own state and the execution ledger.

Pure functions over plain data, so each can be tested on a hand-built timeline:

* :class:`SimView` is what the simulator holds at the end (orders with their ``clOrdId``,
  fills with their timestamps, positions, and how many ``New`` commands each ``clOrdId``
  had); :func:`timelines` rebuilds each (account, instrument) position fill by fill;
* ledger rows are ``shared.ports.LedgerEntry``: per signal, ``exec:{account}`` summaries and
  one row per leg keyed by its ``clOrdId``.

Each checker returns one line per violation (the count is its length). The instrument is
the product root: the chaos strategies trade one contract per root, and if a root ever traded
two contracts on one account (a roll) its position is their sum, which is what the oracle and
``max_position`` speak of.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.domain.planning.model import is_leg_of
from shared.ports import LedgerEntry

FINAL = frozenset({"done", "denied", "rejected"})
# Tradovate failureReasons that refuse the trade itself (reference §3.2); a transient fault
# (5xx, 429, p-ticket, a dropped socket, a restart) must never end a signal as rejected.
BUSINESS_REJECTIONS = frozenset(
    {
        "AccountClosed", "BackMonthProhibited", "InvalidContract", "InvalidPrice",
        "LiquidationOnly", "LiquidationOnlyBeforeExpiration", "MaxOrderQtyLimitReached",
        "MaxPosLimitReached", "MaxTotalPosLimitReached", "NoQuote", "NotEnoughLiquidity",
        "SessionClosed", "TradingLocked", "Unsupported",
    }
)  # fmt: skip
Lane = tuple[int, str]  # (account id, product root)
Pair = tuple[str, str]  # (signal id, account name)


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 time (``Z`` allowed) as aware UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SimOrder:
    """One order at the simulator."""

    id: int
    account_id: int
    contract_id: int
    cl_ord_id: str | None


@dataclass(frozen=True, slots=True)
class SimFill:
    """One fill at the simulator; ``qty`` is signed (a sell is negative)."""

    id: int
    order_id: int
    at: datetime
    qty: int


@dataclass(frozen=True)
class SimView:
    """What the simulator holds once the run has drained."""

    orders: Mapping[int, SimOrder]
    fills: Sequence[SimFill]
    positions: Mapping[tuple[int, int], int]  # (account id, contract id) -> netPos
    roots: Mapping[int, str]  # contract id -> product root
    new_commands: Mapping[str, int] = field(default_factory=dict)  # clOrdId -> New commands

    @classmethod
    def from_state(cls, state: Mapping[str, Any], roots: Mapping[int, str]) -> SimView:
        """Read ``GET /admin/state`` (orders carry their ``clOrdId`` there)."""
        orders = {
            int(o["id"]): SimOrder(
                int(o["id"]), int(o["accountId"]), int(o["contractId"]), o.get("clOrdId")
            )
            for o in state["orders"]
        }
        fills = sorted(
            (
                SimFill(
                    int(f["id"]),
                    int(f["orderId"]),
                    parse_time(str(f["timestamp"])),
                    int(f["qty"]) * (1 if f["action"] == "Buy" else -1),
                )
                for f in state["fills"]
            ),
            key=lambda f: f.id,
        )
        positions = {
            (int(p["accountId"]), int(p["contractId"])): int(p["netPos"])
            for p in state["positions"]
        }
        news = Counter(
            str(c["clOrdId"])
            for c in state["commands"]
            if c.get("commandType") == "New" and c.get("clOrdId")
        )
        return cls(orders, fills, positions, roots, dict(news))

    def lane_of(self, order_id: int) -> Lane:
        """Return the (account, root) an order trades."""
        order = self.orders[order_id]
        return order.account_id, self.roots.get(order.contract_id, str(order.contract_id))

    def final_positions(self) -> dict[Lane, int]:
        """Return each (account, root)'s net position, summed over its contracts."""
        totals: dict[Lane, int] = {}
        for (account_id, contract_id), net in self.positions.items():
            lane = (account_id, self.roots.get(contract_id, str(contract_id)))
            totals[lane] = totals.get(lane, 0) + net
        return totals


@dataclass(frozen=True, slots=True)
class Point:
    """The position of one (account, root) just before and just after one fill."""

    fill: SimFill
    before: int
    after: int


def timelines(view: SimView) -> dict[Lane, list[Point]]:
    """Rebuild each (account, root)'s position fill by fill, in the simulator's fill order."""
    lines: dict[Lane, list[Point]] = {}
    for fill in view.fills:
        line = lines.setdefault(view.lane_of(fill.order_id), [])
        before = line[-1].after if line else 0
        line.append(Point(fill, before, before + fill.qty))
    return lines


def summaries(rows: Iterable[LedgerEntry]) -> dict[Pair, LedgerEntry]:
    """Return the execution summary rows by (signal, account)."""
    return {
        (row.signal_id, row.row_key.removeprefix("exec:")): row
        for row in rows
        if row.row_key.startswith("exec:")
    }


def link_orders(
    view: SimView,
    rows: Iterable[LedgerEntry],
    pairs: Iterable[Pair],
    account_names: Mapping[int, str],
) -> dict[int, Pair]:
    """Return the (signal, account) each simulator order belongs to, by its ``clOrdId``.

    The ledger's leg rows are keyed by ``clOrdId``; an order the ledger lost track of is still
    found by recomputing its leg's id for every signal of that account (``is_leg_of``).
    """
    by_cl: dict[str, Pair] = {}
    for row in rows:
        if not row.row_key.startswith("exec:") and isinstance(row.fields.get("account"), str):
            by_cl[row.row_key] = (row.signal_id, str(row.fields["account"]))
    of_account: dict[str, list[str]] = {}
    for signal_id, account in pairs:
        of_account.setdefault(account, []).append(signal_id)
    linked: dict[int, Pair] = {}
    for order in view.orders.values():
        cl = order.cl_ord_id
        if cl is None:
            continue
        pair = by_cl.get(cl)
        if pair is None:
            account = account_names.get(order.account_id, "")
            found = (s for s in of_account.get(account, ()) if is_leg_of(cl, s, account))
            owner = next(found, None)
            pair = None if owner is None else (owner, account)
        if pair is not None:
            linked[order.id] = pair
    return linked


def lost(expected: Iterable[Pair], rows: Iterable[LedgerEntry]) -> list[str]:
    """Accepted signals that did not reach done, denied or rejected for every account."""
    found = summaries(rows)
    problems = []
    for pair in expected:
        row = found.get(pair)
        if row is None or row.status not in FINAL:
            status = "no summary" if row is None else row.status
            problems.append(f"{pair[0]} for {pair[1]}: {status}")
    return problems


def duplicated(
    view: SimView, rows: Iterable[LedgerEntry], accepted_ids: Mapping[str, Sequence[str]]
) -> list[str]:
    """clOrdIds placed twice at the simulator, legs the ledger saw two orders for, and
    alerts the webhook accepted under more than one signal id."""
    problems = [f"clOrdId {cl}: {n} New commands" for cl, n in view.new_commands.items() if n > 1]
    orders = Counter(o.cl_ord_id for o in view.orders.values() if o.cl_ord_id is not None)
    problems += [
        f"clOrdId {cl}: {n} orders"
        for cl, n in orders.items()
        if n > 1 and view.new_commands.get(cl, 0) <= 1
    ]
    problems += [
        f"leg {row.row_key} of {row.signal_id}: orders {row.fields.get('order_id')} and "
        f"{row.fields['order_id_conflict']}"
        for row in rows
        if "order_id_conflict" in row.fields
    ]
    problems += [
        f"alert {key} accepted as {', '.join(sorted(set(ids)))}"
        for key, ids in accepted_ids.items()
        if len(set(ids)) > 1
    ]
    return problems


def position_mismatches(view: SimView, expected: Mapping[Lane, int]) -> list[str]:
    """(account, root)s whose final simulator position differs from the oracle's."""
    held = view.final_positions()
    return [
        f"account {lane[0]} {lane[1]}: simulator {held.get(lane, 0)}, "
        f"oracle {expected.get(lane, 0)}"
        for lane in sorted(set(held) | set(expected))
        if held.get(lane, 0) != expected.get(lane, 0)
    ]


def exposure_increasing_exits(
    lines: Mapping[Lane, Sequence[Point]],
    linked: Mapping[int, Pair],
    reducing: Iterable[str],
) -> list[str]:
    """Fills of exit, close, flat or flat-target signals that grew |position| or passed flat."""
    exits = set(reducing)
    problems = []
    for lane, points in lines.items():
        for point in points:
            pair = linked.get(point.fill.order_id)
            if pair is None or pair[0] not in exits:
                continue
            grew = abs(point.after) > abs(point.before) or point.before * point.after < 0
            if grew:
                problems.append(
                    f"account {lane[0]} {lane[1]}: fill {point.fill.id} of exit {pair[0]} took "
                    f"{point.before} to {point.after}"
                )
    return problems


def max_position_breaches(
    lines: Mapping[Lane, Sequence[Point]], limits: Mapping[Lane, int | None]
) -> list[str]:
    """Fills after which |position| exceeded the strategy's max_position (which the policy
    applies unscaled: per account, in contracts, after the account's multiplier)."""
    problems = []
    for lane, points in lines.items():
        limit = limits.get(lane)
        if limit is None:
            continue
        problems += [
            f"account {lane[0]} {lane[1]}: fill {p.fill.id} at {p.fill.at:%H:%M:%S.%f} left "
            f"{p.after}, max_position {limit}"
            for p in points
            if abs(p.after) > limit
        ]
    return problems


def wrongful_rejections(rows: Iterable[LedgerEntry], view: SimView) -> list[str]:
    """Signals that ended rejected without the simulator refusing the trade for a business
    reason: no rejected leg, a leg refused for another reason, or a leg whose order exists."""
    rows = list(rows)
    at_sim = {o.cl_ord_id for o in view.orders.values() if o.cl_ord_id is not None}
    problems = []
    for (signal_id, account), summary in summaries(rows).items():
        if summary.status != "rejected":
            continue
        legs = [
            r
            for r in rows
            if r.signal_id == signal_id
            and r.status == "rejected"
            and r.fields.get("account") == account
            and not r.row_key.startswith("exec:")
        ]
        codes = [str(r.fields.get("broker_code")) for r in legs]
        placed = [r.row_key for r in legs if r.row_key in at_sim]
        if not legs or placed or any(code not in BUSINESS_REJECTIONS for code in codes):
            why = f"codes {codes}" if legs else "no rejected leg"
            problems.append(
                f"{signal_id} for {account}: {why}" + (f", placed {placed}" if placed else "")
            )
    return problems


@dataclass(frozen=True, slots=True)
class Staleness:
    """Plans whose recorded basis disagreed with the simulator at the time it was read."""

    stale: list[str]
    evaluated: int  # summaries that carry a basis
    without_basis: int


def _basis(row: LedgerEntry) -> dict[str, Any] | None:
    raw = row.fields.get("basis")
    if not isinstance(raw, str):
        return None
    try:
        basis = json.loads(raw)
    except ValueError:  # an older free-text basis such as "rest"
        return None
    if not isinstance(basis, dict) or "net_pos" not in basis or "at" not in basis:
        return None
    return basis


def position_at(points: Sequence[Point], moment: datetime) -> set[int]:
    """Return the positions the lane may have had at ``moment``.

    The simulator stamps fills to the millisecond: a fill in the same millisecond as
    ``moment`` may have come before or after it, so every position of that millisecond counts.
    """
    ms = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    before = 0
    same: set[int] = set()
    for point in points:
        if point.fill.at < ms:
            before = point.after
        elif point.fill.at == ms:
            same.add(point.after)
    return {before} | same


def stale_plans(
    rows: Iterable[LedgerEntry],
    lines: Mapping[Lane, Sequence[Point]],
    account_ids: Mapping[str, int],
) -> Staleness:
    """Compare each summary's ``basis`` (the facts its plan was made from) with the simulator."""
    stale: list[str] = []
    evaluated = without = 0
    for (signal_id, account), row in summaries(rows).items():
        basis = _basis(row)
        if basis is None:
            without += 1
            continue
        evaluated += 1
        lane = (account_ids.get(account, -1), str(row.fields.get("root")))
        moment = parse_time(str(basis["at"]))
        truth = position_at(lines.get(lane, ()), moment)
        if int(basis["net_pos"]) not in truth:
            stale.append(
                f"{signal_id} for {account} {lane[1]}: planned from {basis['net_pos']} "
                f"({basis.get('source')}) at {basis['at']}, simulator had {sorted(truth)}"
            )
    return Staleness(stale, evaluated, without)
